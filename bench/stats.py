"""How fast are scoring's period statistics (rankings and rates) over a large scoring database?

    python -m bench.stats --tasks 1000000 [--db sqlite:///… | postgresql://…] [--runs 10] [--json FILE]

Fills scoring's own tables with a year of generated facts — 1,000 units under 50 parents, one task
outcome per task (due across 2026, most accepted, some late, returned or sent back), and the ledger
lines those outcomes earn under the default rules (on time +1, late −1, overdue −5, returned −2)
plus a criticism now and then — then times, through scoring's own report functions (what
``GET /rankings`` and ``GET /units/{unit}/score`` answer), the ranking with every unit's rates for
a year, a quarter and a month, a ranking within one parent unit, and one unit's score.
"""

import argparse
import asyncio
import json
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from bench.ledger import Samples, scratch_database, summary
from services.scoring import periods, reports
from services.scoring.models import LedgerEntry, OrgUnitCopy, ScoringBase, TaskOutcome
from shared.db import PlumbingBase, create_tables, make_engine, session_factory

TENANT = "bench"
YEAR = 2026
YEAR_START = datetime(YEAR, 1, 1, tzinfo=UTC) - timedelta(hours=8)  # midnight in Beijing
URGENCIES = ["normal"] * 6 + ["urgent"] * 3 + ["extra_urgent"]


def units(tops: int, children: int) -> list[dict]:
    rows = []
    for t in range(tops):
        top = f"P{t:03d}"
        rows.append({"tenant": TENANT, "id": top, "name": f"单位{top}", "parent_id": None, "active": True,
                     "path": f"/{top}/"})
        rows += [{"tenant": TENANT, "id": f"{top}-{c:02d}", "name": f"单位{top}-{c:02d}", "parent_id": top,
                  "active": True, "path": f"/{top}/{top}-{c:02d}/"} for c in range(children)]
    return rows


def entry(task_id: str, unit: str, rule: str, centipoints: int, at: datetime) -> dict:
    cause = uuid.uuid5(uuid.NAMESPACE_URL, f"{task_id}/{rule}").hex
    return {"key": f"{cause}:{unit}:{rule}", "tenant": TENANT, "unit": unit, "centipoints": centipoints,
            "rule": rule, "rule_set_version": "default-2026.1", "reason": rule, "at": at,
            "cause_event_id": cause, "cause_event_type": "duban.tracking.task.status_changed.v1",
            "item_id": f"I{task_id[1:]}", "task_id": task_id, "persons": []}


def facts(i: int, leaves: list[str], rng: random.Random) -> tuple[dict, list[dict]]:
    """One task's outcome row and its ledger lines."""
    task_id, lead = f"T{i:09d}", rng.choice(leaves)
    due = YEAR_START + timedelta(seconds=rng.uniform(0, 364 * 86400))
    roll = rng.random()
    accepted = (due - timedelta(days=rng.uniform(0, 10)) if roll < 0.7
                else due + timedelta(days=rng.uniform(1, 20)) if roll < 0.85 else None)
    returns = 1 if rng.random() < 0.1 else 0
    outcome = {"task_id": task_id, "tenant": TENANT, "item_id": f"I{i:09d}", "lead_unit": lead,
               "urgency": rng.choice(URGENCIES), "due": due, "due_as_of": due - timedelta(days=30),
               "accepted_at": accepted, "submissions": 1 + returns if accepted else returns,
               "returns": returns, "reverifications": 0}
    lines = []
    if accepted and accepted <= due:
        lines.append(entry(task_id, lead, "completed_on_time.lead", 100, accepted))
    elif accepted:
        lines += [entry(task_id, lead, "overdue.lead", -500, due),
                  entry(task_id, lead, "completed_late.lead", -100, accepted)]
    elif roll > 0.95:
        lines.append(entry(task_id, lead, "overdue.lead", -500, due))
    if returns:
        lines.append(entry(task_id, lead, "returned.lead", -200, due - timedelta(days=5)))
    if i % 500 == 0:
        lines.append(entry(task_id, lead, "criticism.office", -300, due))
    return outcome, lines


