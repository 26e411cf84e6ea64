"""A unit re-dispatches its task to its own sub-units; its progress follows theirs."""

import pytest

from tests.e2e.helpers import inbox, register, unit, wait_for_task
from tests.support import wait_until

pytestmark = pytest.mark.e2e


def tree(stack) -> dict[str, str]:
    ids = {name: unit() for name in ("mine", "shaft1", "shaft2", "other")}
    for name, parent in (("mine", None), ("shaft1", "mine"), ("shaft2", "mine"), ("other", None)):
        response = stack.intake.post("/api/v1/units", json={
            "id": ids[name], "name": name, "parent_id": ids[parent] if parent else None})
        assert response.status_code == 201, response.text
    return ids


def post(stack, task_id: str, action: str, **body):
    return stack.tracking.post(f"/api/v1/tasks/{task_id}/{action}", json=body)


def test_dispatch_to_sub_units_and_follow_their_progress(stack):
    ids = tree(stack)
    parent = register(stack, ids["mine"])["tasks"][0]["id"]
    wait_for_task(stack, parent)
    assert post(stack, parent, "dispatch", sub_tasks=[{"unit": ids["shaft1"]}]).status_code == 409  # not signed
    post(stack, parent, "sign")

    # tracking learns the org tree from intake's events: until then the sub-units are unknown (422)
    response = wait_until(lambda: (r := post(stack, parent, "dispatch", actor=ids["mine"], sub_tasks=[
        {"unit": ids["shaft1"], "title": "一号井排查"}, {"unit": ids["shaft2"], "title": "二号井排查"},
    ])).status_code == 201 and r, what="a dispatch to the two shafts")
    stranger = post(stack, parent, "dispatch", sub_tasks=[{"unit": ids["other"]}])
    assert stranger.status_code == 422 and ids["other"] in stranger.json()["detail"]
    view = response.json()
    assert view["sub_progress"] == {"closed": 0, "total": 2}
    children = {t["lead_unit"]: t["id"] for t in view["sub_tasks"]}
    assert set(children) == {ids["shaft1"], ids["shaft2"]}
    child = stack.tracking.get(f"/api/v1/tasks/{children[ids['shaft1']]}").json()
    assert child["parent_task_id"] == parent and child["due"] == view["due"]
    assert child["status"] == "assigned" and child["item_id"] == view["item_id"]
    wait_until(lambda: any(n["task_id"] == children[ids["shaft1"]] for n in inbox(stack, ids["shaft1"])),
               what="the sub-unit's notice")

    for sub in children.values():
        for action, body in (("sign", {}), ("submit", {}), ("review", {"decision": "accept"})):
            assert post(stack, sub, action, **body).status_code == 200
    assert stack.tracking.get(f"/api/v1/tasks/{parent}").json()["sub_progress"] == {"closed": 2, "total": 2}
    # the sub-tasks are the unit's own business: the item still has one task
    assert len(stack.intake.get(f"/api/v1/items/{view['item_id']}").json()["tasks"]) == 1
