"""supervisors: audit chain checkpoints; working days used per stopped clock; indexes for the dashboard, case search and the audit log's date range

Revision ID: 0010_supervisor
Revises: 0009_pool
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

import storage.types

revision = '0010_supervisor'
down_revision = '0012_public'  # re-chained at merge: 0011_api → 0012_public → 0010_supervisor
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'audit_checkpoints',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=12), nullable=False),
        sa.Column('state', sa.String(length=12), nullable=False),
        sa.Column('from_seq', sa.Integer(), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('hash', sa.String(length=64), nullable=False),
        sa.Column('events', sa.Integer(), nullable=False),
        sa.Column('total', sa.Integer(), nullable=True),
        sa.Column('bad_seq', sa.Integer(), nullable=True),
        sa.Column('problem', sa.String(length=40), nullable=True),
        sa.Column('started_by', sa.String(length=80), nullable=False),
        sa.Column('started_at', storage.types.UTCDateTime(), nullable=False),
        sa.Column('finished_at', storage.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('audit_checkpoints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_checkpoints_state'), ['state'], unique=False)
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_at'), ['at'], unique=False)
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cases_accepted_on'), ['accepted_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_completed_at'), ['completed_at'], unique=False)
    with op.batch_alter_table('case_clocks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('working_days_used', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_case_clocks_stopped_on'), ['stopped_on'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('case_clocks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_clocks_stopped_on'))
        batch_op.drop_column('working_days_used')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cases_completed_at'))
        batch_op.drop_index(batch_op.f('ix_cases_accepted_on'))
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_at'))
    with op.batch_alter_table('audit_checkpoints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_checkpoints_state'))
    op.drop_table('audit_checkpoints')
