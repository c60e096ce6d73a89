"""the case file: stored files and materials by catalog item

Revision ID: 0004_files
Revises: 0003_clock_mail
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa
import storage.types


revision = '0004_files'
down_revision = '0003_clock_mail'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('files',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('item_code', sa.String(length=80), nullable=True),
    sa.Column('purpose', sa.String(length=20), nullable=False),
    sa.Column('original_name', sa.String(length=255), nullable=False),
    sa.Column('media_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('owner_token', sa.String(length=64), nullable=True),
    sa.Column('created_by', sa.String(length=80), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_files_case_item', 'files', ['case_id', 'item_code'], unique=False)
    op.create_index(op.f('ix_files_sha256'), 'files', ['sha256'], unique=False)
    op.create_index(op.f('ix_files_owner_token'), 'files', ['owner_token'], unique=False)
    op.create_table('case_materials',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('item_code', sa.String(length=80), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=True),
    sa.Column('file_id', sa.String(length=32), nullable=True),
    sa.Column('stage', sa.String(length=20), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('paper_form', sa.String(length=20), nullable=True),
    sa.Column('copies', sa.Integer(), nullable=True),
    sa.Column('received_by', sa.String(length=80), nullable=False),
    sa.Column('received_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('task_id', sa.String(length=36), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['file_id'], ['files.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_case_materials_case_item', 'case_materials', ['case_id', 'item_code'], unique=False)
    with op.batch_alter_table('cases') as batch:
        batch.add_column(sa.Column('email_consent_at', storage.types.UTCDateTime(), nullable=True))
    op.create_table('applicant_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('email', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('sent_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    op.create_index(op.f('ix_applicant_messages_case_id'), 'applicant_messages', ['case_id'], unique=False)
    op.create_index(op.f('ix_applicant_messages_status'), 'applicant_messages', ['status'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_applicant_messages_status'), table_name='applicant_messages')
    op.drop_index(op.f('ix_applicant_messages_case_id'), table_name='applicant_messages')
    op.drop_table('applicant_messages')
    with op.batch_alter_table('cases') as batch:
        batch.drop_column('email_consent_at')
    op.drop_index('ix_case_materials_case_item', table_name='case_materials')
    op.drop_table('case_materials')
    op.drop_index(op.f('ix_files_owner_token'), table_name='files')
    op.drop_index(op.f('ix_files_sha256'), table_name='files')
    op.drop_index('ix_files_case_item', table_name='files')
    op.drop_table('files')
