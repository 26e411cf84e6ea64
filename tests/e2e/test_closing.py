"""An item runs to 销号: every task accepted closes it off the ledger, once."""

import time

import pytest

from tests.e2e.helpers import published, run_to_acceptance, unit, wait_for_task
from tests.support import wait_until

pytestmark = pytest.mark.e2e


def item_closed_events(stack, item_id: str) -> list[dict]:
    return published(stack, "duban.intake.item.closed.v1", item_id=item_id)


def test_leader_instruction_over_three_units_with_a_co_unit_runs_to_closing(stack):
    a, b, c, helper = unit(), unit(), unit(), unit()
    response = stack.intake.post("/api/v1/items", json={
        "title": "落实领导批示：冬季安全生产大检查", "source": {"kind": "leader_instruction", "ref": "批示〔2026〕31号"},
        "tasks": [
            {"lead_unit": a, "co_units": [helper], "due": "2099-01-01T17:30:00+08:00", "title": "排查隐患"},
            {"lead_unit": b, "due_working_days": 10, "title": "整改落实"},
            {"lead_unit": c, "due": "2099-02-01T17:30:00+08:00", "title": "总结上报"},
        ],
    })
    assert response.status_code == 201, response.text
    item = response.json()
    assert item["status"] == "open" and item["progress"] == {"closed": 0, "total": 3}
    tasks = {t["lead_unit"]: t["id"] for t in item["tasks"]}
    for task_id in tasks.values():
        wait_for_task(stack, task_id)

    run_to_acceptance(stack, tasks[a], a)
    run_to_acceptance(stack, tasks[b], b)
    partly = wait_until(lambda: (i := stack.intake.get(f"/api/v1/items/{item['id']}").json())
                        ["progress"]["closed"] == 2 and i, what="2 of 3 closed")
    assert partly["status"] == "open" and partly["closed_at"] is None
    assert item_closed_events(stack, item["id"]) == []

    run_to_acceptance(stack, tasks[c], c)
    closed = wait_until(lambda: (i := stack.intake.get(f"/api/v1/items/{item['id']}").json())
                        ["status"] == "closed" and i, what="销号")
    assert closed["progress"] == {"closed": 3, "total": 3}
    assert {t["status"] for t in closed["tasks"]} == {"accepted"}
    events = wait_until(lambda: item_closed_events(stack, item["id"]), what="item.closed event")
    time.sleep(1)
    assert len(item_closed_events(stack, item["id"])) == 1
    assert events[0]["number"] == item["number"] and events[0]["tasks_total"] == 3


def test_cancelled_tasks_count_as_closed(stack):
    lead, other = unit(), unit()
    item = stack.intake.post("/api/v1/items", json={
        "title": "t", "source": {"kind": "other"},
        "tasks": [{"lead_unit": lead, "due": "2099-01-01T00:00:00+08:00"},
                  {"lead_unit": other, "due": "2099-01-01T00:00:00+08:00"}],
    }).json()
    first, second = (t["id"] for t in item["tasks"])
    wait_for_task(stack, first)
    wait_for_task(stack, second)
    cancelled = stack.tracking.post(f"/api/v1/tasks/{first}/cancel", json={"comment": "并入他项"})
    assert cancelled.status_code == 200, cancelled.text
    run_to_acceptance(stack, second, other)
    closed = wait_until(lambda: (i := stack.intake.get(f"/api/v1/items/{item['id']}").json())
                        ["status"] == "closed" and i, what="销号 with a cancelled task")
    assert sorted(t["status"] for t in closed["tasks"]) == ["accepted", "cancelled"]
