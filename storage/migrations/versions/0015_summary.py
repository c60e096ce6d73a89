"""supervisors' summary: each case's facts, daily counts per matter, the heatmap's tallies; back-filled

Revision ID: 0015_summary
Revises: 0010_supervisor
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

import storage.types

revision = '0015_summary'
down_revision = '0010_supervisor'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'stats_case_facts',
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('matter_code', sa.String(length=10), nullable=False),
        sa.Column('definition_id', sa.Integer(), nullable=False),
        sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
        sa.Column('accepted_on', sa.Date(), nullable=True),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('stopped_on', sa.Date(), nullable=True),
        sa.Column('due_on', sa.Date(), nullable=True),
        sa.Column('promised_due_on', sa.Date(), nullable=True),
        sa.Column('completed_at', storage.types.UTCDateTime(), nullable=True),
        sa.Column('trips', sa.Integer(), nullable=True),
        sa.Column('supplement_notices', sa.Integer(), nullable=True),
        sa.Column('extended', sa.Boolean(), nullable=False),
        sa.Column('working_days_used', sa.Integer(), nullable=True),
        sa.Column('heat', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('case_id'),
    )
    with op.batch_alter_table('stats_case_facts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stats_case_facts_accepted_on'), ['accepted_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_stats_case_facts_stopped_on'), ['stopped_on'], unique=False)
        batch_op.create_index('ix_stats_case_facts_overdue',
                              ['due_on', 'status', 'accepted_on', 'stopped_on', 'created_at'], unique=False,
                              postgresql_where=sa.text('stopped_on IS NULL OR stopped_on > due_on'),
                              sqlite_where=sa.text('stopped_on IS NULL OR stopped_on > due_on'))
    counted = ('registered', 'supplement', 'second_notice', 'accepted', 'extended', 'concluded', 'timed',
               'on_time', 'late', 'promised', 'early', 'days_missing', 'finished', 'run_once', 'zero_trip',
               'multi_trip', 'trips', 'open_delta', 'open_overdue_delta')
    op.create_table(
        'stats_days',
        sa.Column('matter_code', sa.String(length=10), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in counted),
        sa.PrimaryKeyConstraint('matter_code', 'day'),
        sqlite_with_rowid=False,
    )
    op.create_table(
        'stats_day_working_days',
        sa.Column('matter_code', sa.String(length=10), nullable=False),
        sa.Column('working_days', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('cases', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('matter_code', 'working_days', 'day'),
        sqlite_with_rowid=False,
    )
    op.create_table(
        'stats_heat',
        sa.Column('matter_code', sa.String(length=10), nullable=False),
        sa.Column('definition_id', sa.Integer(), nullable=False),
        sa.Column('element', sa.String(length=200), nullable=False),
        sa.Column('kind', sa.String(length=12), nullable=False),
        sa.Column('value', sa.Integer(), nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('matter_code', 'definition_id', 'element', 'kind', 'value'),
        sqlite_with_rowid=False,
    )
    op.create_table(
        'stats_heat_steps',
        sa.Column('matter_code', sa.String(length=10), nullable=False),
        sa.Column('definition_id', sa.Integer(), nullable=False),
        sa.Column('previous', sa.String(length=200), nullable=False),
        sa.Column('element', sa.String(length=200), nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('matter_code', 'definition_id', 'previous', 'element'),
        sqlite_with_rowid=False,
    )
    op.create_table(
        'stats_heat_dwell',
        sa.Column('matter_code', sa.String(length=10), nullable=False),
        sa.Column('definition_id', sa.Integer(), nullable=False),
        sa.Column('element', sa.String(length=200), nullable=False),
        sa.Column('created_day', sa.Integer(), nullable=False),
        sa.Column('completed_day', sa.Integer(), nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('matter_code', 'definition_id', 'element', 'created_day', 'completed_day'),
        sqlite_with_rowid=False,
    )
    # The back-fill: every case counted by the same function the commands keep the summary with (the one place a
    # migration calls into the service layer: two copies of the counting rules could drift apart).
    from services import summary

    summary.rebuild(op.get_bind())


def downgrade() -> None:
    op.drop_table('stats_heat_dwell')
    op.drop_table('stats_heat_steps')
    op.drop_table('stats_heat')
    op.drop_table('stats_day_working_days')
    op.drop_table('stats_days')
    with op.batch_alter_table('stats_case_facts', schema=None) as batch_op:
        batch_op.drop_index('ix_stats_case_facts_overdue')
        batch_op.drop_index(batch_op.f('ix_stats_case_facts_stopped_on'))
        batch_op.drop_index(batch_op.f('ix_stats_case_facts_accepted_on'))
    op.drop_table('stats_case_facts')
