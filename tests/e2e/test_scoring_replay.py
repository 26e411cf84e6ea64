"""`duban scoring replay` rebuilds scoring's store from the streams, through the real services and
bus (both backends): a month and a bit of mixed facts — tasks accepted on time and late, returned,
overdue, bulletins (two criticisms: an admonishment), an appeal reversed and one upheld, a rule set
published and switched for a later period, a period closed, a second tenant — then the replay into
an empty database (SQLite, and a fresh PostgreSQL schema on that backend) must reproduce every
score, rate, rank and triggered action of the live store, and refuse a store that is not empty.
"""

import asyncio
import json
import shutil
import sqlite3
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import nats
import pytest

from services.scoring.replay import compare
from tests.e2e.helpers import advance_clock, org_units, published, set_clock, wait_for_task
from tests.support import ServiceStack, drop_postgres_schema, new_postgres_schema, wait_until

pytestmark = pytest.mark.e2e

DUBAN = str(Path(sys.executable).parent / "duban")
OVERDUE = "duban.tracking.task.overdue.v1"


def beijing(text: str) -> datetime:
    return datetime.fromisoformat(f"{text}+08:00")


def act(client, task_id: str, action: str, **body) -> dict:
    response = client.post(f"/api/v1/tasks/{task_id}/{action}", json=body or None)
    assert response.status_code == 200, f"{action} {task_id}: {response.text}"
    return response.json()


def register(stack: ServiceStack, tasks: list[dict]) -> list[str]:
    response = stack.intake.post("/api/v1/items", json={
        "title": "重点工作督办", "source": {"kind": "meeting_decision", "ref": "党委会〔2026〕9号"},
        "tasks": tasks})
    assert response.status_code == 201, response.text
    ids = [t["id"] for t in response.json()["tasks"]]
    for task_id in ids:
        wait_for_task(stack, task_id)
    return ids


def scoring(stack: ServiceStack, role: str = "office", unit_id: str | None = None, tenant: str = "default"):
    return stack.as_(role, unit_id, service="scoring", tenant=tenant)


def score(stack: ServiceStack, unit_id: str, period: str) -> dict:
    response = stack.scoring.get(f"/api/v1/units/{unit_id}/score", params={"period": period})
    assert response.status_code == 200, response.text
    return response.json()


def entry(stack: ServiceStack, unit_id: str, period: str, rule: str) -> dict:
    return wait_until(lambda: next((e for e in score(stack, unit_id, period)["entries"] if e["rule"] == rule),
                                   None), what=f"{unit_id}'s {rule} entry")


def bulletin(client, kind: str, issuer: str, units: list[str], persons=(), reason: str = "督办通报") -> dict:
    response = client.post("/api/v1/bulletins", json={"kind": kind, "issuer": issuer, "units": units,
                                                      "persons": list(persons), "reason": reason})
    assert response.status_code == 201, response.text
    return response.json()


def settled(stack: ServiceStack) -> None:
    """Wait until scoring's consumers have applied every event of intake and tracking, and no more
    come (the producers' outboxes are relayed)."""
    async def state() -> tuple:
        nc = await nats.connect(stack.nats.url)
        try:
            js = nc.jetstream()
            found = []
            for stream in ("DUBAN_INTAKE", "DUBAN_TRACKING"):
                consumer = await js.consumer_info(stream, f"scoring__{stream.lower()}")
                found.append(((await js.stream_info(stream)).state.last_seq,
                              consumer.num_pending + consumer.num_ack_pending))
            return tuple(found)
        finally:
            await nc.close()

    previous = []

    def quiet() -> bool:
        now = asyncio.run(state())
        previous.append(now)
        return len(previous) >= 3 and len(set(previous[-3:])) == 1 and all(p == 0 for _, p in now)

    wait_until(quiet, timeout=60, interval=0.5, what="scoring caught up with intake and tracking")


