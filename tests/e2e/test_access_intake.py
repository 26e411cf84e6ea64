"""Who may call intake's routes: every route × every role × own unit / other unit / whole tenant /
another tenant, scoped lists, mass assignment, anonymous calls, and events of a foreign tenant.

The org tree of tenant "default" (built once for the module):

    R ─┬─ A ─┬─ A1        item_a:  task led by A
       │     └─ A2        item_b:  task led by B
       └─ B               item_co: task led by B, with A as co-unit

Tenant "other" has its own unit OX and an item whose task names the same unit id A.
"""

import asyncio
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import nats
import pytest
from openpyxl import Workbook

from services.intake.spreadsheet import COLUMNS
from shared.auth import ROLES, UNIT_ROLES
from shared.events import TaskStatusChanged, envelope
from tests.e2e.helpers import dead_letter, published, unit
from tests.support import ServiceStack, stream_messages, wait_until

pytestmark = pytest.mark.e2e

OTHER_TENANT = "other"
DUE = "2099-12-31T17:30:00+08:00"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class World:
    R: str
    A: str
    A1: str
    A2: str
    B: str
    OX: str
    item_a: dict
    item_b: dict
    item_co: dict
    item_x: dict  # tenant "other"
    person_a: str  # a person in unit A


def item_body(*leads: str, co_units: tuple[str, ...] = ()) -> dict:
    return {"title": "权限测试事项", "source": {"kind": "leader_instruction", "ref": "批示〔2026〕1号"},
            "tasks": [{"lead_unit": u, "co_units": list(co_units), "due": DUE} for u in leads]}


def created(response: httpx.Response) -> dict:
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope="module")
def world(stack: ServiceStack) -> World:
    R, A, A1, A2, B, OX = (unit() for _ in range(6))
    admin = stack.as_("admin", service="intake")
    for unit_id, parent in ((R, None), (A, R), (A1, A), (A2, A), (B, R)):
        created(admin.post("/api/v1/units", json={"id": unit_id, "name": unit_id, "parent_id": parent}))
    created(stack.as_("admin", service="intake", tenant=OTHER_TENANT).post(
        "/api/v1/units", json={"id": OX, "name": "外单位"}))
    office = stack.intake
    items = [created(office.post("/api/v1/items", json=body))
             for body in (item_body(A), item_body(B), item_body(B, co_units=(A,)))]
    foreign = stack.as_("office", service="intake", tenant=OTHER_TENANT)
    item_x = created(foreign.post("/api/v1/items", json=item_body(A)))
    person_a = f"P-{unit()}"
    created(admin.post("/api/v1/people", json={"person_id": person_a, "name": "甲", "unit_id": A}))
    return World(R, A, A1, A2, B, OX, *items, item_x, person_a)


# ---- the matrix -----------------------------------------------------------------------------

# Where the caller stands, seen from unit A's data: "own" = a principal of unit A, "other" = of
# unit B, "tenant" = tenant-wide (no unit), "foreign" = of tenant "other" (unit A for unit people).
PLACES = ("own", "other", "tenant", "foreign")
OFFICE, ADMIN, EVERYONE = frozenset({"admin", "office"}), frozenset({"admin"}), frozenset(ROLES)


def caller(stack: ServiceStack, w: World, role: str, place: str) -> httpx.Client:
    unit_of = {"own": w.A, "other": w.B, "tenant": None,
               "foreign": w.A if role in UNIT_ROLES else None}[place]
    tenant = OTHER_TENANT if place == "foreign" else "default"
    return stack.as_(role, unit_of, service="intake", tenant=tenant)


def workbook(lead: str) -> bytes:
    book = Workbook()
    book.active.append([zh for zh, _ in COLUMNS.values()])
    row = {"title": "导入权限测试", "source_kind": "领导批示", "source_ref": unit(), "lead_unit": lead,
           "due": "2099-12-31"}
    book.active.append([row.get(k) for k in COLUMNS])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# route: (roles allowed, the request about unit A's data, status by place when the role is allowed)
