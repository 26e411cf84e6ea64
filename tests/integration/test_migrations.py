"""Each service's schema history, on SQLite and PostgreSQL: head makes exactly the models (so a
model changed without a revision fails here), down to base and up again, replicas migrating at
once, databases made by create_all or by another service, and a service migrating as it starts.
"""

import importlib
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Index, Integer, MetaData, String, inspect, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from duban.launcher import Stack
from shared import migrations
from shared.audit import AuditEntry
from shared.db import PlumbingBase, advisory_key, create_tables, make_engine
from shared.settings import SERVICES
from tests.support import drop_postgres_schema, free_port, new_postgres_schema, wait_until

pytestmark = pytest.mark.asyncio(loop_scope="session")

HISTORIES = {name: importlib.import_module(f"services.{name}.migrations").HISTORY for name in SERVICES}
AUDIT_ROW = dict(at=datetime(2026, 5, 1, tzinfo=UTC), tenant="t1", actor="someone", role="office",
                 action="GET /api/v1/tasks", target={}, outcome="ok", status=200, detail="", client="",
                 user_agent="")


async def on(url: str, work):
    """Run ``work(connection)`` on the database at ``url``; return what it returns."""
    engine = make_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(work)
    finally:
        await engine.dispose()


def differences(history: migrations.History, metadatas: list[MetaData] | None = None):
    def compare(conn):
        context = MigrationContext.configure(conn, opts=history.options())
        return compare_metadata(context, metadatas or history.metadatas)
    return compare


def tables(conn) -> set[str]:
    return set(inspect(conn).get_table_names())


def our_functions(conn) -> set[str]:
    return {row[0] for row in conn.exec_driver_sql(
        "SELECT proname FROM pg_proc WHERE pronamespace = current_schema()::regnamespace "
        "AND proname IN ('tracked_task_short_grams', 'audit_entry_append_only')")}


@pytest.mark.parametrize("service", SERVICES)
async def test_head_makes_exactly_the_models(database_url, service):
    history = HISTORIES[service]
    assert await migrations.upgrade(database_url, history) is None  # it was empty
    assert await on(database_url, differences(history)) == []
    modelled = {t.name for metadata in history.metadatas for t in metadata.sorted_tables}
    assert await on(database_url, tables) >= modelled | {history.version_table}
    state = await migrations.status(database_url, history)
    assert (state.current, state.describe()) == (state.head, "up to date")