async def fill(engine, n: int) -> float:
    started = time.perf_counter()
    rng = random.Random(11)
    org = units(50, 20)
    leaves = [u["id"] for u in org if u["parent_id"]]
    async with engine.begin() as conn:
        await conn.execute(insert(OrgUnitCopy.__table__), org)
    outcomes, lines = [], []
    for i in range(n):
        outcome, more = facts(i, leaves, rng)
        outcomes.append(outcome)
        lines += more
        if len(outcomes) == 20_000 or i == n - 1:
            async with engine.begin() as conn:
                await conn.execute(insert(TaskOutcome.__table__), outcomes)
                await conn.execute(insert(LedgerEntry.__table__), lines)
            outcomes, lines = [], []
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.exec_driver_sql("ANALYZE")  # as autovacuum would after the load
    return time.perf_counter() - started


def queries() -> dict:
    def ranking(period: str, under: str | None = None):
        return lambda s: reports.ranking(s, TENANT, periods.parse(period), under=under, normalise=False)

    return {
        f"ranking, year {YEAR} (every task)": ranking(str(YEAR)),
        f"ranking, quarter {YEAR}-Q2": ranking(f"{YEAR}-Q2"),
        f"ranking, month {YEAR}-05": ranking(f"{YEAR}-05"),
        "ranking, year, within one parent (20 units)": ranking(str(YEAR), "P007"),
        f"unit score, year {YEAR}": lambda s: reports.unit_score(s, TENANT, "P007-03", periods.parse(str(YEAR))),
    }


async def time_query(sessions, runs: int, query, budget_s: float) -> Samples:
    """At least 3 runs, at most ``runs``, stopping once ``budget_s`` is spent."""
    samples = Samples()
    spent = time.perf_counter()
    while len(samples.wall) < runs and (len(samples.wall) < 3 or time.perf_counter() - spent < budget_s):
        async with sessions() as session:
            await samples.time(query, session)
    return samples


async def run(db: str, n: int, runs: int, budget_s: float = 30) -> dict:
    engine = make_engine(db)
    try:
        await create_tables(engine, [PlumbingBase.metadata, ScoringBase.metadata])
        fill_s = await fill(engine, n)
        sessions = session_factory(engine)
        results = {name: summary(await time_query(sessions, runs, q, budget_s)) for name, q in queries().items()}
    finally:
        await engine.dispose()
    headline = results[f"ranking, year {YEAR} (every task)"]
    return {"stats_db": engine.dialect.name, "stats_tasks": n, "stats_fill_s": round(fill_s, 1),
            "period_stats_p50_ms": headline["p50_ms"], "period_stats_p95_ms": headline["p95_ms"],
            "period_stats_cpu_p50_ms": headline["cpu_p50_ms"],
            "period_stats_quarter_p95_ms": results[f"ranking, quarter {YEAR}-Q2"]["p95_ms"],
            "period_stats_month_p95_ms": results[f"ranking, month {YEAR}-05"]["p95_ms"],
            "stats_queries": results}


def measure(tasks: int, db: str | None = None, runs: int = 10) -> dict:
    """Fill a fresh scoring store (a temporary SQLite file, or a new schema in ``db``) and time it."""
    with scratch_database(db, "stats") as url:
        return asyncio.run(run(url, tasks, runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--db", help="a PostgreSQL URL (a fresh schema in it); default: a temporary SQLite file")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    result = measure(args.tasks, args.db, args.runs)
    print(f"period statistics over {result['stats_tasks']:,} tasks on {result['stats_db']} "
          f"(filled in {result['stats_fill_s']} s)")
    print(f"{'query':<48}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}{'CPU p50':>10}{'runs':>6}")
    for name, r in result["stats_queries"].items():
        print(f"{name:<48}{r['p50_ms']:>10}{r['p95_ms']:>10}{r['max_ms']:>10}{r['cpu_p50_ms']:>10}{r['runs']:>6}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
