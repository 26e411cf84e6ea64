"""initial schema

Revision ID: 562caeee17d8
Revises: (none)
Create Date: 2026-11-22 04:40:18.163556

"""
from collections.abc import Sequence

from alembic import op
import sqlalchemy as sa

from shared.migrations import plumbing_v1


revision: str = '562caeee17d8'
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    plumbing_v1.upgrade()
    op.create_table('action_sent',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('unit', sa.String(length=64), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'unit', 'year', 'kind')
    )
    op.create_table('appeal',
    sa.Column('id', sa.String(length=128), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('entry_key', sa.String(length=300), nullable=False),
    sa.Column('unit', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=2000), nullable=False),
    sa.Column('filed_by', sa.String(length=128), nullable=False),
    sa.Column('filed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('decided_by', sa.String(length=128), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('comment', sa.String(length=2000), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('appeal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_appeal_tenant'), ['tenant'], unique=False)
    op.create_table('bulletin',
    sa.Column('id', sa.String(length=128), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('issuer', sa.String(length=16), nullable=False),
    sa.Column('units', sa.JSON(), nullable=False),
    sa.Column('persons', sa.JSON(), nullable=False),
    sa.Column('reason', sa.String(length=2000), nullable=False),
    sa.Column('item_ids', sa.JSON(), nullable=False),
    sa.Column('issued_by', sa.String(length=128), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('bulletin', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bulletin_tenant'), ['tenant'], unique=False)
    op.create_table('ledger_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('unit', sa.String(length=64), nullable=False),
    sa.Column('centipoints', sa.Integer(), nullable=False),
    sa.Column('rule', sa.String(length=64), nullable=False),
    sa.Column('rule_set_version', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cause_event_id', sa.String(length=128), nullable=False),
    sa.Column('cause_event_type', sa.String(length=128), nullable=False),
    sa.Column('item_id', sa.String(length=32), nullable=True),
    sa.Column('task_id', sa.String(length=32), nullable=True),
    sa.Column('persons', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    with op.batch_alter_table('ledger_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_entry_task_id'), ['task_id'], unique=False)
        batch_op.create_index('ix_ledger_entry_unit', ['tenant', 'unit', 'at'], unique=False)
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
    op.create_table('period_close',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('closed_by', sa.String(length=128), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('report', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'period')
    )
    op.create_table('rule_set_switch',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('starts', sa.Date(), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('switched_by', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'starts')
    )
    op.create_table('rule_set_version',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('published_by', sa.String(length=128), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'version')
    )
    op.create_table('task_outcome',
    sa.Column('task_id', sa.String(length=32), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('item_id', sa.String(length=32), nullable=False),
    sa.Column('lead_unit', sa.String(length=64), nullable=False),
    sa.Column('urgency', sa.String(length=16), nullable=False),
    sa.Column('due', sa.DateTime(timezone=True), nullable=True),
    sa.Column('due_as_of', sa.DateTime(timezone=True), nullable=True),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('submissions', sa.Integer(), nullable=False),
    sa.Column('returns', sa.Integer(), nullable=False),
    sa.Column('reverifications', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('task_id')
    )
    with op.batch_alter_table('task_outcome', schema=None) as batch_op:
        batch_op.create_index('ix_task_outcome_unit_due', ['tenant', 'lead_unit', 'due'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('task_outcome', schema=None) as batch_op:
        batch_op.drop_index('ix_task_outcome_unit_due')
    op.drop_table('task_outcome')
    op.drop_table('rule_set_version')
    op.drop_table('rule_set_switch')
    op.drop_table('period_close')
    with op.batch_alter_table('org_unit_copy', schema=None) as batch_op:
        batch_op.drop_index('ix_org_unit_copy_path')
    op.drop_table('org_unit_copy')
    with op.batch_alter_table('ledger_entry', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_entry_unit')
        batch_op.drop_index(batch_op.f('ix_ledger_entry_task_id'))
    op.drop_table('ledger_entry')
    with op.batch_alter_table('bulletin', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bulletin_tenant'))
    op.drop_table('bulletin')
    with op.batch_alter_table('appeal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_appeal_tenant'))
    op.drop_table('appeal')
    op.drop_table('action_sent')
    plumbing_v1.downgrade()
