"""How fast is the ledger (台账) over a large tracking database?

    python -m bench.ledger --tasks 1000000 [--db sqlite:///.duban/bench-ledger.db | postgresql://…]

Fills tracking's own tables (tasks and the org copy) with generated data, then times the ledger's
typical queries through tracking's store functions, and prints p50/p95/max per query and the page
queries' samples pooled. ``measure(tasks)`` does the same in a fresh database for `duban bench`.
"""

import argparse
import asyncio
import json
import math
import random
import statistics
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import insert

from bench.fill import insert_in_batches
from services.tracking import store
from services.tracking.migrations import HISTORY
from services.tracking.models import (
    LedgerFilter,
    OrgUnitCopy,
    TrackedTask,
)
from shared.db import make_engine, session_factory
from shared.migrations import upgrade

TENANT = "bench"
# The dashboards' per-unit counts (GET /tasks/by-unit): timed beside the ledger, not pooled with it.
DASHBOARD = "open by unit (dashboards)"
STATUSES = ["assigned"] * 3 + ["signed", "in_progress", "in_progress", "submitted"] + ["accepted"] * 3
REGIMES = ["comprehensive", "special", "ledger", "time_limited"]
KINDS = ["meeting_decision", "leader_instruction", "superior_requirement", "annual_key_work",
         "hotline_case", "letter_visit", "other"]
WORDS = ["安全生产", "生态修复", "水利", "招商引资", "民生实事", "乡村振兴", "安全检查", "整改落实"]
RARE = ["防汛抗旱", "汛期巡查"]  # one task in 5,000: rare phrases of 1, 2 and 4 characters


def units(tops: int, children: int) -> list[dict]:
    rows = []
    for t in range(tops):
        top = f"T{t:03d}"
        rows.append({"tenant": TENANT, "id": top, "name": top, "parent_id": None, "active": True,
                     "path": f"/{top}/"})
        rows += [{"tenant": TENANT, "id": f"{top}-{c:02d}", "name": f"{top}-{c:02d}", "parent_id": top,
                  "active": True, "path": f"/{top}/{top}-{c:02d}/"} for c in range(children)]
    return rows


def tasks(n: int, leaves: list[str], now: datetime, rng: random.Random):
    for i in range(n):
        assigned = now - timedelta(days=rng.uniform(0, 365))
        due = assigned + timedelta(days=rng.uniform(3, 120))
        yield {
            "id": f"t{i:09d}", "tenant": TENANT, "item_id": f"i{i // 5:09d}", "item_number": f"DB-2026-{i // 5:06d}",
            "title": f"{rng.choice(RARE if i % 5000 == 17 else WORDS)}任务{i}",
            "lead_unit": rng.choice(leaves), "co_units": [],
            "responsible_person": "", "source_kind": rng.choice(KINDS), "regime": rng.choice(REGIMES),
            "urgency": rng.choice(["normal", "urgent", "extra_urgent"]), "supervisor": f"S{rng.randrange(50)}",
            "milestones": [], "reporting_cycle": "none", "report_due_day": 2, "due": due,
            "due_working_days": None, "calendar_fallback": False, "status": rng.choice(STATUSES),
            "suspended_from": None, "returns": 0, "reverifications": 0, "assigned_at": assigned,
            "last_activity_at": assigned, "overdue_at": None, "extension_due": None,
            "extension_reason": None, "next_reminder_at": None, "yellow_at": due - timedelta(days=3),
        }


async def fill(engine, n: int, now: datetime) -> float:
    started = time.perf_counter()
    rng = random.Random(7)
    org = units(50, 20)
    leaves = [u["id"] for u in org if u["parent_id"]]
    async with engine.begin() as conn:
        await conn.execute(insert(OrgUnitCopy.__table__), org)
    await insert_in_batches(engine, TrackedTask.__table__, tasks(n, leaves, now, rng), 20_000)
    return time.perf_counter() - started


async def analyze(engine) -> None:
    """Fresh planner statistics, as autovacuum would gather them after the bulk load."""
    async with engine.begin() as conn:
        await conn.exec_driver_sql("ANALYZE")


