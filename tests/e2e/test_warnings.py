"""Warnings that fire once: approaching (the light turns yellow) and stagnant (no report or move)."""

import time
from datetime import datetime, timedelta

import pytest

from tests.e2e.helpers import inbox, published, set_clock, task, unit, wait_for_task
from tests.support import wait_until

pytestmark = pytest.mark.e2e
MONDAY = datetime.fromisoformat("2026-11-23T09:00:00+08:00")


def events(stack, kind: str, task_id: str) -> list[dict]:
    return published(stack, f"duban.tracking.task.{kind}.v1", task_id=task_id)


def register(stack, lead: str, due: datetime) -> str:
    response = stack.intake.post("/api/v1/items", json={
        "title": "预警测试", "source": {"kind": "other"}, "tasks": [{"lead_unit": lead, "due": due.isoformat()}]})
    assert response.status_code == 201, response.text
    task_id = response.json()["tasks"][0]["id"]
    wait_for_task(stack, task_id)
    return task_id


def settle() -> None:
    time.sleep(2.5)  # a couple of scans


def test_approaching_and_stagnant_fire_once_and_a_report_restarts_the_stagnation_clock(stack):
    set_clock(stack, MONDAY)
    lead = unit()
    task_id = register(stack, lead, due=MONDAY + timedelta(days=18))  # Friday two weeks on
    assert task(stack, task_id)["light"] == "green"

    set_clock(stack, MONDAY + timedelta(days=7))  # five working days idle: stagnant, still green
    wait_until(lambda: events(stack, "stagnant", task_id), what="stagnant event")
    assert task(stack, task_id)["stagnant"] is True and events(stack, "approaching", task_id) == []
    settle()
    assert len(events(stack, "stagnant", task_id)) == 1

    signed = stack.as_("unit_head", lead).post(f"/api/v1/tasks/{task_id}/sign")  # activity
    assert signed.status_code == 200, signed.text
    assert task(stack, task_id)["stagnant"] is False

    set_clock(stack, MONDAY + timedelta(days=15, hours=1))  # Tuesday before the Friday deadline
    wait_until(lambda: events(stack, "approaching", task_id), what="approaching event")
    assert task(stack, task_id)["light"] == "yellow"
    settle()
    assert len(events(stack, "approaching", task_id)) == 1
    assert len(events(stack, "stagnant", task_id)) == 2  # a new spell after the sign, once
    def warning_kinds() -> list[str] | None:
        kinds = [n["kind"] for n in inbox(stack, lead)]
        return kinds if kinds.count("stagnant") == 2 and "approaching" in kinds else None

    kinds = wait_until(warning_kinds, what="the warning notices")
    assert kinds.count("approaching") == 1
