"""The ledger's text search answers exactly as a substring test, on SQLite and PostgreSQL.

Every query is checked against a brute-force filter over the same rows: through the index
(FTS5 on SQLite, pg_trgm and the short-gram index on PostgreSQL) and through the plain scan.
"""

import logging
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, text

from services.tracking import search, store
from services.tracking.migrations import HISTORY
from services.tracking.models import LedgerFilter, TrackedTask
from shared.db import make_engine
from shared.migrations import upgrade

pytestmark = pytest.mark.asyncio(loop_scope="session")

TENANT = "t1"
NOW = datetime(2026, 5, 1, tzinfo=UTC)
WORDS = ["安全生产", "检查", "整改落实", "水利", "工程", "防汛抗旱", "汛期", "生态修复", "乡村振兴",
         "招商引资", "民生", "GDP", "DeepSeek", "nats", "100%", "a_b", 'say "hi"', " ", "、"]
STATUSES = ["assigned", "signed", "in_progress", "submitted", "accepted"]
QUERIES = [
    # one and two characters, common and rare
    "水", "利", "查", "汛", "鑫", "%", "_", "a", "D", " ", "、", "水利", "安全", "汛期", "检查", "不在",
    "db", "Gd", "%完", "0%", "k水",
    # three and more
    "安全生产", "生产检查整改", "水利工程", "防汛抗旱", "汛期水利", "deepseek", "GDP水", "not there",
    "不存在的短语", '"hi"', "100%", "a_b", "DB-2026-00", "db-2026-0012", "2026-001", "-20",
]


def titles(rng: random.Random, n: int) -> list[str]:
    fixed = ["水", "利", "水利", "安全生产检查整改落实", "100%完成", "汛"]
    return fixed + ["".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4))) for _ in range(n - len(fixed))]


def task(i: int, title: str, rng: random.Random) -> TrackedTask:
    due = NOW + timedelta(days=rng.randrange(30))  # ties on due, ordered by id
    return TrackedTask(
        id=f"t{i:04d}", tenant=TENANT, item_id=f"i{i // 3:04d}", title=title,
        item_number=rng.choice([f"DB-2026-{i // 3:04d}", f"db-2026-{i:04d}", ""]),
        lead_unit="U-1", status=rng.choice(STATUSES), due=due, assigned_at=NOW - timedelta(days=1),
    )


@pytest.fixture
async def db(database_url):
    """tracking's database, as its migrations make it (the index is in its first revision)."""
    await upgrade(database_url, HISTORY)
    engine = make_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def tasks(db, sessions) -> list[TrackedTask]:
    rng = random.Random(11)
    rows = [task(i, title, rng) for i, title in enumerate(titles(rng, 300))]
    await add(sessions, rows)
    return rows


async def add(sessions, rows: list[TrackedTask]) -> None:
    async with sessions() as session, session.begin():
        await session.exec(insert(TrackedTask.__table__), params=[row.model_dump() for row in rows])


@pytest.fixture(params=["index", "scan"])
def path(request, db, monkeypatch):
    """"index": PostgreSQL may not scan the table; "scan": SQLite takes 4 matches for too many."""
    if request.param == "scan":
        monkeypatch.setattr(search, "SQLITE_MOST_MATCHES", 3)
    return request.param


def expected(rows: list[TrackedTask], q: str, status: list[str] | None = None) -> list[str]:
    def contains(value: str) -> bool:
        return q.lower() in value.lower()  # ASCII letters only in these rows: LIKE's folding
    found = [r for r in rows if (contains(r.title) or contains(r.item_number))
             and (not status or r.status in status)]
    return [r.id for r in sorted(found, key=lambda r: (r.due, r.id))]


async def ledger(sessions, f: LedgerFilter, *, after=None, limit: int = 1000,
                 force_index: bool = False) -> list[TrackedTask]:
    async with sessions() as session:
        if force_index and session.bind.dialect.name == "postgresql":
            await session.exec(text("SET LOCAL enable_seqscan = off"))
        return await store.ledger_page(session, TENANT, f, NOW, after, limit)


