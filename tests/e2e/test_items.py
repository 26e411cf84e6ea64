"""An item's attributes, and tasks added to it later."""

import pytest

from tests.e2e.helpers import inbox, unit, wait_for_task
from tests.support import wait_until

pytestmark = pytest.mark.e2e


def full_item(lead: str) -> dict:
    return {
        "title": "年度重点工作：矿区生态修复",
        "source": {"kind": "annual_key_work", "ref": "2026年工作报告"},
        "regime": "comprehensive",
        "urgency": "urgent",
        "supervising_leader": "张副总",
        "supervisor": "李督办员",
        "requirements": "按季度推进，年底前完成验收。",
        "attachments": [{"name": "实施方案.docx", "ref": "OA-2026-0815"}],
        "tasks": [{
            "lead_unit": lead, "responsible_person": "王主任", "due": "2099-12-31T17:30:00+08:00",
            "milestones": [{"title": "完成方案", "due": "2099-03-31T17:30:00+08:00"}],
            "reporting_cycle": "month", "report_due_day": 5,
        }],
    }


def test_an_item_keeps_every_attribute_the_office_gives_it(stack):
    lead = unit()
    body = full_item(lead)
    created = stack.intake.post("/api/v1/items", json=body)
    assert created.status_code == 201, created.text
    item = stack.intake.get(f"/api/v1/items/{created.json()['id']}").json()
    for field in ("regime", "urgency", "supervising_leader", "supervisor", "requirements", "attachments"):
        assert item[field] == body[field], field
    task = item["tasks"][0]
    assert (task["responsible_person"], task["reporting_cycle"], task["report_due_day"]) == ("王主任", "month", 5)
    assert task["milestones"][0]["title"] == "完成方案"
    tracked = wait_for_task(stack, task["id"])
    assert (tracked["regime"], tracked["urgency"], tracked["supervisor"], tracked["item_number"]) == (
        "comprehensive", "urgent", "李督办员", item["number"])
    assert (tracked["reporting_cycle"], tracked["report_due_day"], tracked["responsible_person"]) == (
        "month", 5, "王主任")


def test_bad_attributes_are_422_naming_the_field(stack):
    body = full_item(unit())
    body["urgency"] = "whenever"
    body["tasks"][0]["reporting_cycle"] = "fortnight"
    body["tasks"][0]["milestones"][0]["due"] = "2100-01-01T00:00:00+08:00"  # after the task's deadline
    response = stack.intake.post("/api/v1/items", json=body)
    assert response.status_code == 422
    locations = {tuple(e["loc"]) for e in response.json()["detail"]}
    assert {("body", "urgency"), ("body", "tasks", 0, "reporting_cycle")} <= locations


def test_tasks_added_later_are_assigned_and_a_closed_item_takes_none(stack):
    first, later = unit(), unit()
    item = stack.intake.post("/api/v1/items", json={
        "title": "追加任务", "source": {"kind": "meeting_decision", "ref": "第12次党委会"},
        "tasks": [{"lead_unit": first, "due": "2099-01-01T00:00:00+08:00"}],
    }).json()
    added = stack.intake.post(f"/api/v1/items/{item['id']}/tasks", json={
        "tasks": [{"lead_unit": later, "due_working_days": 5, "title": "补充任务"}],
    })
    assert added.status_code == 201, added.text
    tasks = added.json()["tasks"]
    assert [t["lead_unit"] for t in tasks] == [first, later]
    assert added.json()["progress"] == {"closed": 0, "total": 2}
    wait_for_task(stack, tasks[1]["id"])
    wait_until(lambda: inbox(stack, later), what="notice for the added task")

    for task in tasks:
        wait_for_task(stack, task["id"])
        stack.tracking.post(f"/api/v1/tasks/{task['id']}/cancel", json={})
    wait_until(lambda: stack.intake.get(f"/api/v1/items/{item['id']}").json()["status"] == "closed",
               what="销号")
    refused = stack.intake.post(f"/api/v1/items/{item['id']}/tasks", json={
        "tasks": [{"lead_unit": later, "due_working_days": 5}]})
    assert refused.status_code == 409 and "销号" in refused.json()["detail"]
    assert stack.intake.post("/api/v1/items/nope/tasks", json={
        "tasks": [{"lead_unit": later, "due_working_days": 5}]}).status_code == 404
