"""intake's org-unit rules as pure functions: paths, moves, (de)activation, renames."""

import pytest
from pydantic import ValidationError

from services.intake import domain
from shared.org_copy import unit_path
from services.intake.models import OrgUnit, OrgUnitCreate, OrgUnitUpdate
from shared.events import CATALOGUE, OrgUnitChanged


def unit(*path: str, active: bool = True, name: str = "办公室") -> OrgUnit:
    """The unit at the end of ``path`` (root first)."""
    return OrgUnit(tenant="acme", id=path[-1], name=name, parent_id=path[-2] if len(path) > 1 else None,
                   active=active, path=unit_path(list(path)))


def test_paths_are_stored_root_first_between_separators_and_read_back():
    assert unit_path(["U-1", "U-7"]) == "/U-1/U-7/"
    assert domain.decode_path("/U-1/U-7/") == ["U-1", "U-7"]
    assert domain.decode_path(unit_path(["集团", "a.b_c-d"])) == ["集团", "a.b_c-d"]


def test_a_new_unit_hangs_under_its_parent_or_at_the_root():
    parent = unit("U-1", "U-7")
    child = domain.new_unit("acme", OrgUnitCreate(id="U-9", name=" 财务部 ", parent_id="U-7"), parent)
    assert (child.path, child.parent_id, child.name, child.active) == ("/U-1/U-7/U-9/", "U-7", "财务部", True)
    root = domain.new_unit("acme", OrgUnitCreate(id="U-2", name="集团"), None)
    assert (root.path, root.parent_id) == ("/U-2/", None)


def test_parent_must_exist_and_be_active():
    assert domain.parent_errors(None, None) == []
    assert domain.parent_errors("U-1", unit("U-1")) == []
    [missing] = domain.parent_errors("U-1", None)
    assert missing["loc"] == ["body", "parent_id"] and missing["type"] == "value_error.parent_unknown"
    [inactive] = domain.parent_errors("U-1", unit("U-1", active=False))
    assert inactive["type"] == "value_error.parent_inactive" and "deactivated" in inactive["msg"]


def test_a_unit_cannot_move_under_itself_or_its_descendants():
    moving = unit("U-1", "U-2")
    assert "under itself" in domain.move_conflict(moving, moving)
    assert "U-3, which lies under it" in domain.move_conflict(moving, unit("U-1", "U-2", "U-3"))
    assert "U-4" in domain.move_conflict(moving, unit("U-1", "U-2", "U-3", "U-4"))


def test_moves_elsewhere_are_allowed_even_next_to_similar_ids():
    moving = unit("U-1", "U-2")
    assert domain.move_conflict(moving, None) is None
    assert domain.move_conflict(moving, unit("U-1")) is None
    assert domain.move_conflict(moving, unit("U-1", "U-20")) is None
    assert domain.move_conflict(moving, unit("U-9", "U-2x")) is None


def test_moving_to_the_same_parent_or_renaming_to_the_same_name_is_no_change():
    current = unit("U-1", "U-2", name="办公室")
    assert not domain.is_move(current, "U-1")
    assert domain.is_move(current, None) and domain.is_move(current, "U-3")
    assert not domain.is_rename(current, None) and not domain.is_rename(current, "办公室")
    assert domain.is_rename(current, "综合办公室")


def test_update_tells_a_left_out_parent_from_a_move_to_the_root():
    assert not OrgUnitUpdate.model_validate({"name": "x"}).moves
    to_root = OrgUnitUpdate.model_validate({"parent_id": None})
    assert to_root.moves and to_root.parent_id is None
    with pytest.raises(ValidationError, match="name cannot be null"):
        OrgUnitUpdate.model_validate({"name": None})
    with pytest.raises(ValidationError):
        OrgUnitUpdate.model_validate({"parent_id": "no/slashes"})


def test_deactivation_is_refused_while_active_units_remain_under_it():
    parent = unit("U-1")
    assert domain.deactivate_conflict(parent, []) is None
    refusal = domain.deactivate_conflict(parent, ["U-2", "U-3"])
    assert "U-1" in refusal and "U-2, U-3" in refusal


def test_reactivation_is_refused_under_a_deactivated_parent():
    child = unit("U-1", "U-2", active=False)
    assert domain.reactivate_conflict(child, unit("U-1")) is None
    assert domain.reactivate_conflict(unit("U-5", active=False), None) is None
    assert "U-1" in domain.reactivate_conflict(child, unit("U-1", active=False))


def test_event_carries_the_whole_state_after_the_change():
    event = domain.unit_changed(unit("U-1", "U-2", active=False, name="财务部"), "deactivated")
    assert event == OrgUnitChanged(change="deactivated", unit_id="U-2", name="财务部", parent_id="U-1",
                                   active=False, path=["U-1", "U-2"])
    assert event.entity_id() == "U-2"
    assert CATALOGUE["duban.intake.org_unit.changed.v1"] is OrgUnitChanged
