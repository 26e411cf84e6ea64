"""intake's people directory: kept by the OA's person events and the admin API, every change told
as one person-changed event with the person's whole state (real bus, both backends)."""

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.helpers import dead_letter, oa_event, org_units, published, send_oa, unit
from tests.support import ServiceStack, wait_until

pytestmark = pytest.mark.e2e

PERSON = "duban.oa.person.updated.v1"
UNIT = "duban.oa.org_unit.updated.v1"
CHANGED = "duban.intake.person.changed.v1"
T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)
DEFAULTS = {"unit_id": None, "roles": [], "email": "", "mobile": "", "wecom_user": "", "dingtalk_user": "",
            "feishu_user": "", "active": True}


def person_id() -> str:
    return f"P-{uuid.uuid4().hex[:8]}"


def person(stack: ServiceStack, pid: str) -> dict | None:
    response = stack.intake.get(f"/api/v1/people/{pid}")
    return response.json() if response.status_code == 200 else None


def changes(stack: ServiceStack, pid: str) -> list[dict]:
    return published(stack, CHANGED, person_id=pid)


def settled(stack: ServiceStack, pid: str, count: int) -> list[dict]:
    """The person's changes once there are ``count``, checked again a moment later (no more come)."""
    wait_until(lambda: len(changes(stack, pid)) >= count, what=f"{count} changes of {pid}")
    time.sleep(0.5)
    return changes(stack, pid)


# ---- from the OA ------------------------------------------------------------------------------------


def test_oa_person_events_create_update_and_deactivate_once_each_and_stale_reports_are_ignored(stack):
    units = org_units(stack, {"办公室": None, "财务部": None})
    pid = person_id()
    created = {"person_id": pid, "name": "张三", "unit_id": units["办公室"], "roles": ["head"],
               "email": "zhangsan@example.cn", "mobile": "13800000000", "wecom_user": "zhangsan"}
    first = oa_event(created, T0, PERSON)
    send_oa(stack, first, first)  # the OA resends
    assert wait_until(lambda: person(stack, pid), what="the person") == {**DEFAULTS, **created}

    moved = {**created, "unit_id": units["财务部"], "roles": ["handler", "head", "handler"]}
    send_oa(stack, oa_event(moved, T0 + timedelta(hours=1), PERSON),
            oa_event({**created, "name": "过期的名字"}, T0 + timedelta(minutes=30), PERSON))  # stale
    wait_until(lambda: person(stack, pid)["unit_id"] == units["财务部"], what="the move")
    gone = {**moved, "active": False}
    send_oa(stack, oa_event(gone, T0 + timedelta(hours=2), PERSON),
            oa_event(gone, T0 + timedelta(hours=3), PERSON))  # the same state again: no change

    seen = settled(stack, pid, 3)
    assert [c["change"] for c in seen] == ["created", "updated", "deactivated"]
    assert seen[0] == {**DEFAULTS, **created, "change": "created"}
    assert seen[2] == {**DEFAULTS, **gone, "roles": ["handler", "head"], "change": "deactivated"}
    assert person(stack, pid)["name"] == "张三" and person(stack, pid)["active"] is False


def test_a_person_whose_unit_arrives_later_is_applied_once_the_unit_exists(stack):
    late, pid = unit(), person_id()
    send_oa(stack, oa_event({"person_id": pid, "name": "李四", "unit_id": late}, T0, PERSON))
    time.sleep(0.3)
    assert person(stack, pid) is None  # retried meanwhile
    send_oa(stack, oa_event({"unit_id": late, "name": "新部门"}, T0, UNIT))
    assert wait_until(lambda: person(stack, pid), what="the person")["unit_id"] == late
    assert [c["change"] for c in settled(stack, pid, 1)] == ["created"]


