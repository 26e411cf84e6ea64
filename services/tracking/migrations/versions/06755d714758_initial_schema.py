"""initial schema, with the ledger's text search index (services/tracking/search.py)

Revision ID: 06755d714758
Revises: (none)
Create Date: 2026-11-22 04:40:17.919893

"""
from collections.abc import Sequence

from alembic import op
import sqlalchemy as sa

from shared.migrations import plumbing_v1


revision: str = '06755d714758'
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    plumbing_v1.upgrade()
    op.create_table('calendar_year',
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('holidays', sa.JSON(), nullable=False),
    sa.Column('workdays', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('year')
    )
    op.create_table('evidence',
    sa.Column('task_id', sa.String(length=32), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('media_type', sa.String(length=128), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('uploaded_by', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('task_id', 'sha256')
    )
    op.create_table('missed_report',
    sa.Column('task_id', sa.String(length=32), nullable=False),
    sa.Column('period_key', sa.String(length=16), nullable=False),
    sa.Column('report_due', sa.DateTime(timezone=True), nullable=False),
    sa.Column('flagged_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('task_id', 'period_key')
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
    op.create_table('progress_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.String(length=32), nullable=False),
    sa.Column('unit', sa.String(length=64), nullable=False),
    sa.Column('period_key', sa.String(length=16), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('progress_report', schema=None) as batch_op:
        batch_op.create_index('ix_progress_report_period', ['task_id', 'period_key'], unique=False)
    op.create_table('report_watch',
    sa.Column('task_id', sa.String(length=32), nullable=False),
    sa.Column('next_due', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('task_id')
    )
    with op.batch_alter_table('report_watch', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_watch_next_due'), ['next_due'], unique=False)
    op.create_table('task_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.String(length=32), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=False),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('comment', sa.String(length=2000), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('task_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_history_task_id'), ['task_id'], unique=False)
    op.create_table('task_milestone',
    sa.Column('task_id', sa.String(length=32), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('due', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reached_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('missed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('task_id', 'position')
    )
    with op.batch_alter_table('task_milestone', schema=None) as batch_op:
        batch_op.create_index('ix_task_milestone_pending', ['missed_at', 'reached_at', 'due'], unique=False)
    op.create_table('tracked_task',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('item_id', sa.String(length=32), nullable=False),
    sa.Column('parent_task_id', sa.String(length=32), nullable=True),
    sa.Column('item_number', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('lead_unit', sa.String(length=64), nullable=False),
    sa.Column('co_units', sa.JSON(), nullable=False),
    sa.Column('responsible_person', sa.String(length=128), nullable=False),
    sa.Column('source_kind', sa.String(length=32), nullable=False),
    sa.Column('regime', sa.String(length=16), nullable=False),
    sa.Column('urgency', sa.String(length=16), nullable=False),
    sa.Column('supervisor', sa.String(length=128), nullable=False),
    sa.Column('reporting_cycle', sa.String(length=16), nullable=False),
    sa.Column('report_due_day', sa.Integer(), nullable=False),
    sa.Column('due', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_working_days', sa.Integer(), nullable=True),
    sa.Column('calendar_fallback', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('suspended_from', sa.String(length=16), nullable=True),
    sa.Column('returns', sa.Integer(), nullable=False),
    sa.Column('reverifications', sa.Integer(), nullable=False),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_activity_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('overdue_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('extension_due', sa.DateTime(timezone=True), nullable=True),
    sa.Column('extension_reason', sa.String(length=2000), nullable=True),
    sa.Column('next_reminder_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('yellow_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('approaching_for', sa.DateTime(timezone=True), nullable=True),
    sa.Column('stagnant_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('stagnant_flagged', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('tracked_task', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tracked_task_item_id'), ['item_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tracked_task_lead_unit'), ['lead_unit'], unique=False)
        batch_op.create_index('ix_tracked_task_ledger', ['tenant', 'due', 'id'], unique=False)
        batch_op.create_index('ix_tracked_task_ledger_status', ['tenant', 'status', 'due', 'id'], unique=False)
        batch_op.create_index('ix_tracked_task_ledger_supervisor', ['tenant', 'supervisor', 'due', 'id'], unique=False)
        batch_op.create_index('ix_tracked_task_ledger_unit', ['tenant', 'lead_unit', 'due', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tracked_task_next_reminder_at'), ['next_reminder_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_tracked_task_parent_task_id'), ['parent_task_id'], unique=False)
        batch_op.create_index('ix_tracked_task_pending_deadline', ['overdue_at', 'due'], unique=False)
        batch_op.create_index('ix_tracked_task_reporting', ['reporting_cycle', 'status'], unique=False)
    _create_text_search()


def downgrade() -> None:
    _drop_text_search()
    with op.batch_alter_table('tracked_task', schema=None) as batch_op:
        batch_op.drop_index('ix_tracked_task_reporting')
        batch_op.drop_index('ix_tracked_task_pending_deadline')
        batch_op.drop_index(batch_op.f('ix_tracked_task_parent_task_id'))
        batch_op.drop_index(batch_op.f('ix_tracked_task_next_reminder_at'))
        batch_op.drop_index('ix_tracked_task_ledger_unit')
        batch_op.drop_index('ix_tracked_task_ledger_supervisor')
        batch_op.drop_index('ix_tracked_task_ledger_status')
        batch_op.drop_index('ix_tracked_task_ledger')
        batch_op.drop_index(batch_op.f('ix_tracked_task_lead_unit'))
        batch_op.drop_index(batch_op.f('ix_tracked_task_item_id'))
    op.drop_table('tracked_task')
    with op.batch_alter_table('task_milestone', schema=None) as batch_op:
        batch_op.drop_index('ix_task_milestone_pending')
    op.drop_table('task_milestone')
    with op.batch_alter_table('task_history', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_history_task_id'))
    op.drop_table('task_history')
    with op.batch_alter_table('report_watch', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_watch_next_due'))
    op.drop_table('report_watch')
    with op.batch_alter_table('progress_report', schema=None) as batch_op:
        batch_op.drop_index('ix_progress_report_period')
    op.drop_table('progress_report')
    with op.batch_alter_table('org_unit_copy', schema=None) as batch_op:
        batch_op.drop_index('ix_org_unit_copy_path')
    op.drop_table('org_unit_copy')
    op.drop_table('missed_report')
    op.drop_table('evidence')
    op.drop_table('calendar_year')
    plumbing_v1.downgrade()


# ---- the ledger's text search index (search.py reads it; no model describes it) ----------------
# A batch operation that recreates tracked_task on SQLite drops its triggers and renumbers its
# rowids: a revision doing so must drop this index first and make it again, filled, after.

_NEW = "new.rowid, new.title || char(31, 31), new.item_number || char(31, 31)"
_OLD = "old.rowid, old.title || char(31, 31), old.item_number || char(31, 31)"
_ADD = f"INSERT INTO tracked_task_text(rowid, title, item_number) VALUES ({_NEW});"
# A contentless table forgets a row given exactly the values it was indexed with.
_FORGET = ("INSERT INTO tracked_task_text(tracked_task_text, rowid, title, item_number)"
           f" VALUES ('delete', {_OLD});")
_SQLITE = [
    "CREATE VIRTUAL TABLE tracked_task_text USING fts5(title, item_number, content='', tokenize='trigram')",
    "CREATE VIRTUAL TABLE tracked_task_text_terms USING fts5vocab(tracked_task_text, 'instance')",
    f"CREATE TRIGGER tracked_task_text_insert AFTER INSERT ON tracked_task BEGIN {_ADD} END",
    f"CREATE TRIGGER tracked_task_text_delete AFTER DELETE ON tracked_task BEGIN {_FORGET} END",
    ("CREATE TRIGGER tracked_task_text_update AFTER UPDATE OF title, item_number ON tracked_task"
     f" BEGIN {_FORGET} {_ADD} END"),
]
# Every 1- and 2-character substring, for phrases too short for pg_trgm. Changing this function
# means rebuilding its index.
_POSTGRES = [
    """CREATE FUNCTION tracked_task_short_grams(title text, item_number text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(DISTINCT substr(s, i, n)), '{}')
  FROM unnest(ARRAY[lower(title), lower(item_number)]) AS s,
       generate_series(1, char_length(s)) AS i, generate_series(1, 2) AS n
  WHERE i + n - 1 <= char_length(s)
$$""",
    "CREATE INDEX ix_tracked_task_text_short ON tracked_task USING gin (tracked_task_short_grams(title, item_number))",
]


def _create_text_search() -> None:
    bind = op.get_bind()
    for statement in {"sqlite": _SQLITE, "postgresql": _POSTGRES}.get(bind.dialect.name, []):
        bind.exec_driver_sql(statement)


def _drop_text_search() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":  # the triggers go with tracked_task
        bind.exec_driver_sql("DROP TABLE tracked_task_text_terms")
        bind.exec_driver_sql("DROP TABLE tracked_task_text")
    elif bind.dialect.name == "postgresql":  # the pg_trgm index goes with tracked_task
        bind.exec_driver_sql("DROP INDEX ix_tracked_task_text_short")
        bind.exec_driver_sql("DROP FUNCTION tracked_task_short_grams(text, text)")
