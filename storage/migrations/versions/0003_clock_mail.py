"""case clock limits, reminder e-mail deliveries

Revision ID: 0003_clock_mail
Revises: 0002_deadlines
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa
import storage.types


revision = '0003_clock_mail'
down_revision = '0002_deadlines'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('case_clocks',
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('report_type', sa.String(length=20), nullable=True),
    sa.Column('statutory_value', sa.Integer(), nullable=True),
    sa.Column('statutory_unit', sa.String(length=20), nullable=True),
    sa.Column('statutory_extendable_by', sa.Integer(), nullable=True),
    sa.Column('promised_value', sa.Integer(), nullable=True),
    sa.Column('promised_unit', sa.String(length=20), nullable=True),
    sa.Column('excluded_kinds', sa.JSON(), nullable=False),
    sa.Column('stopped_on', sa.Date(), nullable=True),
    sa.Column('updated_at', storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('case_id')
    )
    op.create_table('reminder_emails',
    sa.Column('reminder_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('recipients', sa.JSON(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('updated_at', storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['reminder_id'], ['reminders.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('reminder_id')
    )
    with op.batch_alter_table('reminder_emails', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reminder_emails_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('reminder_emails', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reminder_emails_status'))
    op.drop_table('reminder_emails')
    op.drop_table('case_clocks')