def test_malformed_person_events_and_units_that_never_come_are_dead_lettered(stack):
    pid = person_id()
    bad = oa_event({"person_id": pid, "name": "王五", "roles": ["boss"]}, T0, PERSON)
    send_oa(stack, bad)
    assert "bad data for duban.oa.person.updated.v1" in \
        dead_letter(stack, "intake", "oa", containing=bad["id"]).headers["Duban-Error"]
    never = unit()
    lost = oa_event({"person_id": person_id(), "name": "赵六", "unit_id": never}, T0, PERSON)
    send_oa(stack, lost)
    error = dead_letter(stack, "intake", "oa", containing=lost["id"]).headers["Duban-Error"]
    assert f"BadUnit: no unit {never}" in error


# ---- the API ------------------------------------------------------------------------------------------


def test_admins_create_and_replace_people_and_each_change_is_an_event(stack):
    units = org_units(stack, {"集团": None, "安全处": "集团"})
    admin = stack.as_("admin", service="intake")
    pid = person_id()
    body = {"person_id": pid, "name": "陈七", "unit_id": units["安全处"], "roles": ["handler"],
            "dingtalk_user": "chenqi"}
    response = admin.post("/api/v1/people", json=body)
    assert response.status_code == 201, response.text
    assert response.json() == {**DEFAULTS, **body}
    assert admin.post("/api/v1/people", json=body).status_code == 409

    replaced = {"name": "陈七", "unit_id": units["集团"], "roles": ["leader"], "email": "chenqi@example.cn"}
    response = admin.put(f"/api/v1/people/{pid}", json=replaced)
    assert response.status_code == 200, response.text
    assert response.json() == {**DEFAULTS, **replaced, "person_id": pid}  # dingtalk_user: back to ""
    assert admin.put(f"/api/v1/people/{pid}", json={**replaced, "person_id": pid}).status_code == 200  # same
    response = admin.put(f"/api/v1/people/{pid}", json={**replaced, "active": False})
    assert response.status_code == 200 and response.json()["active"] is False
    assert admin.put(f"/api/v1/people/{pid}", json=replaced).json()["active"] is True
    assert admin.put(f"/api/v1/people/{person_id()}", json=replaced).status_code == 404

    assert [c["change"] for c in settled(stack, pid, 4)] == ["created", "updated", "deactivated", "reactivated"]
    assert changes(stack, pid)[1] == {**DEFAULTS, **replaced, "person_id": pid, "change": "updated"}
    assert stack.intake.get(f"/api/v1/people/{pid}").json() == {**DEFAULTS, **replaced, "person_id": pid}


@pytest.mark.parametrize("method,body,loc", [
    ("post", {"name": "x"}, ["body", "person_id"]),
    ("post", {"person_id": "has space", "name": "x"}, ["body", "person_id"]),
    ("post", {"person_id": "{new}", "name": ""}, ["body", "name"]),
    ("post", {"person_id": "{new}", "name": "x", "roles": ["boss"]}, ["body", "roles", 0]),
    ("post", {"person_id": "{new}", "name": "x", "unit_id": "U-nowhere"}, ["body", "unit_id"]),
    ("post", {"person_id": "{new}", "name": "x", "tenant": "other"}, ["body", "tenant"]),
    ("put", {"name": "x", "oa_reported_at": "2026-01-01T00:00:00Z"}, ["body", "oa_reported_at"]),
    ("put", {"name": "x", "unit_id": "U-nowhere"}, ["body", "unit_id"]),
    ("put", {"name": "x", "person_id": "P-someone-else"}, ["body", "person_id"]),
    ("put", {"unit_id": None}, ["body", "name"]),
], ids=lambda v: v if isinstance(v, str) else None)
def test_bad_bodies_get_422_naming_the_field(stack, method, body, loc):
    admin = stack.as_("admin", service="intake")
    existing = person_id()
    assert admin.post("/api/v1/people", json={"person_id": existing, "name": "x"}).status_code == 201
    body = {k: (person_id() if v == "{new}" else v) for k, v in body.items()}
    response = admin.post("/api/v1/people", json=body) if method == "post" else \
        admin.put(f"/api/v1/people/{existing}", json=body)
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["detail"]] == [loc]
    assert [c["change"] for c in settled(stack, existing, 1)] == ["created"]


