"""official documents: per-year, per-kind number sequences and the issued documents

Revision ID: 0006_documents
Revises: 0004_files
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa
import storage.types


revision = '0006_documents'
down_revision = '0004_files'  # needs the files table (documents.file_id)
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('document_sequences',
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('next_value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('kind', 'year')
    )
    op.create_table('documents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('number', sa.String(length=100), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('file_id', sa.String(length=32), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('task_id', sa.String(length=36), nullable=True),
    sa.Column('issued_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('issued_by', sa.String(length=80), nullable=False),
    sa.Column('addressed_to_applicant', sa.Boolean(), nullable=False),
    sa.Column('served_on', sa.Date(), nullable=True),
    sa.Column('first_downloaded_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('service_proof_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.ForeignKeyConstraint(['file_id'], ['files.id'], ),
    sa.ForeignKeyConstraint(['service_proof_id'], ['documents.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'year', 'seq')
    )
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_documents_case_id'), ['case_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_documents_case_id'))
    op.drop_table('documents')
    op.drop_table('document_sequences')
