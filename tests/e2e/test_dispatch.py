"""A unit re-dispatches its task to its own sub-units; its progress follows theirs."""

import pytest

from tests.e2e.helpers import inbox, org_units, register, wait_for_task
from tests.support import wait_until

pytestmark = pytest.mark.e2e


def tree(stack) -> dict[str, str]:
    return org_units(stack, {"mine": None, "shaft1": "mine", "shaft2": "mine", "other": None})


def post(client, task_id: str, action: str, **body):
    return client.post(f"/api/v1/tasks/{task_id}/{action}", json=body)


def test_dispatch_to_sub_units_and_follow_their_progress(stack):
    ids = tree(stack)
    parent = register(stack, ids["mine"])["tasks"][0]["id"]
    wait_for_task(stack, parent)
    head = stack.as_("unit_head", ids["mine"])
    assert post(head, parent, "dispatch", sub_tasks=[{"unit": ids["shaft1"]}]).status_code == 409  # not signed
    post(head, parent, "sign")

    # tracking learns the org tree from intake's events: until then the sub-units are unknown (422)
    response = wait_until(lambda: (r := post(head, parent, "dispatch", sub_tasks=[
        {"unit": ids["shaft1"], "title": "一号井排查"}, {"unit": ids["shaft2"], "title": "二号井排查"},
    ])).status_code == 201 and r, what="a dispatch to the two shafts")
    assert response.json()["history"][-1]["actor"] == f"unit_head@{ids['mine']}"
    stranger = post(head, parent, "dispatch", sub_tasks=[{"unit": ids["other"]}])
    assert stranger.status_code == 422 and ids["other"] in stranger.json()["detail"]
    view = response.json()
    assert view["sub_progress"] == {"closed": 0, "total": 2}
    children = {t["lead_unit"]: t["id"] for t in view["sub_tasks"]}
    assert set(children) == {ids["shaft1"], ids["shaft2"]}
    child = head.get(f"/api/v1/tasks/{children[ids['shaft1']]}").json()  # the parent unit sees it
    assert child["parent_task_id"] == parent and child["due"] == view["due"]
    assert child["status"] == "assigned" and child["item_id"] == view["item_id"]
    wait_until(lambda: any(n["task_id"] == children[ids["shaft1"]] for n in inbox(stack, ids["shaft1"])),
               what="the sub-unit's notice")

    for shaft, sub in children.items():
        shaft_head = stack.as_("unit_head", shaft)
        for client, action, body in ((shaft_head, "sign", {}), (shaft_head, "submit", {}),
                                     (stack.tracking, "review", {"decision": "accept"})):
            assert post(client, sub, action, **body).status_code == 200
    assert stack.tracking.get(f"/api/v1/tasks/{parent}").json()["sub_progress"] == {"closed": 2, "total": 2}
    # the sub-tasks are the unit's own business: the item still has one task
    assert len(stack.intake.get(f"/api/v1/items/{view['item_id']}").json()["tasks"]) == 1
