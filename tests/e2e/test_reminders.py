"""Reminders (催办): on schedule, each exactly once with two tracking replicas, none lost when one
is killed; and by hand from the office."""

import time
from datetime import datetime, timedelta

import pytest

from services.tracking.alerts import reminder_times
from services.tracking.domain import DEFAULT_POLICY
from shared.workdays import builtin_calendar
from tests.e2e.helpers import advance_clock, inbox, published, register, simulated_now, unit, wait_for_task
from tests.support import free_port, wait_until

pytestmark = pytest.mark.e2e


def reminders_on_the_bus(stack, task_id: str) -> list[dict]:
    return published(stack, "duban.tracking.task.reminded.v1", task_id=task_id)


def test_two_replicas_fire_each_reminder_once_and_a_killed_one_loses_none(stack):
    stack.stack.start_service("tracking", key="tracking-2", port=free_port())
    stack.stack.wait_ready(["tracking-2"])
    lead = unit()
    start = simulated_now(stack)
    item = register(stack, lead, due=start + timedelta(days=9))
    task_id = item["tasks"][0]["id"]
    task = wait_for_task(stack, task_id)
    due, assigned_at = datetime.fromisoformat(task["due"]), datetime.fromisoformat(task["assigned_at"])

    for day in range(1, 17):
        if day == 6:
            stack.kill("tracking")  # the first replica dies mid-run; tracking-2 carries on
        advance_clock(stack, timedelta(days=1))
        time.sleep(1.5)

    now = simulated_now(stack)
    expected = reminder_times(due=due, until=now, policy=DEFAULT_POLICY, calendar=builtin_calendar(),
                              assigned_at=assigned_at)
    assert len(expected) >= 5, expected  # 3 and 1 working days before, at the deadline, overdue
    fired = wait_until(lambda: (r := reminders_on_the_bus(stack, task_id)) and len(r) >= len(expected)
                       and r, timeout=20, what="every scheduled reminder")
    time.sleep(1)
    fired = reminders_on_the_bus(stack, task_id)
    assert [datetime.fromisoformat(r["scheduled_at"]) for r in fired] == expected
    assert all(r["kind"] == "auto" for r in fired)
    assert [r["overdue"] for r in fired] == [at >= due for at in expected]

    view = stack.client("tracking-2").get(f"/api/v1/tasks/{task_id}").json()
    assert [h["action"] for h in view["history"]].count("reminder") == len(expected)
    reminders = wait_until(lambda: [n for n in inbox(stack, lead) if n["kind"] == "reminder"]
                           if len([n for n in inbox(stack, lead) if n["kind"] == "reminder"])
                           >= len(expected) else None, what="reminder notices")
    assert len(reminders) == len(expected)
    stack.restart("tracking")


def test_the_office_urges_by_hand_and_closed_tasks_are_not_reminded(stack):
    lead = unit()
    task_id = register(stack, lead)["tasks"][0]["id"]
    wait_for_task(stack, task_id)
    urged = stack.tracking.post(f"/api/v1/tasks/{task_id}/urge", json={"comment": "请本周内反馈进展"})
    assert urged.status_code == 200, urged.text
    assert urged.json()["history"][-1]["action"] == "urge"
    assert urged.json()["history"][-1]["actor"] == "office@default"
    notice = wait_until(lambda: [n for n in inbox(stack, lead) if n["kind"] == "reminder"],
                        what="manual reminder notice")
    assert "请本周内反馈进展" in notice[0]["body"]

    assert stack.tracking.post(f"/api/v1/tasks/{task_id}/cancel", json={}).status_code == 200
    view = stack.tracking.get(f"/api/v1/tasks/{task_id}").json()
    assert view["next_reminder_at"] is None
    assert stack.tracking.post(f"/api/v1/tasks/{task_id}/urge", json={}).status_code == 409
