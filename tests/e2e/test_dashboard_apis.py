"""The read-only routes the dashboards use: tracking's open tasks by unit (overdue, stagnant) and
intake's items by supervising leader — each narrowed to the caller's scope."""

import uuid
from datetime import timedelta

import pytest

from tests.e2e.helpers import advance_clock, org_units, simulated_now, wait_for_task
from tests.support import wait_until

pytestmark = pytest.mark.e2e


def register(stack, lead: str, due, leader: str = "", co_units=()) -> dict:
    body = {"title": "看板测试事项", "source": {"kind": "other"}, "supervising_leader": leader,
            "tasks": [{"lead_unit": lead, "co_units": list(co_units), "due": due.isoformat()}]}
    response = stack.intake.post("/api/v1/items", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def by_unit(client, **params) -> dict[str, tuple[int, int, int]]:
    response = client.get("/api/v1/tasks/by-unit", params=params)
    assert response.status_code == 200, response.text
    return {r["unit"]: (r["open"], r["overdue"], r["stagnant"]) for r in response.json()}


def test_open_tasks_by_unit_count_overdue_and_stagnant_within_scope(stack):
    tree = org_units(stack, {"root": None, "a": "root", "a1": "a", "b": "root"})
    now = simulated_now(stack)
    late = register(stack, tree["a"], now + timedelta(hours=1))["tasks"][0]["id"]
    idle = register(stack, tree["a1"], now + timedelta(days=200))["tasks"][0]["id"]
    busy = register(stack, tree["b"], now + timedelta(days=200))["tasks"][0]["id"]
    for task_id in (late, idle, busy):
        wait_for_task(stack, task_id)
    advance_clock(stack, timedelta(days=12))  # past a's deadline; more than 5 working days idle
    head_b = stack.as_("unit_head", tree["b"])
    wait_until(lambda: head_b.post(f"/api/v1/tasks/{busy}/sign").status_code == 200,
               what="b's task signed")  # activity: b's task is not stagnant

    expected = {tree["a"]: (1, 1, 1), tree["a1"]: (1, 0, 1), tree["b"]: (1, 0, 0)}
    wait_until(lambda: by_unit(stack.tracking, unit=tree["root"]) == expected,
               what="the counts to follow the clock")
    assert by_unit(stack.as_("leader"), unit=tree["a"]) == {
        tree["a"]: (1, 1, 1), tree["a1"]: (1, 0, 1)}
    head_a = stack.as_("unit_head", tree["a"])
    assert by_unit(head_a) == {tree["a"]: (1, 1, 1), tree["a1"]: (1, 0, 1)}  # its own subtree
    assert head_a.get("/api/v1/tasks/by-unit", params={"unit": tree["b"]}).status_code == 403
    # a closed task is not open: accept b's (sign → submit → accept) and it leaves the counts
    assert head_b.post(f"/api/v1/tasks/{busy}/submit", json={}).status_code == 200
    review = stack.tracking.post(f"/api/v1/tasks/{busy}/review", json={"decision": "accept"})
    assert review.status_code == 200, review.text
    assert tree["b"] not in by_unit(stack.tracking, unit=tree["root"])


def test_items_by_supervising_leader_newest_first_within_scope(stack):
    tree = org_units(stack, {"a": None, "b": None})
    leader, other = f"王-{uuid.uuid4().hex[:6]}", f"李-{uuid.uuid4().hex[:6]}"
    due = simulated_now(stack) + timedelta(days=100)
    first = register(stack, tree["a"], due, leader)
    second = register(stack, tree["b"], due, leader, co_units=[tree["a"]])
    third = register(stack, tree["b"], due, leader)
    register(stack, tree["b"], due, other)

    as_leader = stack.as_("leader", service="intake")
    found = as_leader.get("/api/v1/items", params={"supervising_leader": leader})
    assert found.status_code == 200, found.text
    assert [i["id"] for i in found.json()] == [third["id"], second["id"], first["id"]]
    assert {i["supervising_leader"] for i in found.json()} == {leader}
    both = as_leader.get("/api/v1/items", params={"supervising_leader": [leader, other], "limit": 2})
    assert len(both.json()) == 2

    head_a = stack.as_("unit_head", tree["a"], service="intake")  # sees items naming unit a only
    mine = head_a.get("/api/v1/items", params={"supervising_leader": leader}).json()
    assert [i["id"] for i in mine] == [second["id"], first["id"]]
    cancelled = wait_until(lambda: (r := stack.tracking.post(
        f"/api/v1/tasks/{third['tasks'][0]['id']}/cancel", json={"comment": "重复"})).status_code == 200
        and r, what="the third item's task in tracking")
    assert cancelled.json()["status"] == "cancelled"  # its only task: the item is closed off (销号)
    wait_until(lambda: stack.intake.get(f"/api/v1/items/{third['id']}").json()["status"] == "closed",
               what="intake to close the item")
    still_open = as_leader.get("/api/v1/items", params={"supervising_leader": leader, "open": "true"})
    assert [i["id"] for i in still_open.json()] == [second["id"], first["id"]]
    other_tenant = stack.as_("office", service="intake", tenant="other")
    assert other_tenant.get("/api/v1/items", params={"supervising_leader": leader}).json() == []
    assert as_leader.get("/api/v1/items").status_code == 422
    assert as_leader.get("/api/v1/items", params={"supervising_leader": " "}).status_code == 422
    assert stack.anonymous("intake").get(
        "/api/v1/items", params={"supervising_leader": leader}).status_code == 401
