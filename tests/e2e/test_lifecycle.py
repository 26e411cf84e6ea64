"""A task's lifecycle in tracking, through the real services and bus."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.helpers import (
    published,
    advance_clock, inbox, register, score, set_clock, simulated_now, task, unit, wait_for_task,
)
from tests.support import wait_until

pytestmark = pytest.mark.e2e


def act(client, task_id: str, action: str, **body):
    """``client``: the lead unit's (``stack.as_("unit_head", lead)``) or the office's."""
    return client.post(f"/api/v1/tasks/{task_id}/{action}", json=body or None)


def status_events(stack, task_id: str) -> list[dict]:
    return published(stack, "duban.tracking.task.status_changed.v1", task_id=task_id)


def test_hotline_case_returned_once_redone_and_accepted(stack):
    lead = unit()
    task_id = register(stack, lead)["tasks"][0]["id"]
    wait_for_task(stack, task_id)
    handler, head, office = stack.as_("unit_handler", lead), stack.as_("unit_head", lead), stack.tracking

    steps = [
        (handler, "sign", {}, "signed"),
        (handler, "progress", {"comment": "已联系市民，正在整改"}, "in_progress"),
        (head, "submit", {"comment": "整改完毕"}, "submitted"),
        (office, "review", {"decision": "return", "comment": "缺少现场照片"}, "in_progress"),
        (head, "submit", {"comment": "补充照片"}, "submitted"),
        (office, "review", {"decision": "accept"}, "accepted"),
    ]
    for client, action, body, expected in steps:
        response = act(client, task_id, action, **body)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == expected

    task = response.json()
    assert task["returns"] == 1 and task["allowed_actions"] == []
    assert [(h["action"], h["from_status"], h["to_status"]) for h in task["history"]] == [
        ("sign", "assigned", "signed"), ("progress", "signed", "in_progress"),
        ("submit", "in_progress", "submitted"), ("return", "submitted", "in_progress"),
        ("submit", "in_progress", "submitted"), ("accept", "submitted", "accepted"),
    ]
    assert task["history"][3]["comment"] == "缺少现场照片" and task["history"][3]["actor"] == "office@default"
    assert [h["actor"] for h in task["history"][:3]] == [f"unit_handler@{lead}"] * 2 + [f"unit_head@{lead}"]
    assert task["overdue"] is False and task["light"] == "green"

    events = wait_until(lambda: (e := status_events(stack, task_id)) and len(e) >= 6 and e,
                        what="six status events relayed")
    assert [(e["action"], e["to_status"], e["actor"]) for e in events] == [
        (h["action"], h["to_status"], h["actor"]) for h in task["history"]
    ]


def test_a_move_the_state_does_not_allow_is_409_with_the_reason_and_changes_nothing(stack):
    lead = unit()
    task_id = register(stack, lead)["tasks"][0]["id"]
    before = wait_for_task(stack, task_id)

    response = act(stack.as_("unit_head", lead), task_id, "submit")
    assert response.status_code == 409
    assert "sign for it first" in response.json()["detail"]
    response = act(stack.tracking, task_id, "review", decision="accept")
    assert response.status_code == 409
    assert "only a submitted task can be reviewed" in response.json()["detail"]

    after = stack.tracking.get(f"/api/v1/tasks/{task_id}").json()
    assert after["status"] == before["status"] == "assigned" and after["history"] == []
    assert status_events(stack, task_id) == []


def test_suspend_stops_the_clock_and_resume_returns_to_where_it_was(stack):
    lead = unit()
    task_id = register(stack, lead)["tasks"][0]["id"]
    wait_for_task(stack, task_id)
    head, office = stack.as_("unit_head", lead), stack.tracking
    act(head, task_id, "sign")
    suspended = act(office, task_id, "suspend", comment="等待上级批复").json()
    assert suspended["status"] == "suspended" and suspended["allowed_actions"] == ["cancel", "resume"]
    assert suspended["history"][-1]["actor"] == "office@default"
    assert act(head, task_id, "progress").status_code == 409
    assert act(office, task_id, "resume").json()["status"] == "signed"
    cancelled = act(office, task_id, "cancel", comment="事项撤销").json()
    assert cancelled["status"] == "cancelled"
    assert act(head, task_id, "sign").status_code == 409


def test_unknown_task_and_bad_review_body(stack):
    assert act(stack.as_("unit_head", unit()), "no-such-task", "sign").status_code == 404
    task_id = register(stack, unit())["tasks"][0]["id"]
    wait_for_task(stack, task_id)
    response = act(stack.tracking, task_id, "review", decision="approve")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "decision"]


def test_pending_extension_stops_a_task_turning_red_and_a_grant_moves_the_deadline(stack):
    lead, control = unit(), unit()
    now = simulated_now(stack)
    task_id = register(stack, lead, due=now + timedelta(hours=4))["tasks"][0]["id"]
    control_id = register(stack, control, due=now + timedelta(hours=4))["tasks"][0]["id"]
    wait_for_task(stack, task_id)
    wait_for_task(stack, control_id)
    head = stack.as_("unit_head", lead)
    act(head, task_id, "sign")

    new_due = (now + timedelta(days=10)).isoformat()
    asked = act(head, task_id, "extension", new_due=new_due, reason="设备到货延迟")
    assert asked.status_code == 200, asked.text
    assert asked.json()["extension"]["reason"] == "设备到货延迟"
    assert asked.json()["history"][-1]["actor"] == f"unit_head@{lead}"
    assert act(head, task_id, "extension", new_due=new_due, reason="again").status_code == 409

    advance_clock(stack, timedelta(hours=5))  # past the old deadline while the request is pending
    wait_until(lambda: task(stack, control_id)["overdue_at"], what="the control task to go overdue")
    pending = task(stack, task_id)
    assert pending["light"] == "yellow" and pending["overdue_at"] is None
    assert not any(n["kind"] == "overdue" for n in inbox(stack, lead))
    assert [e for e in score(stack, lead)["entries"] if e["rule"].startswith("overdue")] == []

    granted = act(stack.tracking, task_id, "extension/decide", decision="grant", comment="同意延期")
    assert granted.status_code == 200, granted.text
    body = granted.json()
    assert body["extension"] is None and body["light"] != "red" and body["overdue"] is False
    assert datetime.fromisoformat(body["due"]) == datetime.fromisoformat(new_due)
    assert [h["action"] for h in body["history"]][-2:] == ["extension_request", "extension_grant"]
    assert act(stack.tracking, task_id, "extension/decide", decision="refuse").status_code == 409


def test_an_acceptance_after_the_deadline_carries_the_working_days_late_and_the_co_units(stack):
    beijing = "+08:00"
    lead, same_day, co_a, co_b = unit(), unit(), unit(), unit()
    set_clock(stack, datetime.fromisoformat(f"2026-09-29T10:00:00{beijing}"))
    try:
        response = stack.intake.post("/api/v1/items", json={
            "title": "国庆前须办结的整改", "source": {"kind": "superior_requirement", "ref": "上级通知"},
            "tasks": [
                {"lead_unit": lead, "co_units": [co_a, co_b], "due": f"2026-09-30T17:30:00{beijing}"},
                {"lead_unit": same_day, "due": f"2026-10-10T09:00:00{beijing}"},
            ],
        })
        assert response.status_code == 201, response.text
        task_id, same_day_id = (t["id"] for t in response.json()["tasks"])
        assert wait_for_task(stack, task_id)["co_units"] == [co_a, co_b]
        wait_for_task(stack, same_day_id)
        head = stack.as_("unit_head", lead)
        assert act(head, task_id, "sign").status_code == 200
        reported = head.post(f"/api/v1/tasks/{task_id}/reports", json={"text": "已完成大部分整改"})
        assert reported.status_code == 201, reported.text
        assert act(head, task_id, "submit", comment="整改完毕").status_code == 200
        same_day_head = stack.as_("unit_head", same_day)
        for action in ("sign", "submit"):
            assert act(same_day_head, same_day_id, action).status_code == 200

        # 10-01..10-07 are the National Day holiday; 10-08, 10-09 and Saturday 10-10 (调休) work
        set_clock(stack, datetime.fromisoformat(f"2026-10-10T10:00:00{beijing}"))
        overdue = wait_until(
            lambda: published(stack, "duban.tracking.task.overdue.v1", task_id=task_id),
            what="the overdue event")
        assert overdue[0]["co_units"] == [co_a, co_b]
        for accepted in (task_id, same_day_id):
            response = act(stack.tracking, accepted, "review", decision="accept")
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "accepted"

        events = wait_until(lambda: (e := status_events(stack, task_id)) and len(e) >= 4 and e,
                            what="four status events relayed")
        assert [(e["action"], e["working_days_late"], e["co_units"]) for e in events] == [
            ("sign", 0, [co_a, co_b]), ("progress", 0, [co_a, co_b]),
            ("submit", 0, [co_a, co_b]), ("accept", 3, [co_a, co_b]),
        ]
        # Late, but on the deadline's own day: no whole working day late.
        events = wait_until(lambda: (e := status_events(stack, same_day_id)) and len(e) >= 3 and e,
                            what="three status events relayed")
        assert [(e["action"], e["working_days_late"], e["co_units"]) for e in events] == [
            ("sign", 0, []), ("submit", 0, []), ("accept", 0, []),
        ]
        assert datetime.fromisoformat(events[-1]["at"]) > datetime.fromisoformat(events[-1]["due"])
    finally:
        set_clock(stack, datetime.now(UTC))
