"""initial schema

Revision ID: 7cd5f295f70a
Revises: (none)
Create Date: 2026-11-22 04:40:18.903585

"""
from collections.abc import Sequence

from alembic import op
import sqlalchemy as sa

from shared.migrations import plumbing_v1


revision: str = '7cd5f295f70a'
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    plumbing_v1.upgrade()
    op.create_table('calendar_year_copy',
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('holidays', sa.JSON(), nullable=False),
    sa.Column('workdays', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('year')
    )
    op.create_table('delivery',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('recipient', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=1000), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('body', sa.String(length=4000), nullable=False),
    sa.Column('link', sa.String(length=1000), nullable=True),
    sa.Column('mentions', sa.JSON(), nullable=False),
    sa.Column('cloudevent', sa.Text(), nullable=True),
    sa.Column('cause_event_id', sa.String(length=128), nullable=False),
    sa.Column('task_id', sa.String(length=32), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('deferred_reason', sa.String(length=200), nullable=False),
    sa.Column('last_error', sa.String(length=1000), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.create_index('ix_delivery_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_delivery_tenant', ['tenant', 'status', 'created_at'], unique=False)
    op.create_table('delivery_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('delivery_id', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('error', sa.String(length=1000), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('delivery_attempt', schema=None) as batch_op:
        batch_op.create_index('ix_attempt_delivery', ['delivery_id', 'id'], unique=False)
    op.create_table('digest_sent',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'person_id', 'day')
    )
    op.create_table('item_leader',
    sa.Column('item_id', sa.String(length=32), nullable=False),
    sa.Column('leader', sa.String(length=128), nullable=False),
    sa.Column('supervisor', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('item_id')
    )
    op.create_table('notice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('recipient', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('task_id', sa.String(length=32), nullable=True),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('body', sa.String(length=2000), nullable=False),
    sa.Column('cause_event_id', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.create_index('ix_notice_inbox', ['tenant', 'recipient', 'id'], unique=False)
    op.create_table('oa_webhook',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('url', sa.String(length=1000), nullable=False),
    sa.Column('secret', sa.String(length=256), nullable=False),
    sa.Column('types', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('tenant')
    )
    op.create_table('org_unit_copy',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('parent_id', sa.String(length=64), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('path', sa.Text().with_variant(sa.Text(collation='C'), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'id')
    )
    with op.batch_alter_table('org_unit_copy', schema=None) as batch_op:
        batch_op.create_index('ix_org_unit_copy_path', ['tenant', 'path'], unique=False)
    op.create_table('person_copy',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('unit_id', sa.String(length=64), nullable=True),
    sa.Column('roles', sa.JSON(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('mobile', sa.String(length=32), nullable=False),
    sa.Column('wecom_user', sa.String(length=64), nullable=False),
    sa.Column('dingtalk_user', sa.String(length=64), nullable=False),
    sa.Column('feishu_user', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'person_id')
    )
    with op.batch_alter_table('person_copy', schema=None) as batch_op:
        batch_op.create_index('ix_person_copy_unit', ['tenant', 'unit_id'], unique=False)
    op.create_table('preference',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.String(length=64), nullable=False),
    sa.Column('channels', sa.JSON(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'person_id')
    )
    op.create_table('task_copy',
    sa.Column('task_id', sa.String(length=32), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('item_id', sa.String(length=32), nullable=False),
    sa.Column('item_number', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('lead_unit', sa.String(length=64), nullable=False),
    sa.Column('due', sa.DateTime(timezone=True), nullable=True),
    sa.Column('open', sa.Boolean(), nullable=False),
    sa.Column('supervisor', sa.String(length=128), nullable=False),
    sa.Column('leader', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('task_id')
    )
    with op.batch_alter_table('task_copy', schema=None) as batch_op:
        batch_op.create_index('ix_task_copy_unit', ['tenant', 'lead_unit', 'open'], unique=False)
    op.create_table('template',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('body', sa.String(length=2000), nullable=False),
    sa.Column('updated_by', sa.String(length=128), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'kind', 'language')
    )
    op.create_table('unit_robot',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('unit_id', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('url', sa.String(length=1000), nullable=False),
    sa.Column('secret', sa.String(length=256), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'unit_id', 'channel')
    )


def downgrade() -> None:
    op.drop_table('unit_robot')
    op.drop_table('template')
    with op.batch_alter_table('task_copy', schema=None) as batch_op:
        batch_op.drop_index('ix_task_copy_unit')
    op.drop_table('task_copy')
    op.drop_table('preference')
    with op.batch_alter_table('person_copy', schema=None) as batch_op:
        batch_op.drop_index('ix_person_copy_unit')
    op.drop_table('person_copy')
    with op.batch_alter_table('org_unit_copy', schema=None) as batch_op:
        batch_op.drop_index('ix_org_unit_copy_path')
    op.drop_table('org_unit_copy')
    op.drop_table('oa_webhook')
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.drop_index('ix_notice_inbox')
    op.drop_table('notice')
    op.drop_table('item_leader')
    op.drop_table('digest_sent')
    with op.batch_alter_table('delivery_attempt', schema=None) as batch_op:
        batch_op.drop_index('ix_attempt_delivery')
    op.drop_table('delivery_attempt')
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_index('ix_delivery_tenant')
        batch_op.drop_index('ix_delivery_due')
    op.drop_table('delivery')
    op.drop_table('calendar_year_copy')
    plumbing_v1.downgrade()
