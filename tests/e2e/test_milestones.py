"""Milestones (时间节点): reached by the unit, or flagged once when their date passes."""

import time
from datetime import timedelta

import pytest

from tests.e2e.helpers import advance_clock, inbox, published, simulated_now, unit, wait_for_task
from tests.support import wait_until

pytestmark = pytest.mark.e2e


def missed_events(stack, task_id: str) -> list[dict]:
    return published(stack, "duban.tracking.task.milestone_missed.v1", task_id=task_id)


def test_a_reached_milestone_is_kept_and_a_passed_one_is_flagged_once(stack):
    lead, now = unit(), simulated_now(stack)
    response = stack.intake.post("/api/v1/items", json={
        "title": "网络推进图", "source": {"kind": "annual_key_work"},
        "tasks": [{"lead_unit": lead, "due": (now + timedelta(days=30)).isoformat(), "milestones": [
            {"title": "完成方案", "due": (now + timedelta(days=2)).isoformat()},
            {"title": "完成施工", "due": (now + timedelta(days=10)).isoformat()},
        ]}],
    })
    assert response.status_code == 201, response.text
    task_id = response.json()["tasks"][0]["id"]
    task = wait_for_task(stack, task_id)
    assert [(m["title"], m["reached_at"], m["missed"]) for m in task["milestones"]] == [
        ("完成方案", None, False), ("完成施工", None, False)]

    handler = stack.as_("unit_handler", lead)
    handler.post(f"/api/v1/tasks/{task_id}/sign", json={})
    reached = handler.post(f"/api/v1/tasks/{task_id}/milestones/0/reach", json={})
    assert reached.status_code == 200, reached.text
    assert reached.json()["milestones"][0]["reached_at"] is not None
    assert reached.json()["history"][-1]["actor"] == f"unit_handler@{lead}"
    assert handler.post(f"/api/v1/tasks/{task_id}/milestones/0/reach", json={}).status_code == 409
    assert handler.post(f"/api/v1/tasks/{task_id}/milestones/7/reach", json={}).status_code == 404

    advance_clock(stack, timedelta(days=11))
    wait_until(lambda: missed_events(stack, task_id), what="milestone_missed")
    time.sleep(2)
    events = missed_events(stack, task_id)
    assert [(e["position"], e["milestone"]) for e in events] == [(1, "完成施工")]
    view = stack.tracking.get(f"/api/v1/tasks/{task_id}").json()
    assert [m["missed"] for m in view["milestones"]] == [False, True]
    wait_until(lambda: [n for n in inbox(stack, lead) if n["kind"] == "milestone_missed"],
               what="the milestone notice")