@pytest.fixture
def second_url(database_url, tmp_path):
    """Another fresh database on the same backend."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'second.db'}"
        return
    schema, url = new_postgres_schema()
    yield url
    drop_postgres_schema(schema)


_POSTGRES_DDL = [
    "SELECT table_name, column_name, data_type, character_maximum_length, is_nullable, column_default,"
    " collation_name FROM information_schema.columns WHERE table_schema = current_schema()",
    "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema()",
    "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
    " WHERE connamespace = current_schema()::regnamespace",
    "SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) FROM pg_trigger"
    " WHERE NOT tgisinternal AND tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = current_schema()::regnamespace)",
    # An extension's own functions (pg_trgm's) land in whichever schema first created it: not ours.
    "SELECT proname, pg_get_functiondef(oid) FROM pg_proc WHERE pronamespace = current_schema()::regnamespace"
    " AND NOT EXISTS (SELECT 1 FROM pg_depend WHERE objid = pg_proc.oid AND deptype = 'e')",
]


def ddl(history: migrations.History):
    """Every table, column, index, constraint, trigger and function as the database describes it,
    but the version table and what no model describes."""
    def read(conn) -> set[str]:
        if conn.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL").all()
            found = {" ".join(sql.split()) for name, sql in rows if history.modelled(name)}
        else:
            schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
            found = {" | ".join(map(str, row)).replace(f"{schema}.", "")
                     for query in _POSTGRES_DDL for row in conn.exec_driver_sql(query)}
        return {item for item in found if history.version_table not in item
                and not any(prefix in item for prefix in history.unmodelled)}
    return read


@pytest.mark.parametrize("service", SERVICES)
async def test_the_revisions_make_what_create_all_makes(database_url, second_url, service):
    """Beyond what Alembic compares: defaults, sequences, collations, constraints, and DDL run
    when a table is created (the audit trail's triggers)."""
    history = HISTORIES[service]
    await migrations.upgrade(database_url, history)
    engine = make_engine(second_url)
    try:
        await create_tables(engine, history.metadatas)
    finally:
        await engine.dispose()
    migrated = await on(database_url, ddl(history))
    assert migrated == await on(second_url, ddl(history))
    assert any("audit_entry" in item and "TRIGGER" in item.upper() for item in migrated)


async def test_a_model_changed_without_a_revision_is_found(database_url):
    history = HISTORIES["tracking"]
    await migrations.upgrade(database_url, history)
    changed = MetaData()
    for table in history.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["tracked_task"].append_column(Column("priority", Integer))
    changed.tables["task_history"].c.actor.type = String(length=300)
    found = await on(database_url, differences(history, [PlumbingBase.metadata, changed]))
    flat = [d for diff in found for d in (diff if isinstance(diff, list) else [diff])]
    assert sorted((d[0], d[2], d[3] if isinstance(d[3], str) else d[3].name) for d in flat) == [
        ("add_column", "tracked_task", "priority"), ("modify_type", "task_history", "actor")]


async def test_a_new_revision_takes_head_to_the_changed_models(database_url, tmp_path):
    """What `duban migrate <service> --new-revision` does, on a copy of tracking's history."""
    tracking = HISTORIES["tracking"]
    shutil.copytree(tracking.versions, tmp_path / "versions")
    changed = MetaData()
    for table in tracking.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["tracked_task"].append_column(Column("priority", Integer))
    Index("ix_tracked_task_priority", changed.tables["tracked_task"].c.priority)
    history = replace(tracking, metadata=changed, versions=tmp_path / "versions")
    written = migrations.new_revision(history, "add priority")
    assert written.parent == tmp_path / "versions" and written.name.endswith("_add_priority.py")
    source = written.read_text()
    assert "add_column(sa.Column('priority', sa.Integer(), nullable=True))" in source
    assert "create_index('ix_tracked_task_priority', ['priority']" in source
    assert migrations.new_revision(history, "nothing more") is None
    await migrations.upgrade(database_url, history)
    assert await on(database_url, differences(history)) == []
    assert (await migrations.status(database_url, history)).current == written.name.split("_")[0]


@pytest.mark.parametrize("service", SERVICES)
async def test_down_to_base_and_up_again(database_url, service):
    history = HISTORIES[service]
    await migrations.upgrade(database_url, history)
    await migrations.downgrade(database_url, history, "base")
    assert await on(database_url, tables) <= {history.version_table}
    if database_url.startswith("postgresql"):
        assert await on(database_url, our_functions) == set()
    assert (await migrations.status(database_url, history)).current is None
    await migrations.upgrade(database_url, history)
    assert await on(database_url, differences(history)) == []


@pytest.mark.parametrize("service", SERVICES)
async def test_the_audit_trail_stays_append_only(database_url, service):
    await migrations.upgrade(database_url, HISTORIES[service])
    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(AuditEntry.__table__).values(**AUDIT_ROW))
        for change in ("UPDATE audit_entry SET actor = 'someone else'", "DELETE FROM audit_entry"):
            with pytest.raises(DBAPIError, match="append-only"):
                async with engine.begin() as conn:
                    await conn.execute(text(change))
    finally:
        await engine.dispose()


@pytest.mark.parametrize("service", SERVICES)
async def test_a_database_made_by_create_all_is_stamped_and_keeps_its_rows(database_url, service):
    history = HISTORIES[service]
    engine = make_engine(database_url)
    try:
        await create_tables(engine, history.metadatas)  # as every start did before migrations
        async with engine.begin() as conn:
            await conn.execute(insert(AuditEntry.__table__).values(**AUDIT_ROW))
    finally:
        await engine.dispose()
    assert (await migrations.status(database_url, history)).unversioned
    stamped_at = await migrations.upgrade(database_url, history)
    state = await migrations.status(database_url, history)
    assert stamped_at == state.current == state.head  # create_all made what head makes
    assert await on(database_url, differences(history)) == []
    rows = await on(database_url, lambda conn: conn.execute(select(AuditEntry.__table__.c.actor)).all())
    assert [row.actor for row in rows] == ["someone"]


async def test_a_database_made_before_a_later_revision_is_stamped_at_the_first_and_upgraded(database_url):
    """intake's databases made by create_all before item_trace existed."""
    history = HISTORIES["intake"]
    engine = make_engine(database_url)
    try:
        await create_tables(engine, history.metadatas)
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE item_trace"))
    finally:
        await engine.dispose()
    assert await migrations.upgrade(database_url, history) == migrations.scripts(history).get_base()
    state = await migrations.status(database_url, history)
    assert state.current == state.head
    assert "item_trace" in await on(database_url, tables)
    assert await on(database_url, differences(history)) == []