async def total(sessions, f: LedgerFilter) -> int:
    async with sessions() as session:
        return await store.ledger_total(session, TENANT, f, NOW)


async def test_every_query_finds_exactly_the_substring_matches(tasks, sessions, path):
    for q in QUERIES:
        rows = await ledger(sessions, LedgerFilter(q=q), force_index=path == "index")
        assert [r.id for r in rows] == expected(tasks, q), q
        assert await total(sessions, LedgerFilter(q=q)) == len(expected(tasks, q)), q


async def test_the_queries_are_not_trivial(tasks):
    found = {q: len(expected(tasks, q)) for q in QUERIES}
    assert found["鑫"] == found["不存在的短语"] == found["not there"] == 0
    assert found["水"] > 30 and found["汛"] > 10 and found["防汛抗旱"] > 3 and found["db-2026-0012"] > 0
    assert 3 < found["_"] < len(tasks) and 3 < found["%"] < len(tasks)  # literal, not wildcards


async def test_search_combines_with_filters_and_keyset_paging(tasks, sessions, path):
    for q in ["水利", "查", "安全生产", "db-2026", "GDP"]:
        f = LedgerFilter(q=q, status=["in_progress", "submitted"])
        want = expected(tasks, q, f.status)
        assert [r.id for r in await ledger(sessions, f, force_index=path == "index")] == want, q
        got, after = [], None
        while page := await ledger(sessions, f, after=after, limit=4, force_index=path == "index"):
            got += [r.id for r in page]
            after = (page[-1].due, page[-1].id)
        assert got == want and len(want) > 4, q
        backwards = await ledger(sessions, LedgerFilter(q=q, status=f.status, descending=True))
        assert [r.id for r in backwards] == want[::-1], q


async def test_a_changed_title_or_number_and_a_deleted_task_are_searched_as_they_are_now(
        tasks, sessions, path):
    first, second = tasks[3], tasks[4]
    async with sessions() as session, session.begin():
        row = await store.get_task(session, first.id)
        row.title, row.item_number = "鸿雁传书工程", "ZX-9"
        await session.delete(await store.get_task(session, second.id))
    first.title, first.item_number = "鸿雁传书工程", "ZX-9"
    tasks.remove(second)
    for q in ["鸿", "鸿雁", "鸿雁传书", "zx-9", "zx", "安全生产检查整改落实", "安全", "整改", "工程"]:
        assert [r.id for r in await ledger(sessions, LedgerFilter(q=q))] == expected(tasks, q), q


async def test_the_pg_trgm_index_missing_is_made_at_the_next_start(db, database_url, tasks, sessions):
    if db.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    async with db.begin() as conn:  # as if pg_trgm had not been available at the first start
        await conn.exec_driver_sql("DROP INDEX ix_tracked_task_text_trgm")
    await upgrade(database_url, HISTORY)
    async with db.connect() as conn:
        assert (await conn.exec_driver_sql("SELECT to_regclass('ix_tracked_task_text_trgm')")).scalar()
    for q in ["水", "汛期", "防汛抗旱", "db-2026-0012"]:
        assert [r.id for r in await ledger(sessions, LedgerFilter(q=q), force_index=True)] == \
            expected(tasks, q)


async def test_without_pg_trgm_the_search_still_answers(db, database_url, sessions, monkeypatch, caplog):
    if db.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    async with db.begin() as conn:
        await conn.exec_driver_sql("DROP INDEX ix_tracked_task_text_trgm")
    monkeypatch.setattr(search, "_POSTGRES_TRIGRAM_INDEX", "CREATE INDEX x ON tracked_task USING no_such_am (title)")
    with caplog.at_level(logging.WARNING, logger=search.__name__):
        await upgrade(database_url, HISTORY)
    assert "no pg_trgm index" in caplog.text
    rng = random.Random(3)
    rows = [task(i, title, rng) for i, title in enumerate(titles(rng, 40))]
    await add(sessions, rows)
    for q in ["水", "水利", "安全生产", "db-2026-001"]:
        assert [r.id for r in await ledger(sessions, LedgerFilter(q=q))] == expected(rows, q)
