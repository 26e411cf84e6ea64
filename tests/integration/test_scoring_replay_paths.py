"""`duban scoring replay` on hand-made streams: the replay folds the events in memory and must
build the store the service's own handlers build applying them one by one (``by_handlers``, in
big chunks or an event per transaction) — the same rows, the same events refused (another
tenant's task, an appeal never filed, a bulletin id taken, a rule set switched to but never
published, and on PostgreSQL a value its column cannot hold), the same actions triggered;
duplicates and malformed messages are counted."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import nats as nats_py
import pytest

from sqlalchemy import text

from services.scoring.replay import Progress, TargetNotEmpty, compare, prepare_target, replay
from services.scoring.rules import DEFAULT
from shared.db import make_engine
from shared.settings import Settings
from shared.streams import stream_of
from tests.support import NatsServer, backends, drop_postgres_schema, new_postgres_schema

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def event(type_: str, tenant: str, at: datetime, data: dict, event_id: str | None = None) -> dict:
    return {"specversion": "1.0", "id": event_id or uuid.uuid4().hex, "source": "/test", "type": type_,
            "time": at.isoformat(), "tenant": tenant, "data": data}


def task(task_id: str, lead: str) -> dict:
    return {"task_id": task_id, "item_id": f"I-{task_id}", "title": f"任务{task_id}", "lead_unit": lead}


def status(task_id: str, lead: str, action: str, at: datetime, due: datetime, late: int = 0) -> dict:
    return {**task(task_id, lead), "action": action, "from_status": "x", "to_status": "y", "actor": "a",
            "at": at.isoformat(), "due": due.isoformat(), "working_days_late": late}


def history() -> list[tuple[str, bytes]]:
    due = T0 + timedelta(days=5)
    accept = event("duban.tracking.task.status_changed.v1", "a", T0 + timedelta(days=1),
                   status("T1", "U1", "accept", T0 + timedelta(days=1), due))
    first = event("duban.scoring.bulletin.issued.v1", "a", T0 + timedelta(hours=2), {
        "bulletin_id": "B1", "kind": "criticism", "issuer": "office", "units": ["U1"], "persons": ["张三"],
        "reason": "一", "issued_by": "office"}, "B1")
    second = event("duban.scoring.bulletin.issued.v1", "a", T0 + timedelta(hours=3), {
        "bulletin_id": "B2", "kind": "criticism", "issuer": "committee", "units": ["U1", "U2"],
        "persons": ["张三"], "reason": "二", "issued_by": "office"}, "B2")
    events = [
        event("duban.intake.org_unit.changed.v1", "a", T0 - timedelta(days=1), {
            "change": "created", "unit_id": "U1", "name": "一", "parent_id": None, "active": True, "path": ["U1"]}),
        event("duban.intake.task.assigned.v1", "a", T0, {**task("T1", "U1"), "due": due.isoformat()}),
        event("duban.intake.task.assigned.v1", "a", T0, {**task("T2", "U2"), "due": due.isoformat()}),
        event("duban.tracking.task.status_changed.v1", "a", T0 + timedelta(hours=1),
              status("T1", "U1", "submit", T0 + timedelta(hours=1), due)),
        first, second,
        # another tenant's event about tenant a's task: refused, as the live consumer dead-letters it
        event("duban.tracking.task.status_changed.v1", "b", T0 + timedelta(hours=4),
              status("T2", "U2", "accept", T0 + timedelta(hours=4), due)),
        event("duban.scoring.appeal.filed.v1", "a", T0 + timedelta(hours=5), {
            "appeal_id": "P1", "entry_key": "B2:U1:criticism.committee", "unit": "U1", "reason": "不服",
            "filed_by": "unit_head@U1"}, "P1"),
        event("duban.scoring.appeal.decided.v1", "a", T0 + timedelta(hours=6), {
            "appeal_id": "P1", "decision": "reverse", "decided_by": "office"}),
        event("duban.scoring.appeal.decided.v1", "a", T0 + timedelta(hours=7), {  # never filed: refused
            "appeal_id": "P-none", "decision": "reverse", "decided_by": "office"}),
        accept,
        event("duban.tracking.task.overdue.v1", "a", due + timedelta(minutes=1), {
            **task("T2", "U2"), "due": due.isoformat(), "overdue_at": (due + timedelta(minutes=1)).isoformat()}),
        event("duban.scoring.period.closed.v1", "a", T0 + timedelta(days=40), {
            "period": "2026-03", "closed_by": "office"}),
    ]
    out = [(e["type"], json.dumps(e, ensure_ascii=False).encode()) for e in events]
    out.append((accept["type"], json.dumps(accept).encode()))  # republished: a duplicate
    out.append(("duban.tracking.task.status_changed.v1", b'{"not an event": true}'))
    out.append(("duban.scoring.action.triggered.v1", b"{}"))  # scoring's output: not read
    return out


@pytest.fixture(scope="module")
async def server(tmp_path_factory):
    running = NatsServer(store=tmp_path_factory.mktemp("replay-nats")).start()
    nc = await nats_py.connect(running.url)
    js = nc.jetstream()
    for service in ("intake", "tracking", "scoring"):
        await js.add_stream(stream_of(service).config(Settings()))
    for subject, payload in history():
        await js.publish(subject, payload, headers={"Nats-Msg-Id": uuid.uuid4().hex})
    await nc.close()
    yield running
    running.stop()


@pytest.fixture(params=backends())
def empty(request, tmp_path):
    """A factory of empty databases on the backend."""
    schemas = []

    def make(name: str) -> str:
        if request.param == "sqlite":
            return f"sqlite:///{tmp_path / name}.db"
        schema, url = new_postgres_schema()
        schemas.append(schema)
        return url

    yield make
    for schema in schemas:
        drop_postgres_schema(schema)


def counts(report) -> tuple:
    return report.read, report.applied, report.duplicates, report.malformed, report.refused, report.actions


async def replays(url: str, empty) -> tuple[str, list]:
    """The fold's replay, and the handlers' in chunks and one event per transaction."""
    folded, chunked, one_by_one = empty("folded"), empty("chunked"), empty("one")
    reports = [await replay(url, folded), await replay(url, chunked, batch=1000, by_handlers=True),
               await replay(url, one_by_one, batch=1, by_handlers=True)]
    assert {counts(r) for r in reports} == {counts(reports[0])}, [r.summary() for r in reports]
    assert await compare(chunked, folded) == []
    assert await compare(one_by_one, folded) == []
    return folded, reports


async def test_refused_events_are_left_out_alone_and_chunking_changes_nothing(server, empty):
    folded, reports = await replays(server.url, empty)
    for report in reports:
        assert counts(report) == (15, 11, 1, 1, 2, 2), report.summary()
        refused = [p for p in report.problems if p.startswith("refused:")]
        assert len(refused) == 2 and "tenant 'a'" in refused[0] and "P-none" not in refused[0]
        # U1: admonishment (then reversed on appeal, still announced); U2: notice
    with pytest.raises(TargetNotEmpty, match="not empty"):
        await prepare_target(folded)


def edge_history() -> list[tuple[str, bytes]]:
    """Events the fold must refuse or apply exactly as the handlers do."""
    due = T0 + timedelta(days=5)
    bulletin = "duban.scoring.bulletin.issued.v1"
    filed, decided = "duban.scoring.appeal.filed.v1", "duban.scoring.appeal.decided.v1"
    accepted = "duban.tracking.task.status_changed.v1"
    strict = {**DEFAULT.model_dump(mode="json"), "version": "e-strict", "name": "从严"}
    strict["points"]["completed_on_time"] = {"lead": 3, "co": 1}

    def crit(bulletin_id: str, units: list[str], at, reason: str = "批评", event_id: str | None = None) -> dict:
        return event(bulletin, "e", at, {"bulletin_id": bulletin_id, "kind": "criticism", "issuer": "office",
                                         "units": units, "persons": ["张三"], "reason": reason,
                                         "issued_by": "office"}, event_id or bulletin_id)

    def appeal(appeal_id: str, key: str, at) -> dict:
        return event(filed, "e", at, {"appeal_id": appeal_id, "entry_key": key, "unit": "U1", "reason": "不服",
                                      "filed_by": "unit_head@U1"})

    def decide(appeal_id: str, decision: str, at) -> dict:
        return event(decided, "e", at, {"appeal_id": appeal_id, "decision": decision, "decided_by": "office"})

    def assign(task_id: str, lead: str, urgency: str = "urgent", at=T0) -> dict:
        return event("duban.intake.task.assigned.v1", "e", at,
                     {**task(task_id, lead), "due": due.isoformat(), "urgency": urgency})

    may, april = datetime(2026, 5, 11, 2, tzinfo=UTC), datetime(2026, 4, 13, 2, tzinfo=UTC)
    events = [
        assign("T1", "U1"), assign("T2", "U1", at=T0 + timedelta(minutes=1)),
        assign("T3", "U2", at=T0 + timedelta(minutes=2)),
        assign("T-long", "U" * 70, at=T0 + timedelta(minutes=3)),  # PostgreSQL: lead_unit holds 64
        assign("T-urgency", "U2", urgency="extremely-urgent-now", at=T0 + timedelta(minutes=4)),  # 16
        crit("B1", ["U1"], T0 + timedelta(hours=1)),
        crit("B1", ["U2"], T0 + timedelta(hours=2), event_id="B1-again"),  # the id taken: refused
        crit("B2", ["U1", "U2"], T0 + timedelta(hours=3)),  # U1's second: admonishment
        crit("B3", ["U2"], T0 + timedelta(hours=3, minutes=30), reason="含\x00字符"),  # PostgreSQL: a NUL
        appeal("P1", "B2:U1:criticism.office", T0 + timedelta(hours=4)),
        decide("P1", "reverse", T0 + timedelta(hours=5)),  # a reversal entry
        decide("P1", "uphold", T0 + timedelta(hours=6)),  # decided again: counts for thresholds again
        appeal("P2", "nowhere:U1:x", T0 + timedelta(hours=7)),
        decide("P2", "uphold", T0 + timedelta(hours=8)),  # upheld: the entry need not exist
        appeal("P3", "nowhere:U1:y", T0 + timedelta(hours=9)),
        decide("P3", "reverse", T0 + timedelta(hours=10)),  # reversing nothing: refused
        appeal("P1", "B1:U1:criticism.office", T0 + timedelta(hours=11)),  # the id taken: refused
        event("duban.scoring.rule_set.published.v1", "e", T0 + timedelta(hours=12),
              {"version": "bad", "rules": {"version": "bad"}, "published_by": "admin"}),  # invalid: refused
        event("duban.scoring.rule_set.published.v1", "e", T0 + timedelta(hours=13),
              {"version": "e-strict", "rules": strict, "published_by": "admin"}),
        event("duban.scoring.rule_set.switched.v1", "e", T0 + timedelta(hours=14),
              {"version": "e-strict", "from_period": "2026-04", "switched_by": "admin"}),
        event("duban.scoring.rule_set.switched.v1", "e", T0 + timedelta(hours=15),
              {"version": "e-ghost", "from_period": "2026-05", "switched_by": "admin"}),  # never published
        event("duban.scoring.rule_set.switched.v1", "e", T0 + timedelta(hours=16),
              {"version": "x", "from_period": "2026-13", "switched_by": "admin"}),  # no such period: refused
        event("duban.tracking.task.overdue.v1", "e", due + timedelta(minutes=1), {
            **task("T1", "U1"), "due": due.isoformat(), "overdue_at": (due + timedelta(minutes=1)).isoformat()}),
        event(accepted, "e", april, status("T2", "U1", "accept", april, april + timedelta(days=1))),  # e-strict
        event(accepted, "e", may, status("T3", "U2", "accept", may, may + timedelta(days=1))),  # e-ghost: refused
        event("duban.tracking.task.deadline_changed.v1", "e", april, {
            **task("T3", "U2"), "due": (april + timedelta(days=2)).isoformat(), "reason": "calendar"}),
        event("duban.scoring.period.closed.v1", "e", april + timedelta(hours=1),
              {"period": "2026-03", "closed_by": "office"}),
        event("duban.scoring.period.closed.v1", "e", april + timedelta(hours=2),
              {"period": "2026-03", "closed_by": "office"}),  # closed already: refused
    ]
    return [(e["type"], json.dumps(e, ensure_ascii=False).encode()) for e in events]


@pytest.fixture(scope="module")
async def edge_server(tmp_path_factory):
    running = NatsServer(store=tmp_path_factory.mktemp("replay-edge-nats")).start()
    nc = await nats_py.connect(running.url)
    js = nc.jetstream()
    for service in ("intake", "tracking", "scoring"):
        await js.add_stream(stream_of(service).config(Settings()))
    for subject, payload in edge_history():
        await js.publish(subject, payload, headers={"Nats-Msg-Id": uuid.uuid4().hex})
    await nc.close()
    yield running
    running.stop()


async def test_the_fold_refuses_and_applies_what_the_handlers_do(edge_server, empty):
    folded, reports = await replays(edge_server.url, empty)
    report = reports[0]
    postgres = folded.startswith("postgres")
    # refused everywhere: B1 again, P3 reversing nothing, P1 again, the invalid rule set, 2026-13,
    # the acceptance under e-ghost, the second close; on PostgreSQL also the long lead unit, the
    # long urgency and the NUL
    assert report.refused == (10 if postgres else 7), report.summary()
    # U1: an admonishment (B1, B2), a notice (T1 overdue); U2 an admonishment if B3 is kept (B2, B3)
    assert report.actions == (2 if postgres else 3)
    engine = make_engine(folded)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT rule, rule_set_version, centipoints FROM ledger_entry WHERE unit = 'U1' ORDER BY id"))).all()
            status = (await conn.execute(text("SELECT status FROM appeal WHERE id = 'P1'"))).scalar_one()
    finally:
        await engine.dispose()
    assert [r[0] for r in rows] == ["criticism.office", "criticism.office", "appeal.reversal", "overdue.lead",
                                    "completed_on_time.lead"]
    assert rows[-1][1:] == ("e-strict", 300) and status == "upheld"


def test_the_progress_bar_writes_plain_lines_at_each_tenth_off_a_terminal(capsys):
    import io

    out = io.StringIO()
    bar = Progress(1000, "replay", out=out, tty=False)
    for done in range(0, 1001, 50):
        bar.update(done)
    bar.finish()
    lines = out.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == [f"{p:.1f}%" for p in range(0, 101, 10)]
    assert "1,000/1,000" in lines[-1] and lines[-1].endswith("events/s")
    tty = io.StringIO()
    bar = Progress(10, "replay", out=tty, tty=True, per_second=1e9)
    bar.update(5)
    bar.finish()
    assert tty.getvalue().startswith("\rreplay  50.0% [") and tty.getvalue().endswith("\n")