ROUTES = {
    "POST /items": (OFFICE, lambda c, w: c.post("/api/v1/items", json=item_body(w.A)),
                    {"own": 201, "other": 403, "tenant": 201, "foreign": 201}),
    "GET /items/{item_id}": (EVERYONE, lambda c, w: c.get(f"/api/v1/items/{w.item_a['id']}"),
                             {"own": 200, "other": 404, "tenant": 200, "foreign": 404}),
    "POST /items/{item_id}/tasks": (
        OFFICE, lambda c, w: c.post(f"/api/v1/items/{w.item_a['id']}/tasks",
                                    json={"tasks": [{"lead_unit": w.A, "due_working_days": 5}]}),
        {"own": 201, "other": 404, "tenant": 201, "foreign": 404}),
    # a list narrowed to the caller's scope (tests/e2e/test_dashboard_apis.py checks what it holds)
    "GET /items": (EVERYONE, lambda c, w: c.get("/api/v1/items", params={"supervising_leader": "王"}),
                   dict.fromkeys(PLACES, 200)),
    "GET /items/import/template": (OFFICE, lambda c, w: c.get("/api/v1/items/import/template"),
                                   dict.fromkeys(PLACES, 200)),
    "POST /items/import": (
        OFFICE, lambda c, w: c.post("/api/v1/items/import", content=workbook(w.A),
                                    headers={"content-type": XLSX}),
        {"own": 201, "other": 403, "tenant": 201, "foreign": 201}),
    "GET /units": (EVERYONE, lambda c, w: c.get("/api/v1/units", params={"under": w.A}),
                   {"own": 200, "other": 403, "tenant": 200, "foreign": 404}),
    "GET /units/{unit_id}": (EVERYONE, lambda c, w: c.get(f"/api/v1/units/{w.A}"),
                             {"own": 200, "other": 404, "tenant": 200, "foreign": 404}),
    # foreign: tenant "other" has no unit A to hang the new unit under
    "POST /units": (ADMIN, lambda c, w: c.post("/api/v1/units",
                                               json={"id": unit(), "name": "新科室", "parent_id": w.A}),
                    {"own": 201, "other": 403, "tenant": 201, "foreign": 422}),
    "PATCH /units/{unit_id}": (ADMIN, lambda c, w: c.patch(f"/api/v1/units/{w.A1}", json={"name": "科室"}),
                               {"own": 200, "other": 404, "tenant": 200, "foreign": 404}),
    # (de)activating a unit already so is no change (200), so the order of the cases does not matter
    "POST /units/{unit_id}/deactivate": (ADMIN, lambda c, w: c.post(f"/api/v1/units/{w.A2}/deactivate"),
                                         {"own": 200, "other": 404, "tenant": 200, "foreign": 404}),
    "POST /units/{unit_id}/reactivate": (ADMIN, lambda c, w: c.post(f"/api/v1/units/{w.A2}/reactivate"),
                                         {"own": 200, "other": 404, "tenant": 200, "foreign": 404}),
    "GET /people": (EVERYONE, lambda c, w: c.get("/api/v1/people", params={"unit": w.A}),
                    {"own": 200, "other": 403, "tenant": 200, "foreign": 404}),
    "GET /people/{person_id}": (EVERYONE, lambda c, w: c.get(f"/api/v1/people/{w.person_a}"),
                                {"own": 200, "other": 404, "tenant": 200, "foreign": 404}),
    # foreign: tenant "other" has no unit A to put the person in
    "POST /people": (ADMIN, lambda c, w: c.post("/api/v1/people", json={"person_id": f"P-{unit()}",
                                                                     "name": "乙", "unit_id": w.A}),
                     {"own": 201, "other": 403, "tenant": 201, "foreign": 422}),
    "PUT /people/{person_id}": (ADMIN, lambda c, w: c.put(f"/api/v1/people/{w.person_a}",
                                                          json={"name": "甲", "unit_id": w.A}),
                                {"own": 200, "other": 404, "tenant": 200, "foreign": 404}),
}


def cases():
    for route, (roles, _, by_place) in ROUTES.items():
        for role in ROLES:
            for place in PLACES:
                if place == "tenant" and role in UNIT_ROLES:
                    continue  # unit people always have a unit
                expected = by_place[place] if role in roles else 403
                yield pytest.param(route, role, place, expected, id=f"{route} as {role}@{place}")


