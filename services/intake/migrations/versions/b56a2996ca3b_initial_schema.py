"""initial schema

Revision ID: b56a2996ca3b
Revises: (none)
Create Date: 2026-11-22 04:40:17.629604

"""
from collections.abc import Sequence

from alembic import op
import sqlalchemy as sa

from shared.migrations import plumbing_v1


revision: str = 'b56a2996ca3b'
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    plumbing_v1.upgrade()
    op.create_table('idempotency_key',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('item_id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'key')
    )
    op.create_table('item',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('source_kind', sa.String(length=32), nullable=False),
    sa.Column('source_ref', sa.String(length=500), nullable=False),
    sa.Column('regime', sa.String(length=16), nullable=False),
    sa.Column('urgency', sa.String(length=16), nullable=False),
    sa.Column('supervising_leader', sa.String(length=128), nullable=False),
    sa.Column('supervisor', sa.String(length=128), nullable=False),
    sa.Column('requirements', sa.Text(), nullable=False),
    sa.Column('attachments', sa.JSON(), nullable=False),
    sa.Column('registered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant', 'number')
    )
    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_item_tenant'), ['tenant'], unique=False)
    op.create_table('item_counter',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'year')
    )
    op.create_table('org_unit',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('parent_id', sa.String(length=64), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('path', sa.Text().with_variant(sa.Text(collation='C'), 'postgresql'), nullable=False),
    sa.Column('oa_reported_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('tenant', 'id')
    )
    with op.batch_alter_table('org_unit', schema=None) as batch_op:
        batch_op.create_index('ix_org_unit_parent', ['tenant', 'parent_id'], unique=False)
        batch_op.create_index('ix_org_unit_path', ['tenant', 'path'], unique=False)
    op.create_table('person',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('unit_id', sa.String(length=64), nullable=True),
    sa.Column('roles', sa.JSON(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('mobile', sa.String(length=32), nullable=False),
    sa.Column('wecom_user', sa.String(length=64), nullable=False),
    sa.Column('dingtalk_user', sa.String(length=64), nullable=False),
    sa.Column('feishu_user', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('oa_reported_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('tenant', 'id')
    )
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.create_index('ix_person_unit', ['tenant', 'unit_id'], unique=False)
    op.create_table('task',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('item_id', sa.String(length=32), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('lead_unit', sa.String(length=64), nullable=False),
    sa.Column('co_units', sa.JSON(), nullable=False),
    sa.Column('due', sa.DateTime(timezone=True), nullable=True),
    sa.Column('due_working_days', sa.Integer(), nullable=True),
    sa.Column('responsible_person', sa.String(length=128), nullable=False),
    sa.Column('milestones', sa.JSON(), nullable=False),
    sa.Column('reporting_cycle', sa.String(length=16), nullable=False),
    sa.Column('report_due_day', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['item.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_item_id'), ['item_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_task_lead_unit'), ['lead_unit'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_lead_unit'))
        batch_op.drop_index(batch_op.f('ix_task_item_id'))
    op.drop_table('task')
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.drop_index('ix_person_unit')
    op.drop_table('person')
    with op.batch_alter_table('org_unit', schema=None) as batch_op:
        batch_op.drop_index('ix_org_unit_path')
        batch_op.drop_index('ix_org_unit_parent')
    op.drop_table('org_unit')
    op.drop_table('item_counter')
    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_item_tenant'))
    op.drop_table('item')
    op.drop_table('idempotency_key')
    plumbing_v1.downgrade()
