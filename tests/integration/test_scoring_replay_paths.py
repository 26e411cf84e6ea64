"""`duban scoring replay` on hand-made streams: a chunk with an event its handler refuses (another
tenant's task, an appeal never filed) is applied again event by event, leaving out only the refused
ones; duplicates and malformed messages are counted; and a replay in big chunks builds the same
store as one applying each event in its own transaction."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import nats as nats_py
import pytest

from services.scoring.replay import Progress, TargetNotEmpty, compare, prepare_target, replay
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


async def test_refused_events_are_left_out_alone_and_chunking_changes_nothing(server, empty):
    chunked, one_by_one = empty("chunked"), empty("one")
    reports = [await replay(server.url, chunked, batch=1000), await replay(server.url, one_by_one, batch=1)]
    for report in reports:
        assert (report.read, report.applied, report.duplicates, report.malformed, report.refused) == (
            15, 11, 1, 1, 2), report.summary()
        refused = [p for p in report.problems if p.startswith("refused:")]
        assert len(refused) == 2 and "tenant 'a'" in refused[0] and "P-none" not in refused[0]
        assert report.actions == 2  # U1: admonishment (then reversed on appeal, still announced); U2: notice
    assert await compare(one_by_one, chunked) == []
    with pytest.raises(TargetNotEmpty, match="not empty"):
        await prepare_target(chunked)


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
