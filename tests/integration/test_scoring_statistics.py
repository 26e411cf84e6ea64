"""scoring's period statistics (rankings with every unit's rates, a unit's rates) are counted and
summed in SQL; here they must give exactly the figures of the plain Python computation they
replaced — every task outcome of the period through ``domain.rates``, every urgency through
``domain.workload``, every ledger line summed — on a seeded dataset full of edges: facts on a
period's first and last instants, acceptance on the deadline to the microsecond, returns without a
submission, unknown urgencies, an inactive unit, a unit the org copy does not know, a unit whose id
prefixes another's, and another tenant's facts."""

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert

from services.scoring import domain, periods, reports, rules, store
from services.scoring.models import LedgerEntry, OrgUnitCopy, ScoringBase, TaskOutcome
from shared.db import create_tables, session_factory

pytestmark = pytest.mark.asyncio(loop_scope="session")

TENANT, OTHER = "t", "x"
# unit: (parent path, active); U1 and U10 share a prefix, B is inactive, "ghost" is not in the copy
TREE = {"R": ("/", True), "A": ("/R/", True), "A1": ("/R/A/", True), "A2": ("/R/A/", True),
        "B": ("/R/", False), "B1": ("/R/B/", True), "U1": ("/R/", True), "U10": ("/R/", True),
        "U1-x": ("/R/U1/", True)}
LEADS = [*TREE, "ghost"]
URGENCIES = ["normal", "urgent", "extra_urgent", "", "unheard-of"]
RULES = ["overdue.lead", "report_missed.lead", "overdue.co", "completed_on_time.lead", "criticism.office",
         "appeal.reversal"]
PERIODS = ["2026", "2026-H1", "2026-Q2", "2026-05", "2026-12"]
EDGES = [t for name in ["2026-05", "2026-06", "2026-04", "2027-01"] for t in store.bounds(periods.parse(name))]


def path(unit: str) -> str:
    return f"{TREE[unit][0]}{unit}/"


def moment(rng: random.Random) -> datetime:
    """A time in or around 2026, often exactly on a period's edge (or a microsecond off it)."""
    if rng.random() < 0.25:
        return rng.choice(EDGES) + timedelta(microseconds=rng.choice([-1, 0, 0, 1]))
    return datetime(2025, 12, 1, tzinfo=UTC) + timedelta(seconds=rng.uniform(0, 430 * 86400))


def dataset(seed: int = 8) -> tuple[list[dict], list[dict], list[dict]]:
    rng = random.Random(seed)
    org = [{"tenant": t, "id": u, "name": f"单位{u}", "parent_id": (p.strip("/").split("/") or [None])[-1] or None,
            "active": active, "path": path(u)} for t in (TENANT, OTHER) for u, (p, active) in TREE.items()]
    outcomes, lines = [], []
    for i in range(700):
        due = moment(rng)
        accepted = rng.choice([None, due, due - timedelta(days=rng.uniform(0, 9)), due + timedelta(microseconds=1),
                               due + timedelta(days=rng.uniform(0, 9))])
        submissions = rng.choice([0, 0, 1, 2])
        outcomes.append({"task_id": f"T{i}", "tenant": rng.choice([TENANT] * 5 + [OTHER]), "item_id": f"I{i}",
                         "lead_unit": rng.choice(LEADS), "urgency": rng.choice(URGENCIES),
                         "due": None if i % 97 == 0 else due, "due_as_of": None, "accepted_at": accepted,
                         "submissions": submissions, "returns": rng.choice([0, 0, 1, 3]),
                         "reverifications": rng.choice([0, 0, 0, 1])})
    for i in range(1500):
        rule = rng.choice(RULES)
        lines.append({"key": f"E{i}", "tenant": rng.choice([TENANT] * 5 + [OTHER]), "unit": rng.choice(LEADS),
                      "centipoints": rng.choice([100, -100, -500, -250, -300, 0, 150]), "rule": rule,
                      "rule_set_version": rules.DEFAULT.version, "reason": rule, "at": moment(rng),
                      "cause_event_id": f"e{i}", "cause_event_type": "t", "persons": []})
    return org, outcomes, lines


