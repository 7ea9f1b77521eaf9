"""load, faults, abuse (#8): email verification, pending signatures, signer's client hash

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 (hand-written, issue #8 item 4)
"""
from alembic import op
import sqlalchemy as sa
import civic.db


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_verified_at', civic.db.UtcDateTime(timezone=True), nullable=True))
    # Accounts made before verification existed keep counting: they count as verified when they were created.
    op.execute(sa.text('UPDATE users SET email_verified_at = created_at'))

    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client_hash', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_signatures_petition_client', ['petition_id', 'client_hash'], unique=False)

    op.create_table('email_verifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('handle_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', civic.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', civic.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_email_verifications_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_verifications'))
    )
    with op.batch_alter_table('email_verifications', schema=None) as batch_op:
        batch_op.create_index('ix_email_verifications_handle', ['handle_hash'], unique=False)
        batch_op.create_index('uq_email_verifications_user', ['user_id'], unique=True)

    op.create_table('pending_signatures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('petition_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('full_name', sa.String(length=150), nullable=False),
    sa.Column('cnie_hmac', sa.String(length=64), nullable=False),
    sa.Column('cnie_encrypted', sa.LargeBinary(), nullable=False),
    sa.Column('commune_code', sa.String(length=20), nullable=False),
    sa.Column('province_code', sa.String(length=10), nullable=False),
    sa.Column('electoral_declaration', sa.Boolean(), nullable=False),
    sa.Column('consent_at', civic.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('created_at', civic.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('public_name', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('client_hash', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['commune_code'], ['territories.code'], name=op.f('fk_pending_signatures_commune_code_territories')),
    sa.ForeignKeyConstraint(['petition_id'], ['petitions.id'], name=op.f('fk_pending_signatures_petition_id_petitions')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_pending_signatures_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pending_signatures'))
    )
    with op.batch_alter_table('pending_signatures', schema=None) as batch_op:
        batch_op.create_index('ix_pending_signatures_user', ['user_id'], unique=False)
        batch_op.create_index('uq_pending_signatures_petition_user', ['petition_id', 'user_id'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('pending_signatures', schema=None) as batch_op:
        batch_op.drop_index('uq_pending_signatures_petition_user')
        batch_op.drop_index('ix_pending_signatures_user')

    op.drop_table('pending_signatures')
    with op.batch_alter_table('email_verifications', schema=None) as batch_op:
        batch_op.drop_index('uq_email_verifications_user')
        batch_op.drop_index('ix_email_verifications_handle')

    op.drop_table('email_verifications')
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.drop_index('ix_signatures_petition_client')
        batch_op.drop_column('client_hash')

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('email_verified_at')