@pytest.mark.parametrize("route,role,place,expected", list(cases()))
def test_every_route_answers_each_role_and_place_as_the_matrix_says(stack, world, route, role, place,
                                                                   expected):
    _, request, _ = ROUTES[route]
    response = request(caller(stack, world, role, place), world)
    assert response.status_code == expected, response.text
    answer = response.json() if response.headers["content-type"] == "application/json" else None
    if isinstance(answer, dict) and "tenant" in answer:  # an item: always the caller's tenant's
        assert answer["tenant"] == (OTHER_TENANT if place == "foreign" else "default")


def test_the_matrix_covers_every_intake_route(stack):
    api = stack.intake.get("/openapi.json").json()["paths"]
    routes = {f"{method.upper()} {path.removeprefix('/api/v1')}"
              for path, methods in api.items() if path.startswith("/api/v1/") for method in methods}
    # the OA's webhook takes no token: its caller signs (tests/e2e/test_oa_instructions.py)
    assert routes - {"GET /audit", "POST /oa/events"} == set(ROUTES)


# ---- scope: items seen by their units, lists narrowed to the caller's subtree ----------------


def test_an_item_is_seen_by_the_units_of_its_tasks_lead_or_co_and_the_units_above(stack, world):
    w = world
    items = {"a": w.item_a, "b": w.item_b, "co": w.item_co}
    seen_by = {w.A: {"a", "co"}, w.A1: set(), w.B: {"b", "co"}, w.R: {"a", "b", "co"}}
    for role in ("unit_head", "unit_handler", "viewer", "leader"):
        for unit_id, visible in seen_by.items():
            client = stack.as_(role, unit_id, service="intake")
            for name, item in items.items():
                status = client.get(f"/api/v1/items/{item['id']}").status_code
                assert status == (200 if name in visible else 404), (role, unit_id, name)
    assert stack.intake.get(f"/api/v1/items/{w.item_x['id']}").status_code == 404
    assert stack.as_("unit_head", w.A, service="intake").get("/api/v1/items/nope").status_code == 404


