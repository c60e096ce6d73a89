"""documents rendered after the command: the pending page (HTML) kept until its PDF is stored

Revision ID: 0014_render
Revises: 0009_pool
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

import storage.types


revision = '0014_render'
down_revision = '0009_pool'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pending_html', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('rendered_at', storage.types.UTCDateTime(), nullable=True))
        batch_op.alter_column('file_id', existing_type=sa.String(length=32), nullable=True)
        batch_op.alter_column('sha256', existing_type=sa.String(length=64), nullable=True)
        batch_op.create_index('ix_documents_unrendered', ['case_id'], unique=False,
                              postgresql_where=sa.text('file_id IS NULL'),
                              sqlite_where=sa.text('file_id IS NULL'))
    # Documents issued before were rendered in their command.
    op.execute("UPDATE documents SET rendered_at = issued_at")


def downgrade() -> None:
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_index('ix_documents_unrendered')
        batch_op.alter_column('sha256', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('file_id', existing_type=sa.String(length=32), nullable=False)
        batch_op.drop_column('rendered_at')
        batch_op.drop_column('pending_html')
