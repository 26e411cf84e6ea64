"""At scale on one machine: a three-node NATS cluster (streams at 3 replicas), two replicas of
tracking and of notify, and under load one NATS node (the tracking stream's leader) and one replica
of each SIGKILLed. No event is lost, no side effect doubled, no reminder missed or doubled.

The overdue entries push units' scores down far enough for scoring to trigger assessment actions,
and intake opens a follow-up item for each: those tasks are tracked, reminded and scored like the
posted ones, so every expectation is computed from tracking's ledger as it ends up."""

import asyncio
import json
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timedelta

import nats
import nats.errors
import pytest
from nats.js.api import AckPolicy, ConsumerConfig
from sqlalchemy import text

from services.tracking.alerts import reminder_times
from services.tracking.domain import DEFAULT_POLICY
from shared.bus import nats_servers
from shared.clock import read_offset, write_offset
from shared.db import make_engine
from shared.workdays import builtin_calendar
from tests.e2e.helpers import register, score, simulated_now, unit, year_of
from tests.support import NatsCluster, ServiceStack, backends, free_port, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]  # about a minute here; CI's 2 cores are slower

UNITS = 20
ITEMS = 100  # two tasks each
DAYS = 12  # simulated days the clock moves, one at a time; every posted task ends overdue
REPLICAS = ("tracking-2", "notify-2")  # besides each service's first process
REMINDED, OVERDUE = "duban.tracking.task.reminded.v1", "duban.tracking.task.overdue.v1"


@pytest.fixture(scope="module", params=backends())
def cluster_stack(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"cluster-{request.param}")
    (tmp / "nats").mkdir()
    cluster = NatsCluster(tmp / "nats").start()
    stack = ServiceStack(tmp, request.param, {"DUBAN_STREAM_REPLICAS": "3"}, nats=cluster)
    try:
        for key in REPLICAS:
            stack.stack.start_service(key.split("-")[0], key=key, port=free_port())
        stack.stack.wait_ready(list(REPLICAS))
        yield stack
    finally:
        stack.stop()


# ---- the bus (any live node) ---------------------------------------------------------------------


def on_the_bus(stack: ServiceStack, action):
    async def run():
        nc = await nats.connect(nats_servers(stack.nats.servers), connect_timeout=2)
        try:
            return await action(nc.jetstream(timeout=3))
        finally:
            await nc.close()

    return asyncio.run(run())


def retrying(action, timeout: float = 30):
    """``action()``, again while the cluster elects leaders (its JetStream API times out meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return action()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def subject_counts(stack: ServiceStack, stream: str, subjects: str) -> dict[str, int]:
    async def read(js):
        return dict((await js.stream_info(stream, subjects_filter=subjects)).state.subjects or {})

    return on_the_bus(stack, read)


def events(stack: ServiceStack, stream: str, subject: str) -> list[dict]:
    """The data of every event on ``subject``, read to the end (without acks: nothing is redelivered)."""
    async def read(js):
        total = (await js.stream_info(stream, subjects_filter=subject)).state.subjects or {}
        total = total.get(subject, 0)
        sub = await js.pull_subscribe(subject, stream=stream, config=ConsumerConfig(ack_policy=AckPolicy.NONE))
        got = []
        try:
            while len(got) < total:
                got += await sub.fetch(min(500, total - len(got)), timeout=5)
        finally:
            await sub.unsubscribe()
        return [json.loads(m.data)["data"] for m in got]

    return retrying(lambda: on_the_bus(stack, read))


# ---- the services ----------------------------------------------------------------------------------


def ledger(stack: ServiceStack) -> list[dict]:
    """Every task tracking holds (the office's ledger, page by page)."""
    rows, cursor = [], None
    while True:
        params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        page = stack.tracking.get("/api/v1/tasks", params=params).json()
        rows += page["items"]
        if not (cursor := page["next_cursor"]):
            return rows


def inbox(stack: ServiceStack, recipient: str) -> list[dict]:
    return stack.notify.get(f"/api/v1/inbox/{recipient}", params={"limit": 1000}).json()


def pending_outbox(url: str) -> int:
    async def count() -> int:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                return (await conn.execute(text("SELECT count(*) FROM outbox WHERE published_at IS NULL"))).scalar()
        finally:
            await engine.dispose()

    return asyncio.run(count())


def post_items(stack: ServiceStack, plans: list[tuple[str, str, datetime]], midway) -> list[dict]:
    """Register the items four at a time; call ``midway`` once half of them are in."""
    items = []
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(register, stack, a, b, due=due) for a, b, due in plans]
        for future in as_completed(futures):
            items.append(future.result())
            if len(items) == len(plans) // 2:
                midway()
    return items


# ---- what should have happened -------------------------------------------------------------------


def schedule(tasks: list[dict], until: datetime) -> Counter:
    """(task, time) of every reminder the domain schedules before ``until``."""
    calendar = builtin_calendar()
    return Counter((t["id"], at) for t in tasks for at in reminder_times(
        due=datetime.fromisoformat(t["due"]), until=until, policy=DEFAULT_POLICY, calendar=calendar,
        assigned_at=datetime.fromisoformat(t["assigned_at"])))


def fired(reminded: list[dict]) -> Counter:
    return Counter((r["task_id"], datetime.fromisoformat(r["scheduled_at"])) for r in reminded)


def caught_up(stack: ServiceStack) -> tuple[list[dict], Counter, Counter] | None:
    """Tracking's tasks, the reminders and the overdue events on the bus, once every reminder due
    by now has fired and every task due by now is flagged overdue."""
    now = retrying(lambda: simulated_now(stack))
    tasks = ledger(stack)
    reminders = fired(events(stack, "DUBAN_TRACKING", REMINDED))
    overdue = Counter(e["task_id"] for e in events(stack, "DUBAN_TRACKING", OVERDUE))
    due = {t["id"] for t in tasks if datetime.fromisoformat(t["due"]) <= now}
    if schedule(tasks, now) - reminders or due - overdue.keys():
        return None
    return tasks, reminders, overdue


