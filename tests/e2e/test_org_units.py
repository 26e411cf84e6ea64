"""intake's org-unit tree through its HTTP API, with its events on a real bus (SQLite and PostgreSQL)."""

import asyncio
import json

import nats
import pytest

from tests.e2e.helpers import unit
from tests.support import ServiceStack, stream_messages, wait_until

pytestmark = pytest.mark.e2e

CHANGED = "duban.intake.org_unit.changed.v1"


def admin(stack: ServiceStack):
    """Changes to the org tree are configuration: the admin's."""
    return stack.as_("admin", service="intake")


def create(stack: ServiceStack, unit_id: str, parent: str | None = None, name: str = "办公室") -> dict:
    response = admin(stack).post("/api/v1/units", json={"id": unit_id, "name": name, "parent_id": parent})
    assert response.status_code == 201, response.text
    return response.json()


def patch(stack: ServiceStack, unit_id: str, **changes):
    return admin(stack).patch(f"/api/v1/units/{unit_id}", json=changes)


def act(stack: ServiceStack, unit_id: str, action: str):
    return admin(stack).post(f"/api/v1/units/{unit_id}/{action}")


def listed(stack: ServiceStack, **params) -> list[tuple[str, list[str]]]:
    response = stack.intake.get("/api/v1/units", params=params)
    assert response.status_code == 200, response.text
    return [(u["id"], u["path"]) for u in response.json()]


def path_of(stack: ServiceStack, unit_id: str) -> list[str]:
    return stack.intake.get(f"/api/v1/units/{unit_id}").json()["path"]


async def _changes(url: str) -> list[dict]:
    nc = await nats.connect(url)
    try:
        return [json.loads(m.data) for m in await stream_messages(nc.jetstream(), CHANGED, "DUBAN_INTAKE")]
    finally:
        await nc.close()


def changes_on_bus(stack: ServiceStack, *unit_ids: str) -> list[tuple]:
    """(change, unit_id, path) of every org-unit event about ``unit_ids``, in stream order."""
    events = asyncio.run(_changes(stack.nats.url))
    return [(e["data"]["change"], e["subject"], e["data"]["path"])
            for e in events if e["subject"] in unit_ids]


def wait_for_changes(stack: ServiceStack, *unit_ids: str, count: int) -> list[tuple]:
    return wait_until(lambda: len(got := changes_on_bus(stack, *unit_ids)) >= count and got,
                      what=f"{count} org-unit events")


def test_tree_is_built_renamed_and_moved_with_its_subtree(stack):
    root, a, a1, a11, b = (unit() for _ in range(5))
    create(stack, root, name="集团")
    create(stack, a, root)
    create(stack, a1, a)
    create(stack, a11, a1)
    create(stack, b, root)

    renamed = patch(stack, a, name="综合办公室")
    assert renamed.status_code == 200
    assert renamed.json() == {"id": a, "name": "综合办公室", "parent_id": root, "active": True,
                              "path": [root, a]}
    assert patch(stack, a, name="综合办公室", parent_id=root).status_code == 200  # no change

    moved = patch(stack, a1, parent_id=b)
    assert moved.status_code == 200 and moved.json()["path"] == [root, b, a1]
    assert path_of(stack, a11) == [root, b, a1, a11]
    assert listed(stack, under=b) == [(b, [root, b]), (a1, [root, b, a1]), (a11, [root, b, a1, a11])]
    assert listed(stack, under=a) == [(a, [root, a])]
    in_tree_order = [root, a, b, a1, a11] if a < b else [root, b, a1, a11, a]  # siblings by id
    assert [i for i, _ in listed(stack) if i in (root, a, a1, a11, b)] == in_tree_order

    to_root = patch(stack, a1, parent_id=None)
    assert to_root.json()["parent_id"] is None and to_root.json()["path"] == [a1]
    assert listed(stack, under=a1) == [(a1, [a1]), (a11, [a1, a11])]
    assert listed(stack, under=root) == [(root, [root])] + sorted([(a, [root, a]), (b, [root, b])])

    both = patch(stack, a11, name="财务科", parent_id=b)
    assert both.json()["name"] == "财务科" and both.json()["path"] == [root, b, a11]

    assert wait_for_changes(stack, root, a, a1, a11, b, count=12) == [
        ("created", root, [root]),
        ("created", a, [root, a]),
        ("created", a1, [root, a, a1]),
        ("created", a11, [root, a, a1, a11]),
        ("created", b, [root, b]),
        ("renamed", a, [root, a]),
        ("moved", a1, [root, b, a1]),
        ("moved", a11, [root, b, a1, a11]),
        ("moved", a1, [a1]),
        ("moved", a11, [a1, a11]),
        ("renamed", a11, [a1, a11]),
        ("moved", a11, [root, b, a11]),
    ]


