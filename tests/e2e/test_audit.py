"""The audit trail shows who did what, when, from where and with what outcome, in order."""

import json

import pytest

from tests.e2e.helpers import unit, wait_for_task
from tests.support import ServiceStack

pytestmark = pytest.mark.e2e


def trail(stack: ServiceStack, service: str, **params) -> list[dict]:
    response = stack.client(service).get("/api/v1/audit", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    return response.json()


def new_entries(stack: ServiceStack, service: str, before: list[dict]) -> list[tuple]:
    seen = {e["id"] for e in before}
    return [(e["actor"], e["action"], e["outcome"], e["status"])
            for e in trail(stack, service) if e["id"] not in seen]


def test_a_lifecycle_leaves_its_actions_in_order_and_denials_too(stack):
    lead, other = unit(), unit()
    intake_before, tracking_before = trail(stack, "intake"), trail(stack, "tracking")
    head = stack.as_("unit_head", lead)

    item = stack.intake.post("/api/v1/items", json={
        "title": "审计测试事项", "source": {"kind": "leader_instruction", "ref": "批示1号"},
        "tasks": [{"lead_unit": lead, "due": "2100-01-01T00:00:00+08:00"}]}).json()
    task_id = item["tasks"][0]["id"]
    wait_for_task(stack, task_id)
    assert head.post(f"/api/v1/tasks/{task_id}/sign").status_code == 200
    assert stack.as_("unit_head", other).post(f"/api/v1/tasks/{task_id}/submit").status_code == 404
    assert head.post(f"/api/v1/tasks/{task_id}/submit", json={"comment": "已完成"}).status_code == 200
    assert stack.tracking.post(f"/api/v1/tasks/{task_id}/review",
                               json={"decision": "accept", "comment": "同意"}).status_code == 200
    assert stack.anonymous("tracking").post(f"/api/v1/tasks/{task_id}/sign").status_code == 401

    assert new_entries(stack, "intake", intake_before) == [
        ("office@default", "POST /api/v1/items", "ok", 201)]
    action = "POST /api/v1/tasks/{task_id}/"
    assert new_entries(stack, "tracking", tracking_before) == [
        (f"unit_head@{lead}", action + "sign", "ok", 200),
        (f"unit_head@{other}", action + "submit", "denied", 404),
        (f"unit_head@{lead}", action + "submit", "ok", 200),
        ("office@default", action + "review", "ok", 200),
    ]  # the anonymous attempt is kept too, under no tenant: no tenant's office can read it
    entry = trail(stack, "tracking")[-1]
    assert entry["target"] == {"task_id": task_id} and entry["client"] == "127.0.0.1"


def test_no_token_is_401_before_anything_else_even_a_broken_body(stack):
    with stack.anonymous("intake") as anonymous:
        response = anonymous.post("/api/v1/items", content=b"{not json",
                                  headers={"content-type": "application/json"})
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
        garbage = anonymous.get("/api/v1/units", headers={"authorization": "Bearer not.a.jwt"})
        assert garbage.status_code == 401 and "invalid token" in garbage.json()["detail"]


def test_the_trail_is_the_offices_and_holds_no_token(stack):
    token = stack.token("unit_head", unit())
    denied = stack.as_("unit_head", unit(), service="intake").post("/api/v1/items", json={})
    assert denied.status_code == 403
    for role in ("unit_head", "unit_handler", "leader", "viewer"):
        assert stack.as_(role, unit(), service="intake").get("/api/v1/audit").status_code == 403
    assert stack.as_("admin", service="intake").get("/api/v1/audit").status_code == 200
    entries = trail(stack, "intake", outcome="denied")
    assert any(e["action"] == "POST /api/v1/items" and e["status"] == 403 for e in entries)
    assert token not in json.dumps(entries) and "Bearer" not in json.dumps(entries)
    other_office = stack.as_("office", service="intake", tenant="other-group")
    assert other_office.post("/api/v1/items", json={"title": "x"}).status_code == 422
    other_trail = other_office.get("/api/v1/audit").json()
    assert {e["actor"] for e in other_trail} == {"office@other-group"}
