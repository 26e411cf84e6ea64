"""The foundation slice through all four services on a real bus (SQLite and PostgreSQL)."""

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.helpers import (
    advance_clock, inbox, register, score, simulated_now, task, tasks_led, unit, wait_for_task, year_of,
)
from tests.support import wait_until

pytestmark = pytest.mark.e2e


def test_item_with_two_tasks_reaches_tracking_notify_and_scoring(stack):
    a, b = unit(), unit()
    item = register(stack, a, b)

    assert len(item["tasks"]) == 2
    assert stack.intake.get(f"/api/v1/items/{item['id']}").json()["tasks"] == item["tasks"]
    for t, lead in zip(item["tasks"], (a, b), strict=True):
        tracked = wait_for_task(stack, t["id"])
        assert tracked["lead_unit"] == lead
        assert tracked["status"] == "assigned"
        assert tracked["overdue"] is False
    for lead, t in ((a, item["tasks"][0]), (b, item["tasks"][1])):
        notices = wait_until(lambda: inbox(stack, lead), what=f"notice for {lead}")
        assert [(n["kind"], n["task_id"]) for n in notices] == [("assigned", t["id"])]
        due = datetime.fromisoformat(t["due"])
        wait_until(lambda: tasks_led(stack, lead, due) == 1, what=f"scoring to know {lead}'s task")
        for period in (None, year_of(due)):  # nothing earned yet, this year or in the deadline's
            counts = score(stack, lead, period)
            assert counts["rates"]["overdue_count"] == 0 and counts["entries"] == []
            assert counts["total"] == counts["base"] == 100


def test_bad_body_is_422_naming_the_fields_and_stores_nothing(stack):
    lead = unit()
    bad = {
        "title": "",
        "source": {"kind": "rumour"},
        "tasks": [{"lead_unit": lead, "due": "2026-12-01T17:30:00"}],
    }
    response = stack.intake.post("/api/v1/items", json=bad)
    assert response.status_code == 422
    locations = {tuple(e["loc"]) for e in response.json()["detail"]}
    assert {("body", "title"), ("body", "source", "kind"), ("body", "tasks", 0, "due")} <= locations

    past = simulated_now(stack) - timedelta(days=1)
    good_then_bad = {
        "title": "t",
        "source": {"kind": "other"},
        "tasks": [
            {"lead_unit": lead, "due": (past + timedelta(days=30)).isoformat()},
            {"lead_unit": lead, "due": past.isoformat()},
        ],
    }
    response = stack.intake.post("/api/v1/items", json=good_then_bad)
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "tasks", 1, "due"]]

    # Nothing half-written: a later good item is the only thing the unit ever receives.
    item = register(stack, lead)
    notices = wait_until(lambda: inbox(stack, lead), what="the good item's notice")
    assert [n["task_id"] for n in notices] == [item["tasks"][0]["id"]]


def test_unknown_ids_are_404(stack):
    assert stack.intake.get("/api/v1/items/nope").status_code == 404
    assert stack.tracking.get("/api/v1/tasks/nope").status_code == 404


def test_deadline_passing_gives_one_overdue_event_notice_and_ledger_entry(stack):
    lead, other = unit(), unit()
    now = simulated_now(stack)
    item = register(stack, lead, due=now + timedelta(hours=2))
    later = register(stack, other, due=now + timedelta(days=30))
    task_id = item["tasks"][0]["id"]
    wait_for_task(stack, task_id)
    wait_for_task(stack, later["tasks"][0]["id"])

    advance_clock(stack, timedelta(hours=3))

    overdue = wait_until(lambda: (t := task(stack, task_id))["overdue_at"] and t, what="overdue flag")
    assert overdue["overdue"] is True
    wait_until(lambda: any(n["kind"] == "overdue" for n in inbox(stack, lead)), what="overdue notice")
    entries = wait_until(lambda: score(stack, lead)["entries"], what="ledger entry")
    # Let scans and deliveries run a few more rounds: nothing may fire twice.
    advance_clock(stack, timedelta(minutes=1))
    time.sleep(2.5)

    # reminders and warnings have tests of their own
    notices = [n for n in inbox(stack, lead) if n["kind"] in ("assigned", "overdue")]
    assert sorted(n["kind"] for n in notices) == ["assigned", "overdue"]
    final = score(stack, lead)
    assert final["rates"]["overdue_count"] == 1
    assert [(e["rule"], e["task_id"]) for e in final["entries"]] == [("overdue.lead", task_id)]
    assert final["entries"][0]["points"] < 0 and final["total"] < final["base"]
    assert final["entries"][0]["cause_event_id"] == entries[0]["cause_event_id"]
    overdue_notice = next(n for n in notices if n["kind"] == "overdue")
    assert overdue_notice["cause_event_id"] == entries[0]["cause_event_id"]
    # The task due in 30 days is untouched.
    assert task(stack, later["tasks"][0]["id"])["overdue"] is False
    assert score(stack, other)["entries"] == []


def test_items_are_numbered_per_year(stack):
    first, second = register(stack, unit()), register(stack, unit())
    year = simulated_now(stack).astimezone(ZoneInfo("Asia/Shanghai")).year
    prefix, number = first["number"].rsplit("-", 1)
    assert prefix == f"DB-{year}" and len(number) == 4
    assert second["number"] == f"DB-{year}-{int(number) + 1:04d}"


def test_same_idempotency_key_twice_creates_one_item(stack):
    lead = unit()
    body = {"title": "热线工单", "source": {"kind": "hotline_case", "ref": "12345-0099"},
            "tasks": [{"lead_unit": lead, "due": "2099-01-01T00:00:00+08:00"}]}
    headers = {"Idempotency-Key": f"oa-{lead}"}
    first = stack.intake.post("/api/v1/items", json=body, headers=headers)
    again = stack.intake.post("/api/v1/items", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers

    other = stack.intake.post("/api/v1/items", json={**body, "title": "另一件"}, headers=headers)
    assert other.status_code == 422 and "different request" in other.json()["detail"]

    wait_until(lambda: inbox(stack, lead), what="the one notice")
    time.sleep(1)
    assert len(inbox(stack, lead)) == 1
    assert tasks_led(stack, lead, datetime.fromisoformat(body["tasks"][0]["due"])) == 1