# ---- the scenario -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scenario(stack):
    """Facts of every kind scoring keeps, in March and April 2026 (Beijing), then all applied."""
    set_clock(stack, beijing("2026-03-02T09:00:00"))  # a Monday
    units = org_units(stack, {"办公室": None, "甲": "办公室", "乙": "办公室", "丙": "办公室"})
    a, b, c = units["甲"], units["乙"], units["丙"]
    office = stack.tracking
    heads = {u: stack.as_("unit_head", u) for u in (a, b, c)}
    on_time, late, returned, never = register(stack, [
        {"lead_unit": a, "co_units": [b], "due": beijing("2026-03-10T17:30:00").isoformat()},
        {"lead_unit": b, "co_units": [c], "due": beijing("2026-03-04T17:30:00").isoformat()},
        {"lead_unit": a, "due": beijing("2026-03-20T17:30:00").isoformat()},
        {"lead_unit": c, "due": beijing("2026-03-04T17:30:00").isoformat()},
    ])
    for task_id, lead in ((on_time, a), (late, b), (returned, a), (never, c)):
        act(heads[lead], task_id, "sign")
    for task_id, lead in ((on_time, a), (late, b), (returned, a)):
        act(heads[lead], task_id, "submit", comment="已完成")
    act(office, on_time, "review", decision="accept")
    act(office, returned, "review", decision="return", comment="缺少佐证材料")
    act(heads[a], returned, "submit", comment="已补充")
    act(office, returned, "review", decision="accept")

    # bulletins: 丙 criticised twice (its responsible person admonished), 甲 commended
    scoring_office = scoring(stack)
    bulletin(scoring_office, "criticism", "office", [c], persons=["张三"], reason="推进迟缓")
    criticised = bulletin(scoring_office, "criticism", "committee", [c, b], persons=["张三"], reason="材料不实")
    bulletin(scoring_office, "commendation", "office", [a], reason="成效显著")

    advance_clock(stack, timedelta(days=4))  # Friday 03-06: two tasks overdue
    for task_id in (late, never):
        wait_until(lambda t=task_id: published(stack, OVERDUE, task_id=t), what=f"{task_id} overdue")
    accepted_late = act(office, late, "review", decision="accept")
    assert accepted_late["status"] == "accepted"

    # appeals: 丙's overdue penalty reversed; 乙's criticism upheld
    overdue_entry = entry(stack, c, "2026-03", "overdue.lead")
    head_c, head_b = scoring(stack, "unit_head", c), scoring(stack, "unit_head", b)
    appeal = head_c.post("/api/v1/appeals", json={"entry_id": overdue_entry["id"], "reason": "上级延期"})
    assert appeal.status_code == 201, appeal.text
    reversed_ = scoring_office.post(f"/api/v1/appeals/{appeal.json()['id']}/decide",
                                    json={"decision": "reverse", "comment": "情况属实"})
    assert reversed_.status_code == 200, reversed_.text
    criticism_b = next(e for e in score(stack, b, "2026-03")["entries"]
                       if e["cause_event_id"] == criticised["id"])
    upheld = head_b.post("/api/v1/appeals", json={"entry_id": criticism_b["id"], "reason": "不服"}).json()
    assert scoring_office.post(f"/api/v1/appeals/{upheld['id']}/decide",
                               json={"decision": "uphold"}).status_code == 200

    # a stricter rule set from April on
    admin = scoring(stack, "admin")
    rules = admin.get("/api/v1/rule-sets").json()[0]["rules"]
    rules.update(version=f"replay-strict-{uuid.uuid4().hex[:6]}", name="从严细则")
    rules["points"]["overdue"] = {"lead": -8, "co": -4}
    rules["points"]["completed_on_time"] = {"lead": 2, "co": 1}
    published_rules = admin.post("/api/v1/rule-sets", content=json.dumps(rules, ensure_ascii=False).encode(),
                                 headers={"content-type": "application/json"})
    assert published_rules.status_code == 201, published_rules.text
    switched = admin.post("/api/v1/rule-sets/switch", json={"version": rules["version"], "from_period": "2026-04"})
    assert switched.status_code == 200, switched.text

    settled(stack)
    set_clock(stack, beijing("2026-04-08T10:00:00"))  # a Wednesday
    closed = scoring_office.post("/api/v1/periods/2026-03/close")
    assert closed.status_code == 201, closed.text
    april_on_time, april_late = register(stack, [
        {"lead_unit": b, "due": beijing("2026-04-20T17:30:00").isoformat()},
        {"lead_unit": b, "co_units": [a], "due": beijing("2026-04-09T17:30:00").isoformat()},
    ])
    for action in ("sign", "submit"):
        act(heads[b], april_on_time, action)
    act(heads[b], april_late, "sign")
    act(office, april_on_time, "review", decision="accept")
    bulletin(scoring_office, "criticism", "office", [a], persons=["李四"], reason="四月")
    advance_clock(stack, timedelta(days=2))  # Friday 04-10: the April task overdue
    wait_until(lambda: published(stack, OVERDUE, task_id=april_late), what="the April task overdue")
    bulletin(scoring(stack, tenant="replay-other"), "criticism", "office", ["X-1"], reason="另一租户")
    settled(stack)

    # what the live store says, as a check that the scenario did what it meant to
    s_c, s_b = score(stack, c, "2026"), score(stack, b, "2026-04")
    assert "admonishment" in [a["kind"] for a in s_c["actions"]]
    assert [e["rule_set_version"] for e in s_b["entries"]] == [rules["version"]] * 2  # switched
    return {"units": units, "rules": rules["version"]}


