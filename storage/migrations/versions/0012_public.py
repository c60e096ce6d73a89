"""public services of the reform: 好差评 ratings (one per case) linked to their rectification case; credit
records; the 双随机一公开 registry, inspector roster, spot-check plans, draws and drawn items

Revision ID: 0012_public
Revises: 0009_pool
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa
import storage.types


revision = '0012_public'
down_revision = '0011_api'  # re-chained at merge: 0014_render → 0011_api → 0012_public
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ratings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('matter_code', sa.String(length=10), nullable=False),
    sa.Column('unit_code', sa.String(length=40), nullable=True),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('indicators', sa.JSON(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('rated_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('recorded_by', sa.String(length=80), nullable=False),
    sa.Column('rectification_case_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.ForeignKeyConstraint(['rectification_case_id'], ['cases.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id')
    )
    with op.batch_alter_table('ratings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ratings_matter_code'), ['matter_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_ratings_rated_at'), ['rated_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_ratings_unit_code'), ['unit_code'], unique=False)

    op.create_table('inspectors',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('badge', sa.String(length=40), nullable=False),
    sa.Column('unit_code', sa.String(length=40), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('unit_code', 'badge')
    )
    with op.batch_alter_table('inspectors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspectors_unit_code'), ['unit_code'], unique=False)

    op.create_table('spot_check_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('entity_type', sa.String(length=40), nullable=False),
    sa.Column('inspector_unit', sa.String(length=40), nullable=False),
    sa.Column('sample_count', sa.Integer(), nullable=True),
    sa.Column('sample_share', sa.Integer(), nullable=True),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('seed', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.String(length=80), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('spot_check_draws',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('candidates', sa.JSON(), nullable=False),
    sa.Column('inspectors', sa.JSON(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('superseded', sa.Boolean(), nullable=False),
    sa.Column('drawn_by', sa.String(length=80), nullable=False),
    sa.Column('drawn_at', storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['spot_check_plans.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('plan_id', 'round')
    )
    with op.batch_alter_table('spot_check_draws', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spot_check_draws_plan_id'), ['plan_id'], unique=False)

    op.create_table('credit_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('credit_code', sa.String(length=18), nullable=False),
    sa.Column('subject_name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('finding', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('source_key', sa.String(length=80), nullable=True),
    sa.Column('source_case_id', sa.Integer(), nullable=True),
    sa.Column('recorded_on', sa.Date(), nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=False),
    sa.Column('recorded_by', sa.String(length=80), nullable=False),
    sa.Column('recorded_at', storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['source_case_id'], ['cases.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source_key')
    )
    with op.batch_alter_table('credit_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credit_records_credit_code'), ['credit_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_credit_records_expires_on'), ['expires_on'], unique=False)

    op.create_table('regulated_entities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('credit_code', sa.String(length=18), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('entity_type', sa.String(length=40), nullable=False),
    sa.Column('address', sa.String(length=300), nullable=True),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('source_case_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['source_case_id'], ['cases.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('credit_code', 'entity_type')
    )
    with op.batch_alter_table('regulated_entities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_regulated_entities_credit_code'), ['credit_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_regulated_entities_entity_type'), ['entity_type'], unique=False)

    op.create_table('spot_check_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('draw_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=False),
    sa.Column('inspector1_id', sa.Integer(), nullable=False),
    sa.Column('inspector2_id', sa.Integer(), nullable=False),
    sa.Column('inspection_case_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['draw_id'], ['spot_check_draws.id'], ),
    sa.ForeignKeyConstraint(['entity_id'], ['regulated_entities.id'], ),
    sa.ForeignKeyConstraint(['inspection_case_id'], ['cases.id'], ),
    sa.ForeignKeyConstraint(['inspector1_id'], ['inspectors.id'], ),
    sa.ForeignKeyConstraint(['inspector2_id'], ['inspectors.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('draw_id', 'position')
    )
    with op.batch_alter_table('spot_check_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spot_check_items_draw_id'), ['draw_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('spot_check_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spot_check_items_draw_id'))

    op.drop_table('spot_check_items')
    with op.batch_alter_table('regulated_entities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_regulated_entities_entity_type'))
        batch_op.drop_index(batch_op.f('ix_regulated_entities_credit_code'))

    op.drop_table('regulated_entities')
    with op.batch_alter_table('credit_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credit_records_expires_on'))
        batch_op.drop_index(batch_op.f('ix_credit_records_credit_code'))

    op.drop_table('credit_records')
    with op.batch_alter_table('spot_check_draws', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spot_check_draws_plan_id'))

    op.drop_table('spot_check_draws')
    op.drop_table('spot_check_plans')
    with op.batch_alter_table('inspectors', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspectors_unit_code'))

    op.drop_table('inspectors')
    with op.batch_alter_table('ratings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ratings_unit_code'))
        batch_op.drop_index(batch_op.f('ix_ratings_rated_at'))
        batch_op.drop_index(batch_op.f('ix_ratings_matter_code'))
    op.drop_table('ratings')