def test_who_may_read_and_change_people(stack):
    """Admins write (within their subtree), everyone reads within their scope: a unit's people are
    seen from that unit and the units above it; people in no unit by tenant-wide callers only."""
    u = org_units(stack, {"总部": None, "一处": "总部", "一科": "一处", "二处": "总部"})
    admin = stack.as_("admin", service="intake")
    ids = {}
    for where in ("总部", "一处", "一科", "二处", None):
        ids[where] = person_id()
        body = {"person_id": ids[where], "name": f"{where}的人", "unit_id": u[where] if where else None}
        assert admin.post("/api/v1/people", json=body).status_code == 201

    def listed(client, **params) -> set[str]:
        response = client.get("/api/v1/people", params=params)
        assert response.status_code == 200, response.text
        return {p["person_id"] for p in response.json()} & set(ids.values())

    for role in ("office", "leader", "viewer"):  # tenant-wide readers
        reader = stack.as_(role, service="intake")
        assert listed(reader) == set(ids.values())
        assert listed(reader, unit=u["一处"]) == {ids["一处"], ids["一科"]}
        assert listed(reader, unit=u["一处"], include_sub_units="false") == {ids["一处"]}
        assert reader.get(f"/api/v1/people/{ids[None]}").status_code == 200
    office = stack.intake
    assert office.post("/api/v1/people", json={"person_id": person_id(), "name": "x"}).status_code == 403
    assert office.put(f"/api/v1/people/{ids['一处']}", json={"name": "x"}).status_code == 403

    for role in ("unit_head", "unit_handler"):
        head = stack.as_(role, u["一处"], service="intake")
        assert listed(head) == {ids["一处"], ids["一科"]}  # its subtree by default
        assert listed(head, unit=u["一科"]) == {ids["一科"]}
        assert head.get("/api/v1/people", params={"unit": u["二处"]}).status_code == 403
        assert head.get("/api/v1/people", params={"unit": u["总部"]}).status_code == 403
        assert head.get(f"/api/v1/people/{ids['一科']}").status_code == 200
        for hidden in (ids["二处"], ids["总部"], ids[None]):
            assert head.get(f"/api/v1/people/{hidden}").status_code == 404
        assert head.put(f"/api/v1/people/{ids['一处']}", json={"name": "x"}).status_code == 403
        assert head.post("/api/v1/people", json={"person_id": person_id(), "name": "x",
                                                 "unit_id": u["一处"]}).status_code == 403

    scoped = stack.as_("admin", u["一处"], service="intake")  # an admin of a subtree
    assert scoped.put(f"/api/v1/people/{ids['一科']}", json={"name": "一科的人",
                                                          "unit_id": u["一处"]}).status_code == 200
    assert scoped.put(f"/api/v1/people/{ids['一科']}", json={"name": "x", "unit_id": u["二处"]}).status_code == 403
    assert scoped.put(f"/api/v1/people/{ids['二处']}", json={"name": "x", "unit_id": u["一处"]}).status_code == 404
    assert scoped.post("/api/v1/people", json={"person_id": person_id(), "name": "x"}).status_code == 403
    assert stack.as_("viewer", service="intake", tenant="other").get(
        f"/api/v1/people/{ids['一处']}").status_code == 404
    assert listed(stack.as_("office", service="intake", tenant="other")) == set()


def test_people_list_filters_by_role_and_active(stack):
    u = org_units(stack, {"督查室": None})
    admin = stack.as_("admin", service="intake")
    head, handler, former = person_id(), person_id(), person_id()
    for pid, roles, active in ((head, ["head"], True), (handler, ["handler"], True), (former, ["head"], False)):
        body = {"person_id": pid, "name": pid, "unit_id": u["督查室"], "roles": roles, "active": active}
        assert admin.post("/api/v1/people", json=body).status_code == 201
    found = admin.get("/api/v1/people", params={"unit": u["督查室"], "role": "head", "active": "true"}).json()
    assert [p["person_id"] for p in found] == [head]
    assert admin.get("/api/v1/people", params={"role": "boss"}).status_code == 422
    assert admin.get("/api/v1/people", params={"unit": unit()}).status_code == 404