def notice_kinds(notices: list[dict]) -> Counter:
    return Counter((n["kind"], n["task_id"]) for n in notices)


# ---- the test --------------------------------------------------------------------------------------


def test_a_killed_node_and_killed_replicas_lose_nothing_and_double_nothing(cluster_stack):
    stack, cluster = cluster_stack, cluster_stack.nats
    units = [unit() for _ in range(UNITS)]
    start = simulated_now(stack)
    # Deadlines 2–7 days out at 6 hours past the clock: no reminder falls near a whole-day step.
    plans = [(units[2 * i % UNITS], units[(2 * i + 1) % UNITS], start + timedelta(days=2 + i % 6, hours=6))
             for i in range(ITEMS)]

    # The load: items through intake, a notify replica killed while their events flow.
    items = post_items(stack, plans, midway=lambda: stack.kill("notify-2"))
    posted = {t["id"] for item in items for t in item["tasks"]}
    assert len(posted) == 2 * ITEMS
    tasks = wait_until(lambda: rows if len(rows := ledger(stack)) >= len(posted) else None, timeout=60,
                       what="every task in tracking")
    assert {t["id"] for t in tasks} == posted
    clock_bucket = on_the_bus(stack, lambda js: js.stream_info("KV_duban_clock"))
    assert clock_bucket.config.num_replicas == 3  # else the clock stops while its one node is down

    # The clock moves a day at a time, each day's reminders fired before the next (a jump over two
    # of a task's reminders sends one). The tracking stream's leader node dies on the busiest day,
    # a tracking replica a few days later.
    killed_node, offset = None, on_the_bus(stack, read_offset)
    for day in range(1, DAYS + 1):
        # An absolute offset: writing it again after a timed-out write moves the clock no further.
        retrying(lambda: on_the_bus(stack, lambda js: write_offset(js, offset + timedelta(days=day),
                                                                   production=False)))
        if day == 3:
            killed_node = retrying(lambda: on_the_bus(stack, lambda js: js.stream_info("DUBAN_TRACKING"))).cluster.leader
            cluster.kill(killed_node)
        if day == 6:
            stack.kill("tracking-2")
        wait_until(lambda: caught_up(stack), timeout=90, interval=1, what=f"day {day}'s reminders")
    leader = retrying(lambda: on_the_bus(stack, lambda js: js.stream_info("DUBAN_TRACKING"))).cluster.leader
    assert killed_node in cluster.nodes and leader not in (killed_node, None)

    # Every scheduled reminder fired exactly once, every task due flagged overdue exactly once.
    before = retrying(lambda: simulated_now(stack))
    tasks, reminders, overdue = wait_until(lambda: caught_up(stack), timeout=90, interval=1, what="the last reminders")
    after = retrying(lambda: simulated_now(stack))
    assert posted < {t["id"] for t in tasks}  # and follow-ups of the actions scoring triggered
    assert sorted(schedule(tasks, before) - reminders) == []  # none missed
    assert sorted(reminders - schedule(tasks, after)) == []  # none doubled, none unscheduled
    assert sorted(overdue - Counter({t["id"] for t in tasks if datetime.fromisoformat(t["due"]) <= after})) == []

    # notify: one assignment notice per task, one overdue notice per overdue task, one notice per reminder.
    by_unit = defaultdict(list)
    for t in tasks:
        by_unit[t["lead_unit"]].append(t["id"])
    reminded = Counter(task_id for task_id, _ in reminders.elements())
    for lead, task_ids in by_unit.items():
        wanted = Counter({("assigned", i): 1 for i in task_ids} | {("overdue", i): 1 for i in task_ids if i in overdue}
                         | {("reminder", i): reminded[i] for i in task_ids if reminded[i]})
        wait_until(lambda: notice_kinds(inbox(stack, lead)) >= wanted, timeout=60, what=f"{lead}'s notices")
        notices = inbox(stack, lead)
        kinds = notice_kinds(notices)
        assert {k: n for k, n in kinds.items() if k[0] in ("assigned", "overdue", "reminder")} == wanted
        # a task's warnings (approaching, stagnant) once each too
        assert [k for k, n in kinds.items() if n > 1 and k[0] != "reminder" and k[1]] == []
        assert len({n["cause_event_id"] for n in notices}) == len(notices)

    # scoring: each task counted once for its deadline's year, each overdue task entered once.
    years = {year_of(start), year_of(after)}
    for lead, task_ids in by_unit.items():
        due_years = Counter(year_of(datetime.fromisoformat(t["due"])) for t in tasks if t["lead_unit"] == lead)
        for year, count in due_years.items():
            assert score(stack, lead, year)["rates"]["tasks_due"] == count
        entries = [e for y in years for e in score(stack, lead, y)["entries"]]
        assert sorted(e["task_id"] for e in entries if e["rule"] == "overdue.lead") == sorted(
            i for i in task_ids if i in overdue)
        assert len({e["cause_event_id"] for e in entries}) == len(entries)

    # Nothing left behind: every outbox drained, no dead letter anywhere, no dead delivery.
    for service in ("intake", "tracking", "scoring", "notify"):
        wait_until(lambda: pending_outbox(stack.database_url(service)) == 0, what=f"{service}'s outbox to drain")
        assert subject_counts(stack, f"DUBAN_{service.upper()}", "duban.dlq.>") == {}
    assert stack.notify.get("/api/v1/deliveries", params={"status": "dead"}).json() == []