def units_listed(client: httpx.Client, **params) -> list[dict]:
    response = client.get("/api/v1/units", params=params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("role", ROLES)
def test_a_unit_scoped_caller_lists_only_its_subtree(stack, world, role):
    w = world
    everything = units_listed(stack.intake)
    for scope in (w.A, w.B, w.R, w.A1):
        mine = units_listed(stack.as_(role, scope, service="intake"))
        assert mine == [u for u in everything if scope in u["path"]], scope
    assert {u["id"] for u in units_listed(stack.as_(role, w.A, service="intake"))} >= {w.A, w.A1, w.A2}
    assert units_listed(stack.as_(role, w.A1, service="intake"), under=w.A1) == \
        [u for u in everything if u["id"] == w.A1]
    outside = stack.as_(role, w.A1, service="intake").get("/api/v1/units", params={"under": w.A})
    assert outside.status_code == 403
    assert units_listed(stack.as_(role, unit(), service="intake")) == []  # a unit the tree lacks


def test_a_tenant_lists_only_its_own_units(stack, world):
    mine = {u["id"] for u in units_listed(stack.intake)}
    assert {world.R, world.A, world.B} <= mine and world.OX not in mine
    theirs = units_listed(stack.as_("viewer", service="intake", tenant=OTHER_TENANT))
    assert [u["id"] for u in theirs] == [world.OX]
    assert stack.intake.get(f"/api/v1/units/{world.OX}").status_code == 404


def test_a_unit_scoped_office_registers_only_for_units_in_its_subtree(stack, world):
    w = world
    office_a = stack.as_("office", w.A, service="intake")
    created(office_a.post("/api/v1/items", json=item_body(w.A1, co_units=(w.A2,))))
    refused = office_a.post("/api/v1/items", json=item_body(w.A, co_units=(w.B,)))
    assert refused.status_code == 403 and w.B in refused.json()["detail"]
    add = office_a.post(f"/api/v1/items/{w.item_a['id']}/tasks",
                        json={"tasks": [{"lead_unit": w.B, "due_working_days": 5}]})
    assert add.status_code == 403
    admin_a = stack.as_("admin", w.A, service="intake")
    assert admin_a.post("/api/v1/units", json={"id": unit(), "name": "x"}).status_code == 403  # a root
    assert admin_a.patch(f"/api/v1/units/{w.A1}", json={"parent_id": w.B}).status_code == 403
    assert stack.intake.get(f"/api/v1/units/{w.A1}").json()["path"] == [w.R, w.A, w.A1]


def test_the_office_cannot_change_the_org_tree_but_the_admin_can(stack, world):
    office, admin = stack.intake, stack.as_("admin", service="intake")
    new = {"id": unit(), "name": "新单位", "parent_id": world.R}
    assert office.post("/api/v1/units", json=new).status_code == 403
    assert office.patch(f"/api/v1/units/{world.B}", json={"name": "改名"}).status_code == 403
    assert office.post(f"/api/v1/units/{world.A2}/deactivate").status_code == 403
    assert admin.post("/api/v1/units", json=new).status_code == 201
    assert office.get(f"/api/v1/units/{new['id']}").json()["path"] == [world.R, new["id"]]


# ---- tenants ----------------------------------------------------------------------------------


def test_items_are_numbered_per_tenant_and_idempotency_keys_are_the_tenants(stack, world):
    year = world.item_a["number"].split("-")[1]
    assert world.item_x["number"] == f"DB-{year}-0001" == world.item_a["number"]
    assert world.item_x["tenant"] == OTHER_TENANT

    key = {"Idempotency-Key": f"k-{unit()}"}
    body = item_body(world.A)
    ours = created(stack.intake.post("/api/v1/items", json=body, headers=key))
    theirs = stack.as_("office", service="intake", tenant=OTHER_TENANT).post(
        "/api/v1/items", json=body, headers=key)
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs.headers
    assert theirs.json()["id"] != ours["id"] and theirs.json()["tenant"] == OTHER_TENANT
    again = stack.intake.post("/api/v1/items", json=body, headers=key)
    assert again.headers["Idempotent-Replayed"] == "true" and again.json()["id"] == ours["id"]


def test_events_carry_the_callers_tenant(stack, world):
    def tenants() -> dict[str, str]:
        events = _envelopes(stack, "duban.intake.item.registered.v1")
        return {e["data"]["item_id"]: e["tenant"] for e in events}

    seen = wait_until(lambda: world.item_x["id"] in (t := tenants()) and t, what="both tenants' events")
    assert seen[world.item_x["id"]] == OTHER_TENANT and seen[world.item_a["id"]] == "default"


def _envelopes(stack: ServiceStack, subject: str) -> list[dict]:
    async def read() -> list:
        nc = await nats.connect(stack.nats.url)
        try:
            return await stream_messages(nc.jetstream(), subject, "DUBAN_INTAKE", limit=10_000)
        finally:
            await nc.close()

    return [json.loads(m.data) for m in asyncio.run(read())]


def _publish(stack: ServiceStack, subject: str, body: bytes) -> None:
    async def publish() -> None:
        nc = await nats.connect(stack.nats.url)
        try:
            await nc.jetstream().publish(subject, body)
        finally:
            await nc.close()

    asyncio.run(publish())


def test_an_event_of_another_tenant_changes_nothing_and_is_dead_lettered_with_the_reason(stack, world):
    item = created(stack.intake.post("/api/v1/items", json=item_body(world.A)))
    task = item["tasks"][0]
    now = datetime.now(UTC)
    forged = envelope(TaskStatusChanged(
        task_id=task["id"], item_id=item["id"], title=task["title"], lead_unit=task["lead_unit"],
        action="cancel", from_status="assigned", to_status="cancelled", actor="intruder", at=now,
        due=datetime.fromisoformat(DUE)), source="/duban/tracking", tenant="intruder", time=now)
    _publish(stack, TaskStatusChanged.TYPE, forged.to_bytes())

    message = dead_letter(stack, "intake", "tracking", containing=forged.id)
    error = message.headers["Duban-Error"]
    assert "PoisonMessage" in error and "tenant intruder" in error and item["id"] in error
    after = stack.intake.get(f"/api/v1/items/{item['id']}").json()
    assert after["status"] == "open" and after["closed_at"] is None
    assert after["tasks"][0]["status"] != "cancelled"
    assert published(stack, "duban.intake.item.closed.v1", item_id=item["id"]) == []


# ---- bodies and tokens ----------------------------------------------------------------------


def extra(path: str, method: str, body: dict, *field) -> pytest.param:
    return pytest.param(path, method, body, ("body", *field),
                        id=f"{method.upper()} {path} with {'.'.join(map(str, field))}")


@pytest.mark.parametrize("path,method,body,field", [
    extra("/api/v1/items", "post", {"tenant": OTHER_TENANT}, "tenant"),
    extra("/api/v1/items", "post", {"number": "X"}, "number"),
    extra("/api/v1/items", "post", {"actor": "someone"}, "actor"),
    extra("/api/v1/items", "post", {"tasks": [{"lead_unit": "{A}", "due": DUE, "status": "accepted"}]},
          "tasks", 0, "status"),
    extra("/api/v1/items", "post", {"source": {"kind": "other", "tenant": OTHER_TENANT}},
          "source", "tenant"),
    extra("/api/v1/items/{item}/tasks", "post",
          {"tasks": [{"lead_unit": "{A}", "due_working_days": 5, "tenant": OTHER_TENANT}]},
          "tasks", 0, "tenant"),
    extra("/api/v1/units", "post", {"id": "U-new", "name": "x", "tenant": OTHER_TENANT}, "tenant"),
    extra("/api/v1/units/{A1}", "patch", {"path": "/U-x/"}, "path"),
    extra("/api/v1/units/{A1}", "patch", {"active": False}, "active"),
    extra("/api/v1/people", "post", {"person_id": "P-new", "name": "x", "tenant": OTHER_TENANT}, "tenant"),
    extra("/api/v1/people/{person}", "put", {"name": "x", "oa_reported_at": DUE}, "oa_reported_at"),
])
def test_a_body_cannot_set_what_the_caller_may_not_mass_assignment(stack, world, path, method, body,
                                                                  field):
    def fill(value):
        if isinstance(value, str):
            return value.format(A=world.A, A1=world.A1, item=world.item_a["id"], person=world.person_a)
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return [fill(v) for v in value] if isinstance(value, list) else value

    if path == "/api/v1/items":
        body = {**item_body(world.A), **body}
    admin = stack.as_("admin", service="intake")
    response = getattr(admin, method)(fill(path), json=fill(body))
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert [tuple(e["loc"]) for e in errors] == [field]
    assert errors[0]["type"] == "extra_forbidden"


def every_route(w: World) -> list[tuple[str, str]]:
    item, unit_id = w.item_a["id"], w.A
    return [("post", "/api/v1/items"), ("get", f"/api/v1/items/{item}"),
            ("post", f"/api/v1/items/{item}/tasks"), ("get", "/api/v1/items/import/template"),
            ("post", "/api/v1/items/import"), ("get", "/api/v1/units"), ("post", "/api/v1/units"),
            ("get", f"/api/v1/units/{unit_id}"), ("patch", f"/api/v1/units/{unit_id}"),
            ("post", f"/api/v1/units/{unit_id}/deactivate"),
            ("post", f"/api/v1/units/{unit_id}/reactivate"), ("get", "/api/v1/audit"),
            ("get", "/api/v1/people"), ("post", "/api/v1/people"), ("get", f"/api/v1/people/{w.person_a}"),
            ("put", f"/api/v1/people/{w.person_a}")]


def test_without_a_valid_token_every_route_is_401_but_health_and_metrics_stay_open(stack, world):
    anonymous = stack.anonymous("intake")
    forged = httpx.Client(base_url=str(anonymous.base_url), timeout=10,
                          headers={"Authorization": "Bearer not.a.token"})
    for client in (anonymous, forged):
        for method, path in every_route(world):
            response = client.request(method.upper(), path)
            assert response.status_code == 401, (method, path, response.text)
            assert response.headers["WWW-Authenticate"] == "Bearer"
    for path in ("/healthz", "/readyz", "/metrics"):
        assert anonymous.get(path).status_code == 200, path