def run_replay(stack: ServiceStack, into: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([DUBAN, "scoring", "replay", "--into", into, "--nats", stack.nats.url, *extra],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def targets(stack, scenario, tmp_path_factory):
    """Empty databases to replay into: a SQLite file, and a fresh schema on PostgreSQL."""
    found = {"sqlite": f"sqlite:///{tmp_path_factory.mktemp('replay') / 'scoring.db'}"}
    schema = None
    if stack.backend == "postgres":
        schema, found["postgres"] = new_postgres_schema()
    yield found
    if schema:
        drop_postgres_schema(schema)


# ---- the tests ---------------------------------------------------------------------------------------


def test_replay_rebuilds_every_score_rate_rank_and_action(stack, scenario, targets):
    """Into a SQLite file, and (on the PostgreSQL backend) a fresh PostgreSQL schema."""
    live = stack.database_url("scoring")
    for target in targets.values():
        check_replay(stack, live, target)


def check_replay(stack, live: str, target: str) -> None:
    done = run_replay(stack, target, "--compare-with", live)

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == ""  # no differences printed
    lines = done.stderr.splitlines()
    bars = [line for line in lines if line.startswith("replay ") and "events/s" in line]
    assert bars and "100.0%" in bars[-1], done.stderr
    summary = next(line for line in lines if line.startswith("replayed "))
    assert "events in" in summary and "into" in summary
    assert any(line.strip().startswith("DUBAN_TRACKING") and "read" in line for line in lines)
    assert any("malformed 0, refused by a handler 0" in line for line in lines), done.stderr
    assert lines[-1].startswith("no differences from"), done.stderr

    # the replayed store answers as the live one does, through the same reports
    differences = asyncio.run(compare(live, target))
    assert differences == []


def test_the_comparison_names_what_differs(stack, scenario, targets, tmp_path):
    """The comparison is not vacuous: a replayed store with one entry changed and one triggered
    action missing is told apart from the live one, naming the unit, the period and the action."""
    source = Path(targets["sqlite"].removeprefix("sqlite:///"))
    if not source.exists():
        run_replay(stack, targets["sqlite"])
    copy = tmp_path / "tampered.db"
    shutil.copy(source, copy)
    c = scenario["units"]["丙"]
    with sqlite3.connect(copy) as db:
        db.execute("UPDATE ledger_entry SET centipoints = centipoints - 100 WHERE unit = ? AND rule = ?",
                   (c, "criticism.office"))
        db.execute("DELETE FROM action_sent WHERE unit = ? AND kind = 'admonishment'", (c,))
    differences = asyncio.run(compare(stack.database_url("scoring"), f"sqlite:///{copy}", ["default"]))
    assert any(f"action_sent default/{c}/2026/admonishment: in the live store only" in d for d in differences)
    assert any(f"2026-03, unit {c} score" in d and "total" in d for d in differences), differences
    assert any("2026, ranking" in d for d in differences), differences


def test_replay_refuses_a_store_that_is_not_empty(stack, scenario, targets):
    into = targets["sqlite"]
    if not Path(into.removeprefix("sqlite:///")).exists():
        assert run_replay(stack, into).returncode == 0
    refused = run_replay(stack, into)
    assert refused.returncode == 2
    assert "is not empty" in refused.stderr and "ledger_entry" in refused.stderr
    # and the live store itself, of course
    live = run_replay(stack, stack.database_url("scoring"))
    assert live.returncode == 2 and "is not empty" in live.stderr

