"""Deadlines in working days, counted by tracking on the official calendar with 调休."""

from datetime import datetime

import pytest

from tests.e2e.helpers import inbox, set_clock, task, unit, wait_for_task
from tests.support import wait_until

pytestmark = pytest.mark.e2e
BEIJING = "+08:00"


def register_in_working_days(stack, lead: str, days: int) -> str:
    response = stack.intake.post("/api/v1/items", json={
        "title": "国庆前布置的整改", "source": {"kind": "superior_requirement", "ref": "上级通知"},
        "tasks": [{"lead_unit": lead, "due_working_days": days}],
    })
    assert response.status_code == 201, response.text
    assert response.json()["tasks"][0]["due"] is None
    assert response.json()["tasks"][0]["due_working_days"] == days
    return response.json()["tasks"][0]["id"]


def test_a_working_day_deadline_across_the_2026_national_day_holiday(stack):
    set_clock(stack, datetime.fromisoformat(f"2026-09-30T10:00:00{BEIJING}"))
    lead, far = unit(), unit()
    task_id = register_in_working_days(stack, lead, 3)
    far_id = register_in_working_days(stack, far, 70)  # runs into 2027: no holiday data yet

    tracked = wait_for_task(stack, task_id)
    # 10-01..10-07 are holidays, 10-08 and 10-09 working days, Saturday 10-10 a 调休 working day
    assert datetime.fromisoformat(tracked["due"]) == datetime.fromisoformat(f"2026-10-10T17:30:00{BEIJING}")
    assert tracked["due_working_days"] == 3 and tracked["calendar_fallback"] is False
    assert tracked["working_days_left"] == 3  # what the console shows: 剩余 3 个工作日
    assert wait_for_task(stack, far_id)["calendar_fallback"] is True
    notice = wait_until(lambda: inbox(stack, lead), what="assignment notice")[0]
    assert "3 个工作日内" in notice["body"]

    set_clock(stack, datetime.fromisoformat(f"2026-10-09T18:00:00{BEIJING}"))
    assert task(stack, task_id)["overdue"] is False
    assert task(stack, task_id)["working_days_left"] == 1  # Saturday 10-10 (调休) is left
    set_clock(stack, datetime.fromisoformat(f"2026-10-10T18:00:00{BEIJING}"))
    wait_until(lambda: task(stack, task_id)["overdue_at"], what="overdue on 10-10 evening")
    set_clock(stack, datetime.fromisoformat(f"2026-10-12T09:00:00{BEIJING}"))
    row = next(r for r in stack.tracking.get("/api/v1/tasks", params={"unit": lead}).json()["items"]
               if r["id"] == task_id)
    assert row["working_days_left"] == -1  # Sunday 10-11 is a day off: one working day late


def test_a_task_needs_exactly_one_kind_of_deadline(stack):
    for deadline in ({}, {"due": "2099-01-01T00:00:00+08:00", "due_working_days": 3},
                     {"due_working_days": 0}):
        response = stack.intake.post("/api/v1/items", json={
            "title": "t", "source": {"kind": "other"}, "tasks": [{"lead_unit": unit(), **deadline}],
        })
        assert response.status_code == 422, deadline
        assert response.json()["detail"][0]["loc"][:3] == ["body", "tasks", 0]
