"""scoring and notify never apply one tenant's event to another tenant's data (real bus, both backends).

Events are published here with nats-py as a producer would, under tenant "intruder", about a unit
(and a task) of tenant "default".
"""

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import nats
import pytest

from tests.e2e.helpers import advance_clock, dead_letter, register, simulated_now, unit, year_of
from tests.support import ServiceStack, wait_until

pytestmark = pytest.mark.e2e

ASSIGNED = "duban.intake.task.assigned.v1"
OVERDUE = "duban.tracking.task.overdue.v1"
INTRUDER = "intruder"
FAR = timedelta(days=400)  # the intruder's assigned task is due this far ahead


def event(event_type: str, tenant: str, data: dict) -> dict:
    return {"specversion": "1.0", "id": uuid.uuid4().hex, "source": f"/duban/{event_type.split('.')[1]}",
            "type": event_type, "time": datetime.now(UTC).isoformat(), "tenant": tenant, "data": data}


def task_data(task_id: str, lead_unit: str, due: datetime, **extra) -> dict:
    return {"task_id": task_id, "item_id": f"I-{task_id}", "title": "冒名的督办事项", "lead_unit": lead_unit,
            "due": due.isoformat(), **extra}


def assigned_data(task_id: str, lead_unit: str) -> dict:
    # due far ahead, so tracking (which files the intruder's task too) does not flag it overdue
    return task_data(task_id, lead_unit, datetime.now(UTC) + FAR)


def overdue_data(task_id: str, lead_unit: str) -> dict:
    now = datetime.now(UTC)
    return task_data(task_id, lead_unit, now - timedelta(hours=1), overdue_at=now.isoformat())


def send(stack: ServiceStack, *events: dict) -> None:
    async def publish() -> None:
        nc = await nats.connect(stack.nats.url)
        try:
            js = nc.jetstream()
            for e in events:
                await js.publish(e["type"], json.dumps(e).encode())
        finally:
            await nc.close()

    asyncio.run(publish())


def score(stack: ServiceStack, unit_id: str, tenant: str = "default", period: str | None = None) -> dict:
    """The unit's score this year (or in ``period``), as the tenant's office sees it."""
    response = stack.as_("office", service="scoring", tenant=tenant).get(
        f"/api/v1/units/{unit_id}/score", params={"period": period} if period else None)
    assert response.status_code == 200, response.text
    return response.json()


def inbox(stack: ServiceStack, unit_id: str, tenant: str = "default") -> list[dict]:
    response = stack.as_("office", service="notify", tenant=tenant).get(f"/api/v1/inbox/{unit_id}")
    assert response.status_code == 200, response.text
    return response.json()


def task_notices(stack: ServiceStack, unit_id: str, tenant: str = "default") -> list[dict]:
    return [n for n in inbox(stack, unit_id, tenant) if n["task_id"]]


def default_views(stack: ServiceStack, unit_id: str) -> dict:
    """What tenant "default" sees of the unit, through the office and through the unit's head:
    its score, and the tasks its inbox is about (reminders may still add notices of those; notices
    that name no task come from scoring's own events, which carry the tenant that caused them)."""
    head = {s: stack.as_("unit_head", unit_id, service=s) for s in ("scoring", "notify")}
    head_inbox = head["notify"].get(f"/api/v1/inbox/{unit_id}").json()
    return {
        "score": score(stack, unit_id),
        "head_score": head["scoring"].get(f"/api/v1/units/{unit_id}/score").json(),
        "inbox_tasks": {n["task_id"] for n in inbox(stack, unit_id) if n["task_id"]},
        "head_inbox_tasks": {n["task_id"] for n in head_inbox if n["task_id"]},
    }


@pytest.fixture(scope="module")
def overdue_task(stack):
    """A task of tenant "default" that went overdue: counted, on the ledger, in the inbox."""
    lead = unit()
    item = register(stack, lead, due=simulated_now(stack) + timedelta(hours=2))
    advance_clock(stack, timedelta(hours=3))
    wait_until(lambda: (s := score(stack, lead))["entries"] and s["rates"]["tasks_due"],
               what="the default tenant's count and ledger entry")
    wait_until(lambda: {"assigned", "overdue"} <= {n["kind"] for n in inbox(stack, lead)},
               what="the default tenant's notices")
    return {"unit": lead, "task_id": item["tasks"][0]["id"]}


def test_another_tenants_events_about_a_unit_land_in_that_tenant_only(stack, overdue_task):
    lead = overdue_task["unit"]
    before = default_views(stack, lead)
    assigned, overdue = f"T-{uuid.uuid4().hex[:8]}", f"T-{uuid.uuid4().hex[:8]}"
    send(stack, event(ASSIGNED, INTRUDER, assigned_data(assigned, lead)),
         event(OVERDUE, INTRUDER, overdue_data(overdue, lead)))

    far = year_of(datetime.now(UTC) + FAR)  # the year the assigned task is due in
    mine = wait_until(lambda: (s := score(stack, lead, INTRUDER))["entries"]
                      and score(stack, lead, INTRUDER, far)["rates"]["tasks_due"] and s,
                      what="the intruder tenant's score")
    assert (score(stack, lead, INTRUDER, far)["rates"]["tasks_due"], mine["rates"]["overdue_count"]) == (1, 1)
    assert [(e["rule"], e["task_id"]) for e in mine["entries"]] == [("overdue.lead", overdue)]
    notices = wait_until(lambda: len(n := task_notices(stack, lead, INTRUDER)) >= 2 and n,
                         what="the intruder tenant's notices")
    assert sorted((n["kind"], n["task_id"]) for n in notices) == [("assigned", assigned),
                                                                   ("overdue", overdue)]

    assert default_views(stack, lead) == before  # the default tenant sees nothing of it
    assert (before["score"]["rates"]["tasks_due"], before["score"]["rates"]["overdue_count"]) == (1, 1)
    assert before["inbox_tasks"] == {overdue_task["task_id"]}
    # The intruder's data is the intruder's: only its own tokens see it.
    stranger = stack.as_("unit_head", unit(), service="scoring", tenant=INTRUDER)
    assert stranger.get(f"/api/v1/units/{lead}/score").status_code == 404


def test_an_event_about_a_task_another_tenant_holds_is_dead_lettered_and_changes_nothing(
        stack, overdue_task):
    lead, task_id = overdue_task["unit"], overdue_task["task_id"]
    before, intruder_before = default_views(stack, lead), score(stack, lead, INTRUDER)
    forged = event(OVERDUE, INTRUDER, overdue_data(task_id, lead))
    send(stack, forged)

    message = dead_letter(stack, "scoring", "tracking", containing=forged["id"])
    error = message.headers["Duban-Error"]
    assert error.startswith("PoisonMessage")
    assert task_id in error and "'default'" in error and f"'{INTRUDER}'" in error
    assert message.headers["Duban-Consumer"] == "scoring__duban_tracking"
    assert message.headers["Duban-Deliveries"] == "1"  # dead-lettered at once, not retried

    assert default_views(stack, lead) == before
    assert score(stack, lead, INTRUDER) == intruder_before  # nothing applied for the intruder either