async def test_another_services_database_is_refused_untouched(database_url):
    await migrations.upgrade(database_url, HISTORIES["intake"])
    before = await on(database_url, tables)
    with pytest.raises(migrations.SchemaMismatch, match="another service's database") as refused:
        await migrations.upgrade(database_url, HISTORIES["tracking"])
    assert "tables it should not have: alembic_version_intake, idempotency_key, item" in str(refused.value)
    assert "missing tables: calendar_year" in str(refused.value)
    assert await on(database_url, tables) == before


async def test_a_database_migrated_by_a_newer_version_is_refused(database_url):
    history = HISTORIES["notify"]
    await migrations.upgrade(database_url, history)
    await on(database_url, lambda conn: (
        conn.exec_driver_sql(f"UPDATE {history.version_table} SET version_num = 'f00dcafe0001'"),
        conn.commit()))
    with pytest.raises(migrations.SchemaMismatch, match="f00dcafe0001, which this version of Duban does not know"):
        await migrations.upgrade(database_url, history)
    assert "does not know" in (await migrations.status(database_url, history)).describe()


def serving(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def migrate_command(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "duban.cli", "migrate", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def advisory_waiters(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                        ).fetchone()[0]


async def test_two_migrations_at_once_take_turns(database_url):
    """`duban migrate tracking` twice at once, as two replicas starting (or two init jobs): on
    PostgreSQL both wait for the migration lock (held here meanwhile), then one migrates and the
    other finds head; on SQLite the write lock does the same."""
    env = {**os.environ, "DUBAN_TRACKING_DATABASE_URL": database_url}
    holder = None
    if database_url.startswith("postgresql"):
        holder = psycopg.connect(database_url, autocommit=True)
        key = advisory_key(migrations.lock_name("tracking"))
        holder.execute("SELECT pg_advisory_lock(%s)", [key])
    try:
        runs = [migrate_command("tracking", env=env) for _ in range(2)]
        if holder:
            wait_until(lambda: advisory_waiters(holder) == 2, timeout=60, what="both waiting for the lock")
            assert "tracked_task" not in await on(database_url, tables)
            holder.execute("SELECT pg_advisory_unlock(%s)", [key])
        outputs = [run.communicate(timeout=120) for run in runs]
    finally:
        if holder:
            holder.close()
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert sorted("upgraded from empty" in out for out, _ in outputs) == [False, True], outputs
    assert sorted("up to date" in out for out, _ in outputs) == [False, True], outputs
    assert await on(database_url, differences(HISTORIES["tracking"])) == []


async def test_migrate_status_shows_each_database_against_head(database_url):
    env = {**os.environ, "DUBAN_SCORING_DATABASE_URL": database_url}
    head = migrations.scripts(HISTORIES["scoring"]).get_current_head()
    out, _ = migrate_command("scoring", "--status", env=env).communicate(timeout=60)
    assert "scoring" in out and f"(head {head})" in out and ("empty" in out or "no database" in out)
    run = migrate_command("scoring", env=env)
    assert run.wait(60) == 0
    status = migrate_command("scoring", "--status", env=env)
    out, _ = status.communicate(timeout=60)
    assert status.returncode == 0 and f"scoring   {head} (head {head})  up to date" in out


async def test_services_migrate_as_they_start_two_replicas_at_once(database_url, nats_server, tmp_path):
    """tracking on a database made by create_all, started twice at once: both replicas start,
    the database is stamped and at head, its rows kept."""
    history = HISTORIES["tracking"]
    engine = make_engine(database_url)
    try:
        await create_tables(engine, history.metadatas)
        async with engine.begin() as conn:
            await conn.execute(insert(AuditEntry.__table__).values(**AUDIT_ROW))
    finally:
        await engine.dispose()
    env = {**os.environ, "DUBAN_ENV": "test", "DUBAN_TRACKING_DATABASE_URL": database_url}
    stack = Stack(data_dir=tmp_path, nats_url=nats_server.url, env=env)
    try:
        for key in ("tracking", "tracking-2"):
            stack.start_service("tracking", key=key, port=free_port())
        # Serving HTTP means the start-up, migration included, is done (it is not ready without
        # the other services' streams).
        wait_until(lambda: all(serving(url) for url in stack.urls.values()), timeout=90,
                   what="both replicas serving")
        stack.check_alive()
    finally:
        stack.stop(grace=5)
    state = await migrations.status(database_url, history)
    assert state.current == state.head
    assert await on(database_url, differences(history)) == []
    rows = await on(database_url, lambda conn: conn.execute(select(AuditEntry.__table__.c.actor)).all())
    assert [row.actor for row in rows] == ["someone"]
