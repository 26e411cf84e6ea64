"""The OA keeps intake's org tree in step by events on stream DUBAN_OA (real bus, both backends)."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e import helpers
from tests.e2e.helpers import dead_letter, published, unit
from tests.support import ServiceStack, wait_until

pytestmark = pytest.mark.e2e

UPDATED = "duban.oa.org_unit.updated.v1"
T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


def oa_event(data: dict, at: datetime, event_type: str = UPDATED, tenant: str = "default") -> dict:
    return helpers.oa_event(data, at, event_type, tenant)


def send(stack: ServiceStack, *events: dict | bytes, subject: str = UPDATED) -> None:
    helpers.send_oa(stack, *events, subject=subject)


def unit_state(stack: ServiceStack, unit_id: str) -> dict | None:
    response = stack.intake.get(f"/api/v1/units/{unit_id}")
    return response.json() if response.status_code == 200 else None


def dead_lettered(stack: ServiceStack, needle: str) -> dict:
    """The dead-lettered OA message whose body contains ``needle``, with its headers."""
    message = dead_letter(stack, "intake", "oa", containing=needle)
    return {"headers": message.headers, "body": message.data}


def test_oa_units_arrive_in_any_order_and_become_intake_units_with_events(stack):
    group, plant = unit(), unit()
    send(stack, oa_event({"unit_id": plant, "name": "一分厂", "parent_id": group}, T0),  # before its parent
         oa_event({"unit_id": group, "name": "集团公司"}, T0))
    assert wait_until(lambda: unit_state(stack, plant), what="child unit") == {
        "id": plant, "name": "一分厂", "parent_id": group, "active": True, "path": [group, plant]}
    changes = wait_until(lambda: published(stack, "duban.intake.org_unit.changed.v1", unit_id=plant),
                         what="org_unit.changed for the child")
    assert [(c["change"], c["path"]) for c in changes] == [("created", [group, plant])]


def test_rename_move_and_deactivate_follow_the_oa_once_each_and_stale_reports_are_ignored(stack):
    top, other, leaf = unit(), unit(), unit()
    send(stack, *(oa_event({"unit_id": u, "name": u}, T0) for u in (top, other)))
    wait_until(lambda: unit_state(stack, other), what="roots")
    send(stack, oa_event({"unit_id": leaf, "name": "旧名", "parent_id": top}, T0))
    wait_until(lambda: unit_state(stack, leaf), what="leaf")

    moved = oa_event({"unit_id": leaf, "name": "新名", "parent_id": other}, T0 + timedelta(hours=1))
    send(stack, moved, moved)  # the OA resends
    wait_until(lambda: unit_state(stack, leaf)["path"] == [other, leaf], what="move")
    send(stack, oa_event({"unit_id": leaf, "name": "新名", "parent_id": other, "active": False},
                         T0 + timedelta(hours=2)),
         oa_event({"unit_id": leaf, "name": "过期的名字", "parent_id": top}, T0 + timedelta(minutes=30)))
    wait_until(lambda: not unit_state(stack, leaf)["active"], what="deactivation")

    def changes():
        return [c["change"] for c in published(stack, "duban.intake.org_unit.changed.v1", unit_id=leaf)]
    wait_until(lambda: len(changes()) >= 4, what="four changes")
    assert changes() == ["created", "renamed", "moved", "deactivated"]
    assert unit_state(stack, leaf)["name"] == "新名"  # the stale report changed nothing


def test_malformed_unknown_and_impossible_oa_events_are_dead_lettered_with_the_reason(stack):
    parent, child = unit(), unit()
    send(stack, oa_event({"unit_id": parent, "name": "P"}, T0),
         oa_event({"unit_id": child, "name": "C", "parent_id": parent}, T0))
    wait_until(lambda: unit_state(stack, child), what="units")

    send(stack, oa_event({"unit_id": f"{parent}-bad"}, T0))  # no name
    assert "bad data for duban.oa.org_unit.updated.v1" in \
        dead_lettered(stack, f"{parent}-bad")["headers"]["Duban-Error"]
    send(stack, oa_event({"unit_id": f"{parent}-x"}, T0, event_type="duban.oa.leave.requested.v1"))
    assert "unknown event type" in dead_lettered(stack, f"{parent}-x")["headers"]["Duban-Error"]
    send(stack, b"not json " + parent.encode())
    assert "not a valid event envelope" in dead_lettered(stack, f"not json {parent}")["headers"]["Duban-Error"]

    cycle = oa_event({"unit_id": parent, "name": "P", "parent_id": child}, T0 + timedelta(hours=1))
    send(stack, cycle)
    error = dead_lettered(stack, cycle["id"])["headers"]["Duban-Error"]
    assert f"cannot be moved under {child}" in error
    assert unit_state(stack, parent)["path"] == [parent]
    assert unit_state(stack, f"{parent}-bad") is None