def expected_ranking(data, period: periods.Period, under: str | None, normalise: bool) -> dict:
    """The ranking as computed before SQL did the counting: every row of the period in Python."""
    org, outcomes, lines = data
    start, end = store.bounds(period)
    due = [o for o in outcomes if o["tenant"] == TENANT and o["due"] and start <= o["due"] < end]
    booked = [e for e in lines if e["tenant"] == TENANT and start <= e["at"] < end]
    active = [u for u in org if u["tenant"] == TENANT and u["active"]]
    if under is None:
        units = sorted({u["id"] for u in active} | {e["unit"] for e in booked} | {o["lead_unit"] for o in due})
    else:
        top = path(under) if under in TREE else None
        units = sorted({under} | {u["id"] for u in active if top and u["path"].startswith(top)})
    points, counted = defaultdict(int), defaultdict(int)
    for e in booked:
        points[e["unit"]] += e["centipoints"]
        counted[e["unit"], e["rule"]] += 1
    led = defaultdict(list)
    for o in due:
        led[o["lead_unit"]].append(o)
    weights = rules.DEFAULT.rankings.workload_weights
    base = rules.DEFAULT.base_score
    standings = [domain.Standing(u, base + Decimal(points[u]) / 100,
                                 domain.workload([o["urgency"] for o in led[u]], weights),
                                 base + Decimal(points[u]) / 100) for u in units]
    if normalise:
        standings = domain.normalised(standings, base)
    names = {u["id"]: u["name"] for u in org if u["tenant"] == TENANT}
    return {"period": period.name, "under": under, "normalised": normalise, "units": [
        {"rank": s.rank, "unit": s.unit, "name": names.get(s.unit), "total": s.total, "score": s.score,
         "workload": s.workload, "rates": expected_rates(led[s.unit], counted, s.unit)}
        for s in domain.ranked(standings)]}


def expected_rates(led: list[dict], counted: dict, unit: str) -> dict:
    found = domain.rates([domain.Outcome(o["due"], o["accepted_at"], o["submissions"], o["returns"],
                                         o["reverifications"]) for o in led],
                         counted[unit, "overdue.lead"], counted[unit, "report_missed.lead"])
    return reports.rates_public(found).model_dump()


@pytest.fixture
async def filled(db):
    data = dataset()
    await create_tables(db, [ScoringBase.metadata])
    org, outcomes, lines = data
    async with db.begin() as conn:
        await conn.execute(insert(OrgUnitCopy.__table__), org)
        await conn.execute(insert(TaskOutcome.__table__), outcomes)
        await conn.execute(insert(LedgerEntry.__table__), lines)
    return session_factory(db), data


@pytest.mark.parametrize("under", [None, "R", "A", "U1", "B", "A2", "ghost"])
async def test_rankings_counted_in_sql_match_the_python_computation(filled, under):
    sessions, data = filled
    for name in PERIODS:
        for normalise in (False, True):
            period = periods.parse(name)
            async with sessions() as session:
                found = await reports.ranking(session, TENANT, period, under=under, normalise=normalise)
            wanted = expected_ranking(data, period, under, normalise)
            assert found.model_dump() == wanted, (name, under, normalise)
            assert len(wanted["units"]) >= (3 if under in (None, "R", "A") else 1)


async def test_the_dataset_reaches_every_edge_the_counts_depend_on(filled):
    """Guards the comparison above against a dataset too tame to tell the two apart."""
    _, (_, outcomes, lines) = filled
    may = store.bounds(periods.parse("2026-05"))
    assert any(o["due"] == may[0] for o in outcomes) and any(o["due"] == may[1] for o in outcomes)
    assert any(e["at"] == may[0] for e in lines) and any(e["at"] == may[1] for e in lines)
    assert any(o["accepted_at"] == o["due"] for o in outcomes if o["due"])
    assert any(o["returns"] and not o["submissions"] for o in outcomes)
    assert {"", "unheard-of"} <= {o["urgency"] for o in outcomes}
    assert any(o["due"] is None for o in outcomes)


@pytest.mark.parametrize("unit", ["A1", "U1", "ghost", "nobody"])
async def test_a_units_rates_counted_in_sql_match_the_python_computation(filled, unit):
    sessions, data = filled
    for name in PERIODS:
        period = periods.parse(name)
        async with sessions() as session:
            score = await reports.unit_score(session, TENANT, unit, period)
        wanted = next((s["rates"] for s in expected_ranking(data, period, None, False)["units"]
                       if s["unit"] == unit), None)
        if unit == "nobody":  # no facts at all: no tasks due, no rates
            assert wanted is None and score.rates.tasks_due == 0 and score.rates.completion_rate is None
        else:
            assert score.rates.model_dump() == wanted, (name, unit)
