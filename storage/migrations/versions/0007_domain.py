"""domain corrections: the Art.32 acceptance clock, second 补正 notices, task roles and routed lanes

Revision ID: 0007_domain
Revises: 0004_files
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa


revision = '0007_domain'
down_revision = '0006_documents'  # re-chained after 0004_files, then after 0006_documents
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('materials_received_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('acceptance_due_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('deemed_accepted_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('supplement_notices', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_cases_acceptance_due_on'), ['acceptance_due_on'], unique=False)
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('spec_lane', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('role', sa.String(length=20), nullable=True))
    # existing tasks: the diagram's lane is the lane they were routed to
    op.execute("UPDATE human_tasks SET spec_lane = lane")


def downgrade() -> None:
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.drop_column('role')
        batch_op.drop_column('spec_lane')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cases_acceptance_due_on'))
        batch_op.drop_column('supplement_notices')
        batch_op.drop_column('deemed_accepted_on')
        batch_op.drop_column('acceptance_due_on')
        batch_op.drop_column('materials_received_on')
