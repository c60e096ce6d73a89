"""index-only unread reminder counts: the audience of a reminder copied onto its reads

Revision ID: 0009_pool
Revises: 0007_domain
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0009_pool'
down_revision = '0005_auth'  # re-chained: 0003 → 0007_domain → 0005_auth (merge order)
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('reminder_reads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('audience_user', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('audience_unit', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('audience_role', sa.String(length=20), nullable=True))
    # Reads made before: copy the audience of their reminder (a reminder's audience never changes).
    op.execute(
        "UPDATE reminder_reads SET "
        "audience_user = (SELECT reminders.user_id FROM reminders WHERE reminders.id = reminder_reads.reminder_id), "
        "audience_unit = (SELECT reminders.unit_code FROM reminders WHERE reminders.id = reminder_reads.reminder_id), "
        "audience_role = (SELECT reminders.role FROM reminders WHERE reminders.id = reminder_reads.reminder_id)"
    )
    with op.batch_alter_table('reminder_reads', schema=None) as batch_op:
        batch_op.create_index('ix_reminder_reads_audience', ['user_id', 'audience_user', 'audience_unit', 'audience_role'],
                              unique=False)
    with op.batch_alter_table('reminders', schema=None) as batch_op:
        batch_op.create_index('ix_reminders_audience', ['unit_code', 'user_id', 'role'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('reminders', schema=None) as batch_op:
        batch_op.drop_index('ix_reminders_audience')
    with op.batch_alter_table('reminder_reads', schema=None) as batch_op:
        batch_op.drop_index('ix_reminder_reads_audience')
        batch_op.drop_column('audience_role')
        batch_op.drop_column('audience_unit')
        batch_op.drop_column('audience_user')
