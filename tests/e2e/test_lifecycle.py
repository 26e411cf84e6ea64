"""A task's lifecycle in tracking, through the real services and bus."""

from datetime import datetime, timedelta

import pytest

from tests.e2e.helpers import (
    published,
    advance_clock, inbox, register, score, simulated_now, task, unit, wait_for_task,
)
from tests.support import wait_until

pytestmark = pytest.mark.e2e


def act(stack, task_id: str, action: str, **body):
    return stack.tracking.post(f"/api/v1/tasks/{task_id}/{action}", json=body or None)


def status_events(stack, task_id: str) -> list[dict]:
    return published(stack, "duban.tracking.task.status_changed.v1", task_id=task_id)


def test_hotline_case_returned_once_redone_and_accepted(stack):
    lead = unit()
    task_id = register(stack, lead)["tasks"][0]["id"]
    wait_for_task(stack, task_id)

    steps = [
        ("sign", {"actor": f"{lead}-handler"}, "signed"),
        ("progress", {"actor": f"{lead}-handler", "comment": "已联系市民，正在整改"}, "in_progress"),
        ("submit", {"actor": f"{lead}-handler", "comment": "整改完毕"}, "submitted"),
        ("review", {"decision": "return", "actor": "office", "comment": "缺少现场照片"}, "in_progress"),
        ("submit", {"actor": f"{lead}-handler", "comment": "补充照片"}, "submitted"),
        ("review", {"decision": "accept", "actor": "office"}, "accepted"),
    ]
    for action, body, expected in steps:
        response = act(stack, task_id, action, **body)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == expected

    task = response.json()
    assert task["returns"] == 1 and task["allowed_actions"] == []
    assert [(h["action"], h["from_status"], h["to_status"]) for h in task["history"]] == [
        ("sign", "assigned", "signed"), ("progress", "signed", "in_progress"),
        ("submit", "in_progress", "submitted"), ("return", "submitted", "in_progress"),
        ("submit", "in_progress", "submitted"), ("accept", "submitted", "accepted"),
    ]
    assert task["history"][3]["comment"] == "缺少现场照片" and task["history"][3]["actor"] == "office"
    assert task["overdue"] is False and task["light"] == "green"

    events = wait_until(lambda: (e := status_events(stack, task_id)) and len(e) >= 6 and e,
                        what="six status events relayed")
    assert [(e["action"], e["to_status"]) for e in events] == [
        (h["action"], h["to_status"]) for h in task["history"]
    ]


def test_a_move_the_state_does_not_allow_is_409_with_the_reason_and_changes_nothing(stack):
    task_id = register(stack, unit())["tasks"][0]["id"]
    before = wait_for_task(stack, task_id)

    response = act(stack, task_id, "submit")
    assert response.status_code == 409
    assert "sign for it first" in response.json()["detail"]
    response = act(stack, task_id, "review", decision="accept")
    assert response.status_code == 409
    assert "only a submitted task can be reviewed" in response.json()["detail"]

    after = stack.tracking.get(f"/api/v1/tasks/{task_id}").json()
    assert after["status"] == before["status"] == "assigned" and after["history"] == []
    assert status_events(stack, task_id) == []


def test_suspend_stops_the_clock_and_resume_returns_to_where_it_was(stack):
    task_id = register(stack, unit())["tasks"][0]["id"]
    wait_for_task(stack, task_id)
    act(stack, task_id, "sign")
    suspended = act(stack, task_id, "suspend", actor="office", comment="等待上级批复").json()
    assert suspended["status"] == "suspended" and suspended["allowed_actions"] == ["cancel", "resume"]
    assert act(stack, task_id, "progress").status_code == 409
    assert act(stack, task_id, "resume", actor="office").json()["status"] == "signed"
    cancelled = act(stack, task_id, "cancel", actor="office", comment="事项撤销").json()
    assert cancelled["status"] == "cancelled"
    assert act(stack, task_id, "sign").status_code == 409


def test_unknown_task_and_bad_review_body(stack):
    assert act(stack, "no-such-task", "sign").status_code == 404
    task_id = register(stack, unit())["tasks"][0]["id"]
    wait_for_task(stack, task_id)
    response = act(stack, task_id, "review", decision="approve")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "decision"]


def test_pending_extension_stops_a_task_turning_red_and_a_grant_moves_the_deadline(stack):
    lead, control = unit(), unit()
    now = simulated_now(stack)
    task_id = register(stack, lead, due=now + timedelta(hours=4))["tasks"][0]["id"]
    control_id = register(stack, control, due=now + timedelta(hours=4))["tasks"][0]["id"]
    wait_for_task(stack, task_id)
    wait_for_task(stack, control_id)
    act(stack, task_id, "sign")

    new_due = (now + timedelta(days=10)).isoformat()
    asked = act(stack, task_id, "extension", new_due=new_due, reason="设备到货延迟", actor=lead)
    assert asked.status_code == 200, asked.text
    assert asked.json()["extension"]["reason"] == "设备到货延迟"
    assert act(stack, task_id, "extension", new_due=new_due, reason="again").status_code == 409

    advance_clock(stack, timedelta(hours=5))  # past the old deadline while the request is pending
    wait_until(lambda: task(stack, control_id)["overdue_at"], what="the control task to go overdue")
    pending = task(stack, task_id)
    assert pending["light"] == "yellow" and pending["overdue_at"] is None
    assert not any(n["kind"] == "overdue" for n in inbox(stack, lead))
    assert score(stack, lead)["overdue"] == 0

    granted = act(stack, task_id, "extension/decide", decision="grant", actor="office",
                  comment="同意延期")
    assert granted.status_code == 200, granted.text
    body = granted.json()
    assert body["extension"] is None and body["light"] != "red" and body["overdue"] is False
    assert datetime.fromisoformat(body["due"]) == datetime.fromisoformat(new_due)
    assert [h["action"] for h in body["history"]][-2:] == ["extension_request", "extension_grant"]
    assert act(stack, task_id, "extension/decide", decision="refuse").status_code == 409