def test_moving_a_unit_under_itself_or_its_descendant_is_refused_and_changes_nothing(stack):
    top, mid, leaf = unit(), unit(), unit()
    create(stack, top)
    create(stack, mid, top)
    create(stack, leaf, mid)
    before = listed(stack, under=top)

    for target in (leaf, mid, top):
        refused = patch(stack, top, name="改名", parent_id=target)
        assert refused.status_code == 409, refused.text
        assert top in refused.json()["detail"]
    assert patch(stack, mid, parent_id=leaf).status_code == 409

    assert listed(stack, under=top) == before
    assert stack.intake.get(f"/api/v1/units/{top}").json()["name"] == "办公室"
    patch(stack, leaf, name="marker")  # relayed after anything the refusals could have sent
    assert wait_for_changes(stack, top, mid, leaf, count=4) == [
        ("created", top, [top]),
        ("created", mid, [top, mid]),
        ("created", leaf, [top, mid, leaf]),
        ("renamed", leaf, [top, mid, leaf]),
    ]


def test_deactivation_waits_for_the_units_under_it_and_reactivation_for_the_parent(stack):
    parent, child, other = unit(), unit(), unit()
    create(stack, parent)
    create(stack, child, parent)
    create(stack, other)

    refused = act(stack, parent, "deactivate")
    assert refused.status_code == 409 and child in refused.json()["detail"]
    assert act(stack, child, "deactivate").json()["active"] is False
    assert act(stack, child, "deactivate").status_code == 200  # already inactive: no change
    assert act(stack, parent, "deactivate").json()["active"] is False

    assert act(stack, child, "reactivate").status_code == 409
    assert admin(stack).post("/api/v1/units", json={"id": unit(), "name": "x", "parent_id": parent}
                             ).status_code == 422
    assert patch(stack, other, parent_id=parent).status_code == 422
    assert listed(stack, under=parent, active="false") == [(parent, [parent]), (child, [parent, child])]
    assert listed(stack, under=parent, active="true") == []

    assert act(stack, parent, "reactivate").json()["active"] is True
    assert act(stack, child, "reactivate").json()["active"] is True
    assert act(stack, child, "reactivate").status_code == 200  # already active: no change
    assert patch(stack, other, parent_id=parent).json()["path"] == [parent, other]

    assert wait_for_changes(stack, parent, child, other, count=8) == [
        ("created", parent, [parent]),
        ("created", child, [parent, child]),
        ("created", other, [other]),
        ("deactivated", child, [parent, child]),
        ("deactivated", parent, [parent]),
        ("reactivated", parent, [parent]),
        ("reactivated", child, [parent, child]),
        ("moved", other, [parent, other]),
    ]


def test_unknown_units_are_404_and_bad_requests_422_or_409(stack):
    existing = unit()
    create(stack, existing)
    for response in (
        stack.intake.get("/api/v1/units/nope"),
        stack.intake.get("/api/v1/units", params={"under": "nope"}),
        patch(stack, "nope", name="x"),
        act(stack, "nope", "deactivate"),
        act(stack, "nope", "reactivate"),
    ):
        assert response.status_code == 404, response.text

    again = admin(stack).post("/api/v1/units", json={"id": existing, "name": "另一个"})
    assert again.status_code == 409 and existing in again.json()["detail"]

    orphan = admin(stack).post("/api/v1/units", json={"id": unit(), "name": "x", "parent_id": "nope"})
    assert orphan.status_code == 422
    assert [e["loc"] for e in orphan.json()["detail"]] == [["body", "parent_id"]]
    for bad in ({"id": "a/b", "name": "x"}, {"id": unit(), "name": "  "}, {"id": unit()}):
        assert admin(stack).post("/api/v1/units", json=bad).status_code == 422
    assert patch(stack, existing, parent_id="nope").status_code == 422
    assert patch(stack, existing, name=None).status_code == 422
    assert patch(stack, existing).json()["path"] == [existing]
