"""petition pages (#8): a partial index for the signatories who chose to be listed

The public list of names read every signature of the petition to find the few that opted in, so a petition page
got slower as signatures grew (bench/RESULTS.md, read scenario). The index holds only opted-in signatures.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 (hand-written, issue #8 item 1)
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.create_index('ix_signatures_public_name', ['petition_id', 'created_at'], unique=False,
                              postgresql_where=sa.text('public_name'), sqlite_where=sa.text('public_name'))


def downgrade() -> None:
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.drop_index('ix_signatures_public_name', postgresql_where=sa.text('public_name'),
                            sqlite_where=sa.text('public_name'))
