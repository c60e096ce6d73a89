"""integration API: clients, idempotency keys, webhook subscriptions and deliveries

Revision ID: 0011_api
Revises: 0009_pool
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa
import storage.types


revision = '0011_api'
down_revision = '0014_render'  # re-chained at merge: 0009_pool → 0014_render → 0011_api
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('api_clients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('scopes', sa.String(length=200), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('token_hint', sa.String(length=12), nullable=False),
    sa.Column('rate_per_minute', sa.Integer(), nullable=True),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=80), nullable=False),
    sa.Column('rotated_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('revoked_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('last_used_at', storage.types.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_table('webhook_subscriptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('events', sa.String(length=200), nullable=False),
    sa.Column('secret', sa.String(length=100), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['api_clients.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('webhook_subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_subscriptions_client_id'), ['client_id'], unique=False)

    op.create_table('api_idempotency',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['client_id'], ['api_clients.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('client_id', 'key')
    )
    with op.batch_alter_table('api_idempotency', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_idempotency_created_at'), ['created_at'], unique=False)

    op.create_table('webhook_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscription_id', sa.Integer(), nullable=False),
    sa.Column('event_key', sa.String(length=120), nullable=False),
    sa.Column('event_id', sa.String(length=32), nullable=False),
    sa.Column('event_type', sa.String(length=40), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('delivered_at', storage.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subscription_id'], ['webhook_subscriptions.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('subscription_id', 'event_key')
    )
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_deliveries_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_webhook_deliveries_next_attempt_at'), ['next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_webhook_deliveries_subscription_id'), ['subscription_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_deliveries_subscription_id'))
        batch_op.drop_index(batch_op.f('ix_webhook_deliveries_next_attempt_at'))
        batch_op.drop_index(batch_op.f('ix_webhook_deliveries_case_id'))

    op.drop_table('webhook_deliveries')
    with op.batch_alter_table('api_idempotency', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_idempotency_created_at'))

    op.drop_table('api_idempotency')
    with op.batch_alter_table('webhook_subscriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_subscriptions_client_id'))

    op.drop_table('webhook_subscriptions')
    op.drop_table('api_clients')