@dataclass
class Samples:
    """Milliseconds per run: wall clock, and the harness's CPU (in-process SQLite does all its
    work there, so on a busy machine the CPU figure moves less than the wall clock)."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    async def time(self, query, session) -> None:
        started, cpu = time.perf_counter(), time.process_time()
        await query(session)
        self.wall.append((time.perf_counter() - started) * 1000)
        self.cpu.append((time.process_time() - cpu) * 1000)


async def time_query(sessions, runs: int, query) -> Samples:
    samples = Samples()
    for _ in range(runs):
        async with sessions() as session:
            await samples.time(query, session)
    return samples


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(len(ordered) * 0.95) - 1)]


def summary(samples: Samples) -> dict:
    return {"p50_ms": round(statistics.median(samples.wall), 2), "p95_ms": round(p95(samples.wall), 2),
            "max_ms": round(max(samples.wall), 2), "runs": len(samples.wall),
            "cpu_p50_ms": round(statistics.median(samples.cpu), 2)}


# (label, q): how many of the 1,000,000 generated tasks match is in the label.
PHRASES = [
    ("text, rare, 4 chars (~100)", "防汛抗旱"),
    ("text, rare, 2 chars (~100)", "汛期"),
    ("text, rare, 1 char (~200)", "汛"),
    ("text, 5 chars (~1,400)", "水利任务12"),
    ("text, 4 chars (~11,000)", "任务12"),
    ("text, common, 4 chars (1/8)", "安全生产"),
    ("text, common, 2 chars (1/8)", "水利"),
    ("text, common, 1 char (1/8)", "水"),
    ("text, item number (5)", "db-2026-012345"),
    ("text, no match, 6 chars", "不存在的短语"),
    ("text, no match, 2 chars", "鑫鑫"),
]


def text_queries(now: datetime, after: tuple[datetime, str]) -> dict:
    queries = {label: lambda s, q=q: store.ledger_page(s, TENANT, LedgerFilter(q=q), now, None, 50)
               for label, q in PHRASES}
    return {
        **queries,
        "text (~1,400) + status in_progress": lambda s: store.ledger_page(
            s, TENANT, LedgerFilter(q="水利任务12", status=["in_progress"]), now, None, 50),
        "text, common + one unit alone": lambda s: store.ledger_page(
            s, TENANT, LedgerFilter(q="安全生产", unit="T007-03", include_sub_units=False), now, None, 50),
        "text, common + unit and 20 sub-units": lambda s: store.ledger_page(
            s, TENANT, LedgerFilter(q="安全生产", unit="T007"), now, None, 50),
        "text, common, page deep (keyset)": lambda s: store.ledger_page(
            s, TENANT, LedgerFilter(q="水利"), now, after, 50),
        "count, text rare (~100)": lambda s: store.ledger_total(s, TENANT, LedgerFilter(q="防汛抗旱"), now),
        "count, text common (1/8)": lambda s: store.ledger_total(s, TENANT, LedgerFilter(q="水利"), now),
    }


async def run(db: str, n: int, runs: int) -> dict:
    await upgrade(db, HISTORY)  # tracking's tables and its text search index, as at its start
    engine = make_engine(db)
    sessions = session_factory(engine)
    now = datetime.now(UTC)
    async with sessions() as session:
        existing = await store.ledger_total(session, TENANT, LedgerFilter(), now)
    fill_s = await fill(engine, n - existing, now) if existing < n else 0.0
    if fill_s and engine.dialect.name == "postgresql":
        await analyze(engine)
    async with sessions() as session:
        middle = (await store.ledger_page(session, TENANT, LedgerFilter(), now, None, n // 2))[-1]
    after = (middle.due, middle.id)
    queries = {
        "first page, no filter": lambda s: store.ledger_page(s, TENANT, LedgerFilter(), now, None, 50),
        "unit + 20 sub-units": lambda s: store.ledger_page(s, TENANT, LedgerFilter(unit="T007"), now, None, 50),
        "one unit, alone": lambda s: store.ledger_page(
            s, TENANT, LedgerFilter(unit="T007-03", include_sub_units=False), now, None, 50),
        "status in_progress + light red": lambda s: store.ledger_page(
            s, TENANT, LedgerFilter(status=["in_progress"], light=["red"]), now, None, 50),
        "regime + source kind + supervisor": lambda s: store.ledger_page(
            s, TENANT, LedgerFilter(regime=["special"], source_kind=["hotline_case"], supervisor=["S7"]),
            now, None, 50),
        "page deep in the middle (keyset)": lambda s: store.ledger_page(
            s, TENANT, LedgerFilter(), now, after, 50),
        "count, unit + sub-units": lambda s: store.ledger_total(s, TENANT, LedgerFilter(unit="T007"), now),
        f"{DASHBOARD}, tenant": lambda s: store.open_by_unit(s, TENANT, None, now),
        f"{DASHBOARD}, unit + 20 sub-units": lambda s: store.open_by_unit(s, TENANT, "T007", now),
        **text_queries(now, after),
    }
    samples = {name: await time_query(sessions, runs, q) for name, q in queries.items()}
    await engine.dispose()
    return {"db": engine.dialect.name, "tasks": n, "fill_s": round(fill_s, 1),
            **headline(samples), "queries": {name: summary(s) for name, s in samples.items()}}


def headline(samples: dict[str, Samples]) -> dict:
    """The figures the suite reports: page queries pooled (each the same number of runs), the
    slowest page query, and the slowest count."""
    pages = {name: s.wall for name, s in samples.items() if not name.startswith(("count", DASHBOARD))}
    counts = {name: s.wall for name, s in samples.items() if name.startswith("count")}
    dashboard = [x for name, s in samples.items() if name.startswith(DASHBOARD) for x in s.wall]
    pooled = [x for s in pages.values() for x in s]
    pooled_cpu = [x for name, s in samples.items() if name in pages for x in s.cpu]
    worst = max(pages, key=lambda name: p95(pages[name]))
    worst_count = max(counts, key=lambda name: p95(counts[name]))
    return {"ledger_p50_ms": round(statistics.median(pooled), 2), "ledger_p95_ms": round(p95(pooled), 2),
            "ledger_cpu_p95_ms": round(p95(pooled_cpu), 2),
            "ledger_worst_query": worst, "ledger_worst_p95_ms": round(p95(pages[worst]), 2),
            "ledger_count_worst_query": worst_count,
            "ledger_count_worst_p95_ms": round(p95(counts[worst_count]), 2),
            "ledger_by_unit_p95_ms": round(p95(dashboard), 2)}


@contextmanager
def scratch_database(db: str | None, name: str):
    """A URL to an empty database: a temporary SQLite file, or a new schema in PostgreSQL ``db``
    (dropped afterwards)."""
    if not db:
        with tempfile.TemporaryDirectory(prefix=f"duban-bench-{name}-") as root:
            yield f"sqlite:///{Path(root) / f'{name}.db'}"
        return
    schema = f"bench_{name}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(db, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{db}{'&' if '?' in db else '?'}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(db, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def measure(tasks: int, db: str | None = None, runs: int = 20) -> dict:
    """Fill a fresh tracking store (a temporary SQLite file, or a new schema in ``db``), time the
    ledger's queries, and give the figures with ``ledger_`` names."""
    with scratch_database(db, "ledger") as url:
        result = asyncio.run(run(url, tasks, runs))
    return {"ledger_db": result["db"], "ledger_tasks": result["tasks"], "ledger_fill_s": result["fill_s"],
            **{k: v for k, v in result.items() if k.startswith("ledger_")}, "ledger_queries": result["queries"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--db", default="sqlite:///.duban/bench-ledger.db")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    result = asyncio.run(run(args.db, args.tasks, args.runs))
    print(f"ledger over {result['tasks']:,} tasks on {result['db']} (filled in {result['fill_s']} s)")
    print(f"{'query':<40}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}")
    for name, r in result["queries"].items():
        print(f"{name:<40}{r['p50_ms']:>10}{r['p95_ms']:>10}{r['max_ms']:>10}")
    print(f"{'page queries pooled':<40}{result['ledger_p50_ms']:>10}{result['ledger_p95_ms']:>10}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(result, out, indent=2)


if __name__ == "__main__":
    main()
