"""load, faults, abuse (#8): rate-limit counters in the database, batch invalidation of signatures

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 (hand-written, issue #8 item 4)
"""
from alembic import op
import sqlalchemy as sa
import civic.db


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rate_limit_counters',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('window_start', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('hits', sa.Integer(), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('key', 'window_start', name=op.f('pk_rate_limit_counters'))
    )
    with op.batch_alter_table('rate_limit_counters', schema=None) as batch_op:
        batch_op.create_index('ix_rate_limit_counters_expires_at', ['expires_at'], unique=False)

    op.create_table('signature_invalidation_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('petition_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('criterion', sa.String(length=300), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('at', civic.db.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_signature_invalidation_batches_actor_id_users')),
    sa.ForeignKeyConstraint(['petition_id'], ['petitions.id'], name=op.f('fk_signature_invalidation_batches_petition_id_petitions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signature_invalidation_batches'))
    )
    with op.batch_alter_table('signature_invalidation_batches', schema=None) as batch_op:
        batch_op.create_index('ix_signature_invalidation_batches_petition', ['petition_id', 'at'], unique=False)

    op.create_table('invalidated_signatures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('signature_id', sa.Integer(), nullable=False),
    sa.Column('petition_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('full_name', sa.String(length=150), nullable=False),
    sa.Column('cnie_hmac', sa.String(length=64), nullable=False),
    sa.Column('cnie_encrypted', sa.LargeBinary(), nullable=False),
    sa.Column('commune_code', sa.String(length=20), nullable=False),
    sa.Column('province_code', sa.String(length=10), nullable=False),
    sa.Column('electoral_declaration', sa.Boolean(), nullable=False),
    sa.Column('consent_at', civic.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('created_at', civic.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('entered_by_id', sa.Integer(), nullable=True),
    sa.Column('paper_sheet_ref', sa.String(length=100), nullable=True),
    sa.Column('public_name', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('client_hash', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['signature_invalidation_batches.id'], name=op.f('fk_invalidated_signatures_batch_id_signature_invalidation_batches')),
    sa.ForeignKeyConstraint(['commune_code'], ['territories.code'], name=op.f('fk_invalidated_signatures_commune_code_territories')),
    sa.ForeignKeyConstraint(['entered_by_id'], ['users.id'], name=op.f('fk_invalidated_signatures_entered_by_id_users')),
    sa.ForeignKeyConstraint(['petition_id'], ['petitions.id'], name=op.f('fk_invalidated_signatures_petition_id_petitions')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_invalidated_signatures_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invalidated_signatures'))
    )
    with op.batch_alter_table('invalidated_signatures', schema=None) as batch_op:
        batch_op.create_index('ix_invalidated_signatures_batch', ['batch_id'], unique=False)
        batch_op.create_index('ix_invalidated_signatures_petition', ['petition_id', 'cnie_hmac'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('invalidated_signatures', schema=None) as batch_op:
        batch_op.drop_index('ix_invalidated_signatures_petition')
        batch_op.drop_index('ix_invalidated_signatures_batch')

    op.drop_table('invalidated_signatures')
    with op.batch_alter_table('signature_invalidation_batches', schema=None) as batch_op:
        batch_op.drop_index('ix_signature_invalidation_batches_petition')

    op.drop_table('signature_invalidation_batches')
    with op.batch_alter_table('rate_limit_counters', schema=None) as batch_op:
        batch_op.drop_index('ix_rate_limit_counters_expires_at')

    op.drop_table('rate_limit_counters')
