"""The deadline watch's queue is the database: ``store.next_moments`` names when each kind of
thing next fires, and the warning claims read only the tasks not yet warned (partial indexes), on SQLite and
PostgreSQL."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, insert

from services.tracking import store
from services.tracking.models import ReportWatch, TaskMilestone, TrackedTask, TrackingBase
from shared.db import create_tables

pytestmark = pytest.mark.asyncio(loop_scope="session")

NOW = datetime(2026, 6, 1, 9, tzinfo=UTC)


def at(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)


def task(ident: str, **fields) -> dict:
    row = TrackedTask(id=ident, tenant="t", item_id=ident, title=ident, lead_unit="U", due=at(1000),
                      assigned_at=at(-10)).model_dump()
    return {**row, **fields}


@pytest.fixture
async def tables(db, sessions):
    await create_tables(db, [TrackingBase.metadata])
    return sessions


async def add(sessions, rows: list[dict], table=TrackedTask.__table__) -> None:
    async with sessions() as session, session.begin():
        await session.exec(insert(table), params=rows)


async def next_moment(sessions) -> datetime | None:
    async with sessions() as session:
        return min((await store.next_moments(session, NOW)).values(), default=None)


async def test_nothing_pending_means_no_next_moment(tables):
    await add(tables, [task("closed", status="accepted", due=at(-5), overdue_at=None,
                            stagnant_flagged=True, approaching_for=at(-5), yellow_at=at(-6))])
    assert await next_moment(tables) is None


@pytest.mark.parametrize("kind, fields", [
    ("reminder", {"next_reminder_at": at(3)}),
    ("overdue", {"due": at(3)}),
    ("approaching", {"yellow_at": at(3)}),
    ("stagnant", {"stagnant_at": at(3)}),
])
async def test_each_kind_names_its_next_moment(tables, kind, fields):
    await add(tables, [task("a", **fields), task("later", next_reminder_at=at(50), yellow_at=at(60),
                                                 stagnant_at=at(70))])
    async with tables() as session:
        moments = await store.next_moments(session, NOW)
    later = {"reminder": at(50), "overdue": at(1000), "approaching": at(60), "stagnant": at(70)}
    assert moments == {**later, kind: at(3)}


async def test_claimed_and_past_moments_are_not_waited_for(tables):
    await add(tables, [
        task("warned", yellow_at=at(1), due=at(30), approaching_for=at(30)),  # warned for this due
        task("flagged", stagnant_at=at(2), stagnant_flagged=True),
        task("overdue", due=at(3), overdue_at=at(3)),
        task("past", next_reminder_at=at(-1)),  # due already: the scan's, not the wait's
        task("extended", yellow_at=at(6), due=at(40), approaching_for=at(30)),  # a new due: warn again
    ])
    assert await next_moment(tables) == at(6)


async def test_milestones_and_report_watches_count_too(tables):
    await add(tables, [task("m")])
    await add(tables, [
        {"task_id": "m", "position": 0, "title": "reached", "due": at(1), "reached_at": at(0)},
        {"task_id": "m", "position": 1, "title": "open", "due": at(7), "reached_at": None},
    ], TaskMilestone.__table__)
    assert await next_moment(tables) == at(7)
    await add(tables, [{"task_id": "m", "next_due": at(6)}], ReportWatch.__table__)
    assert await next_moment(tables) == at(6)


async def test_the_warning_claims_can_read_the_partial_indexes(tables, db):
    """With the predicate written differently from the index's, the planner could not use it and
    would read the whole table on every scan (a million rows a second). SQLite's plan is checked;
    PostgreSQL picks by its statistics (the bench measures it), so there the indexes' predicates."""
    await add(tables, [task(f"t{i}", yellow_at=at(i), stagnant_at=at(i)) for i in range(50)])
    if db.dialect.name == "postgresql":
        async with db.connect() as conn:
            defs = dict((await conn.exec_driver_sql(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'tracked_task'")).all())
        assert defs["ix_tracked_task_approaching"].endswith(
            "WHERE ((approaching_for IS NULL) OR (approaching_for <> due))")
        assert defs["ix_tracked_task_stagnant"].endswith("WHERE (NOT stagnant_flagged)")
        return
    async with tables() as session:
        plans = [await plan(session, query) for query in (
            lambda s: store.claim_approaching(s, NOW, 10), lambda s: store.claim_stagnant(s, NOW, 10),
            lambda s: store.next_moments(s, NOW))]
    assert "ix_tracked_task_approaching" in plans[0], plans[0]
    assert "ix_tracked_task_stagnant" in plans[1], plans[1]
    assert "ix_tracked_task_approaching" in plans[2] and "ix_tracked_task_stagnant" in plans[2], plans[2]


async def test_the_overdue_claim_reads_only_the_tasks_due(tables, db):
    """Not every open task's index entry on each scan (as ``id IN (…) AND overdue_at IS NULL`` in one
    statement did on SQLite): the claim finds the due ones by deadline, then updates them by id."""
    await add(tables, [task(f"t{i}", due=at(i - 25)) for i in range(50)])
    async with tables() as session:
        claimed = await store.claim_overdue(session, NOW, 100)
        assert sorted(t.id for t in claimed) == sorted(f"t{i}" for i in range(26))
        assert await store.claim_overdue(session, NOW, 100) == []  # once
        if db.dialect.name == "sqlite":
            lines = (await plan(session, lambda s: store.claim_overdue(s, NOW + timedelta(hours=30), 10)))
            assert "(overdue_at=?)" not in lines and "SCAN" not in lines, lines


async def plan(session, query) -> str:
    """SQLite's plans of the statements ``query`` runs (a SAVEPOINT keeps its writes out)."""
    statements: list[str] = []
    connection = await session.connection()

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        statements.append((statement, parameters))

    event.listen(connection.sync_connection, "before_cursor_execute", capture)
    try:
        async with session.begin_nested():
            await query(session)
    finally:
        event.remove(connection.sync_connection, "before_cursor_execute", capture)
    lines = []
    for statement, parameters in statements:
        if not statement.lstrip().upper().startswith(("SELECT", "UPDATE")):
            continue
        result = await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        lines += [str(row) for row in result]
    return "\n".join(lines)
