"""session generation per user; throttles shared by all processes (sign-in, applicant look-up)

Revision ID: 0005_auth
Revises: 0007_domain
Create Date: 2026-11-27
"""
from alembic import op
import sqlalchemy as sa
import storage.types


revision = '0005_auth'
down_revision = '0007_domain'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('throttles',
    sa.Column('scope', sa.String(length=20), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('detail', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('first_failure_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('last_failure_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('locked_until', storage.types.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('scope', 'subject', 'detail')
    )
    with op.batch_alter_table('throttles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_throttles_last_failure_at'), ['last_failure_at'], unique=False)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_generation', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_generation')
    with op.batch_alter_table('throttles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_throttles_last_failure_at'))
    op.drop_table('throttles')
