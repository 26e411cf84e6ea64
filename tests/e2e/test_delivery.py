"""Never lose, never duplicate: duplicates on the bus and a consumer killed mid-flow."""

import asyncio
import json
import threading
import time

import httpx
import nats
import pytest

from tests.e2e.helpers import inbox, register, tasks_led, unit, wait_for_task
from tests.support import ServiceStack, backends, free_port, stream_messages, wait_until

pytestmark = pytest.mark.e2e


async def _republish_last_assignment(url: str, task_id: str) -> str:
    """Publish again the task-assigned event of ``task_id``, same event id, new message id
    (so the stream's duplicate window does not drop it: the consumers must)."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for msg in await stream_messages(js, "duban.intake.task.assigned.v1", "DUBAN_INTAKE"):
            event = json.loads(msg.data)
            if event["data"]["task_id"] == task_id:
                await js.publish(msg.subject, msg.data, headers={"Nats-Msg-Id": event["id"] + "-again"})
                await js.publish(msg.subject, msg.data, headers={"Nats-Msg-Id": event["id"] + "-again"})
                return event["id"]
        raise AssertionError("event not found on the stream")
    finally:
        await nc.close()


def test_same_event_delivered_twice_has_one_effect_everywhere(stack):
    lead = unit()
    item = register(stack, lead)
    task_id = item["tasks"][0]["id"]
    wait_until(lambda: inbox(stack, lead), what="first notice")

    event_id = asyncio.run(_republish_last_assignment(stack.nats.url, task_id))
    marker = register(stack, lead)  # published after the copy: once it is in, the copy was seen
    wait_until(lambda: len(inbox(stack, lead)) == 2, what="marker notice")
    wait_until(lambda: tasks_led(stack, lead) == 2, what="marker counted")
    wait_for_task(stack, marker["tasks"][0]["id"])

    notices = inbox(stack, lead)
    assert sorted(n["task_id"] for n in notices) == sorted([task_id, marker["tasks"][0]["id"]])
    assert [n["cause_event_id"] for n in notices].count(event_id) == 1
    assert tasks_led(stack, lead) == 2


@pytest.fixture(scope="module", params=backends())
def crash_stack(request, tmp_path_factory):
    running = ServiceStack(tmp_path_factory.mktemp(f"crash-{request.param}"), request.param)
    yield running
    running.stop()


@pytest.mark.parametrize("victim", ["notify", "scoring", "tracking"])
def test_consumer_killed_while_events_flow_loses_and_doubles_nothing(crash_stack, victim):
    stack = crash_stack
    units = [unit() for _ in range(40)]
    tasks: dict[str, str] = {}

    def post_all() -> None:
        for u in units:
            tasks[u] = register(stack, u)["tasks"][0]["id"]
            time.sleep(0.02)

    poster = threading.Thread(target=post_all)
    poster.start()
    wait_until(lambda: len(tasks) >= 10, what="some items posted")
    stack.kill(victim)  # SIGKILL, mid-flow: its unacknowledged batch comes back after ack_wait
    time.sleep(0.5)
    stack.restart(victim)
    poster.join(60)
    assert len(tasks) == len(units)

    for u in units:
        wait_until(lambda: len(inbox(stack, u)) >= 1, what=f"notice for {u}")
        wait_until(lambda: tasks_led(stack, u) >= 1, what=f"count for {u}")
        wait_for_task(stack, tasks[u])
    time.sleep(1)  # any doubled delivery would have landed by now
    for u in units:
        assert [n["task_id"] for n in inbox(stack, u)] == [tasks[u]]
        assert tasks_led(stack, u) == 1


def test_replicas_of_a_service_share_the_work_and_apply_each_event_once(crash_stack):
    stack = crash_stack
    stack.stack.start_service("notify", key="notify-2", port=free_port())
    stack.stack.wait_ready(["notify-2"])
    try:
        units = [unit() for _ in range(60)]
        tasks = {u: register(stack, u)["tasks"][0]["id"] for u in units}
        for u in units:
            wait_until(lambda: inbox(stack, u), what=f"notice for {u}")
        time.sleep(1)
        for u in units:
            assert [n["task_id"] for n in inbox(stack, u)] == [tasks[u]]
        handled = [consumed_ok(stack.stack.urls[key]) for key in ("notify", "notify-2")]
        assert all(n > 0 for n in handled), f"one replica did all the work: {handled}"
    finally:
        stack.kill("notify-2")


def test_services_reconnect_after_nats_restarts_and_nothing_is_lost(crash_stack):
    stack = crash_stack
    stack.nats.stop()
    for name in ("intake", "tracking", "scoring", "notify"):
        wait_until(lambda: stack.client(name).get("/readyz").status_code == 503, what=f"{name} not ready")
    # intake still takes the request: the event waits in its outbox until the bus is back
    lead = unit()
    item = register(stack, lead)
    stack.nats.start()  # same port, same store
    for name in ("intake", "tracking", "scoring", "notify"):
        wait_until(lambda: stack.client(name).get("/readyz").status_code == 200, timeout=30,
                   what=f"{name} ready again")
    notices = wait_until(lambda: inbox(stack, lead), timeout=30, what="notice after the outage")
    assert [n["task_id"] for n in notices] == [item["tasks"][0]["id"]]


def consumed_ok(url: str) -> float:
    total = 0.0
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith("duban_events_consumed_total{") and 'outcome="ok"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total
