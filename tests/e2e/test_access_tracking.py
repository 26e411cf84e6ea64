"""Who may do what in tracking: every route × every role, in and out of its unit and tenant.

The org tree: P above A (the task's lead unit) and C (its co-unit); A1 below A; B elsewhere.
In the matrix an allowed change is sent with a field the caller may not set ("actor"), so it is
refused (422) only after access control has let it through, and the data stays as it is.
"""

from dataclasses import dataclass
from datetime import timedelta

import pytest

from tests.e2e.helpers import org_units, published, simulated_now, unit, wait_for_task
from tests.support import wait_until

pytestmark = pytest.mark.e2e

UNIT_ROLES = {"unit_head", "unit_handler"}
EVERYONE = {"admin", "office", "leader", "unit_head", "unit_handler", "viewer"}
OFFICE = {"admin", "office"}
SNEAKY = {"actor": "mallory"}  # mass assignment: the actor is always the token's subject


@dataclass(frozen=True)
class Call:
    """One route of tracking, as the matrix calls it."""

    method: str
    path: str  # {task}, {sha} and {lead} filled in from the module's data
    roles: frozenset[str]
    on_task: bool = True  # about one task: scope decides 404 / 403
    co_units_act: bool = False  # co-units may act (evidence, reports)

    @property
    def reads(self) -> bool:
        return self.method == "GET"


def action(path: str, roles: set[str], **kw) -> Call:
    return Call("POST", f"/tasks/{{task}}/{path}", frozenset(roles), **kw)


CALLS = {
    "get task": Call("GET", "/tasks/{task}", frozenset(EVERYONE)),
    "get evidence": Call("GET", "/tasks/{task}/evidence/{sha}", frozenset(EVERYONE)),
    "list reports": Call("GET", "/tasks/{task}/reports", frozenset(EVERYONE)),
    "consolidated": Call("GET", "/tasks/{task}/reports/consolidated", frozenset(EVERYONE)),
    "missing reports": Call("GET", "/tasks/{task}/reports/missing", frozenset(EVERYONE)),
    "sign": action("sign", UNIT_ROLES),
    "progress": action("progress", UNIT_ROLES),
    "reach milestone": action("milestones/0/reach", UNIT_ROLES),
    "submit": action("submit", {"unit_head"}),
    "extension": action("extension", {"unit_head"}),
    "dispatch": action("dispatch", {"unit_head"}),
    "upload evidence": action("evidence", UNIT_ROLES, co_units_act=True),
    "report": action("reports", UNIT_ROLES, co_units_act=True),
    "review": action("review", OFFICE),
    "decide extension": action("extension/decide", OFFICE),
    "cancel": action("cancel", OFFICE),
    "suspend": action("suspend", OFFICE),
    "resume": action("resume", OFFICE),
    "urge": action("urge", OFFICE | {"leader"}),
    "ledger of the lead unit": Call("GET", "/tasks?unit={lead}", frozenset(EVERYONE), on_task=False),
    "open tasks by unit under the lead unit": Call("GET", "/tasks/by-unit?unit={lead}", frozenset(EVERYONE),
                                                   on_task=False),
    "calendar": Call("GET", "/calendar", frozenset(EVERYONE), on_task=False),
    "calendar year": Call("GET", "/calendar/2026", frozenset(EVERYONE), on_task=False),
    "load calendar year": Call("PUT", "/calendar/2030", frozenset({"admin"}), on_task=False),
}

# Where a caller stands: its unit (a name in the tree; None: the whole tenant) and tenant.
RELATIONS = {
    "tenant-wide": (None, "default"),
    "lead": ("A", "default"),
    "above": ("P", "default"),
    "co-unit": ("C", "default"),
    "other-unit": ("B", "default"),
    "other-tenant": ("A", "other"),  # the same unit id, in another tenant
}
WHO = [(role, relation) for role in sorted(EVERYONE) for relation in RELATIONS
       if not (role in UNIT_ROLES and RELATIONS[relation][0] is None)]


def expected(role: str, relation: str, call: Call) -> int:
    """The matrix: 403 for a role the route does not allow, 404 for a task out of the caller's
    tenant or scope, 403 for a caller bound to a unit changing what it is not responsible for."""
    if role not in call.roles:
        return 403
    if call.path.startswith(("/tasks?", "/tasks/by-unit?")):  # lists, asked for the lead unit
        return 403 if relation in ("co-unit", "other-unit") else 200
    if not call.on_task:
        return 200 if call.reads else 422
    if relation in ("other-unit", "other-tenant"):
        return 404
    if not call.reads and relation == "co-unit" and not call.co_units_act:
        return 403  # anyone bound to a co-unit sees the task but acts only on its own part
    if call.reads:
        return 200
    return 415 if call.path.endswith("/evidence") else 422  # the upload: not an allowed type


@pytest.fixture(scope="module")
def world(stack):
    tree = org_units(stack, {"P": None, "A": "P", "A1": "A", "C": "P", "B": None})
    far = simulated_now(stack) + timedelta(days=200)
    task_id = register(stack, tree["A"], co_units=[tree["C"]], due=far, reporting_cycle="month",
                       milestones=[{"title": "完成方案", "due": (far - timedelta(days=100)).isoformat()}])
    ledger = {name: register(stack, tree[name], due=far) for name in ("P", "A1", "B")}
    ledger["A"] = task_id
    head = stack.as_("unit_head", tree["A"])
    assert head.post(f"/api/v1/tasks/{task_id}/sign").status_code == 200
    uploaded = head.post(f"/api/v1/tasks/{task_id}/evidence", content=b"\xff\xd8\xff\xe0" + bytes(32),
                         headers={"content-type": "image/jpeg"})
    assert uploaded.status_code == 201, uploaded.text
    # the org copy reached tracking: P's head sees A's task and A's head A1's
    wait_until(lambda: stack.as_("unit_head", tree["P"]).get(f"/api/v1/tasks/{task_id}")
               .status_code == 200, what="the org tree in tracking")
    wait_until(lambda: stack.as_("unit_head", tree["A"]).get(f"/api/v1/tasks/{ledger['A1']}")
               .status_code == 200, what="A1 under A in tracking")
    return {"tree": tree, "task": task_id, "sha": uploaded.json()["sha256"], "ledger": ledger}


def register(stack, lead: str, *, due, co_units=(), client=None, **task) -> str:
    response = (client or stack.intake).post("/api/v1/items", json={
        "title": "权限测试事项", "source": {"kind": "other"},
        "tasks": [{"lead_unit": lead, "co_units": list(co_units), "due": due.isoformat(), **task}]})
    assert response.status_code == 201, response.text
    task_id = response.json()["tasks"][0]["id"]
    if client is None:
        wait_for_task(stack, task_id)
    return task_id


def call(client, c: Call, world: dict):
    path = "/api/v1" + c.path.format(task=world["task"], sha=world["sha"], lead=world["tree"]["A"])
    if c.reads:
        return client.get(path)
    if c.path.endswith("/evidence"):
        return client.post(path, content=b"MZ\x90\x00" + bytes(32),  # a program: refused
                           headers={"content-type": "application/octet-stream"})
    return client.request(c.method, path, json=SNEAKY)


@pytest.mark.parametrize("role,relation", WHO, ids=[f"{r}@{rel}" for r, rel in WHO])
def test_the_matrix(stack, world, role, relation):
    unit_name, tenant = RELATIONS[relation]
    client = stack.as_(role, world["tree"][unit_name] if unit_name else None, tenant=tenant)
    got = {name: call(client, c, world).status_code for name, c in CALLS.items()}
    assert got == {name: expected(role, relation, c) for name, c in CALLS.items()}
    after = stack.tracking.get(f"/api/v1/tasks/{world['task']}").json()
    assert after["status"] == "signed" and [h["action"] for h in after["history"]] == ["sign"]


def test_without_a_token_every_route_is_401(stack, world):
    anonymous = stack.anonymous("tracking")
    assert {name: call(anonymous, c, world).status_code for name, c in CALLS.items()} == \
        {name: 401 for name in CALLS}
    forged = {"Authorization": "Bearer " + stack.token("admin") + "x"}
    assert anonymous.get(f"/api/v1/tasks/{world['task']}", headers=forged).status_code == 401


def ledger(client, **params):
    return client.get("/api/v1/tasks", params={"with_total": "true", **params})


def ids(response) -> set[str]:
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["total"] == len(page["items"])  # the total counts only what the caller sees
    return {row["id"] for row in page["items"]}


def test_the_ledger_of_a_unit_holds_its_subtree_only(stack, world):
    tree, t = world["tree"], world["ledger"]
    head_a = stack.as_("unit_head", tree["A"])
    assert ids(ledger(head_a)) == {t["A"], t["A1"]}
    assert ids(ledger(head_a, unit=tree["A1"])) == {t["A1"]}
    assert ids(ledger(head_a, include_sub_units="false")) == {t["A"]}
    assert ids(ledger(stack.as_("office", tree["A"]))) == {t["A"], t["A1"]}
    assert ids(ledger(stack.as_("viewer", tree["B"]))) == {t["B"]}
    assert ids(ledger(stack.as_("leader", tree["P"]))) == {t["P"], t["A"], t["A1"]}
    assert ids(ledger(stack.tracking, unit=tree["P"])) == {t["P"], t["A"], t["A1"]}
    for outside in (tree["B"], tree["P"], tree["C"]):
        refused = ledger(head_a, unit=outside)
        assert refused.status_code == 403 and outside in refused.json()["detail"]
    assert not ids(ledger(stack.as_("office", tenant="other"))) & set(t.values())


def test_another_tenants_tasks_stay_in_it(stack, world):
    lead = world["tree"]["A"]  # the same unit id in both tenants
    theirs = register(stack, lead, due=simulated_now(stack) + timedelta(days=30),
                      client=stack.as_("office", service="intake", tenant="other"))
    their_head = stack.as_("unit_head", lead, tenant="other")
    wait_until(lambda: their_head.get(f"/api/v1/tasks/{theirs}").status_code == 200,
               what="the other tenant's task in tracking")
    assert stack.tracking.get(f"/api/v1/tasks/{theirs}").status_code == 404
    mine = stack.as_("unit_head", lead)
    assert mine.get(f"/api/v1/tasks/{theirs}").status_code == 404
    assert mine.post(f"/api/v1/tasks/{theirs}/sign").status_code == 404
    assert theirs not in ids(ledger(stack.tracking)) and theirs not in ids(ledger(mine))
    assert ids(ledger(stack.as_("office", tenant="other"), unit=lead)) == {theirs}
    signed = their_head.post(f"/api/v1/tasks/{theirs}/sign")
    assert signed.status_code == 200 and signed.json()["history"][-1]["actor"] == f"unit_head@{lead}"
    events = wait_until(lambda: published(stack, "duban.tracking.task.status_changed.v1",
                                          task_id=theirs), what="the other tenant's event")
    assert events[0]["actor"] == f"unit_head@{lead}"


def test_each_principal_does_its_own_part_and_is_named_as_the_actor(stack):
    lead, co = unit(), unit()
    task_id = register(stack, lead, co_units=[co], due=simulated_now(stack) + timedelta(days=60))
    path = f"/api/v1/tasks/{task_id}"
    handler, head = stack.as_("unit_handler", lead), stack.as_("unit_head", lead)
    co_head, co_handler = stack.as_("unit_head", co), stack.as_("unit_handler", co)

    assert handler.post(f"{path}/sign").status_code == 200
    for head_only in ("submit", "dispatch"):
        assert handler.post(f"{path}/{head_only}", json={}).status_code == 403
    later = (simulated_now(stack) + timedelta(days=90)).isoformat()
    assert handler.post(f"{path}/extension", json={"new_due": later, "reason": "r"}).status_code == 403

    assert co_head.get(path).status_code == 200  # a co-unit sees the task
    assert co_head.post(f"{path}/sign").status_code == 403  # but the lead unit acts on it
    evidence = co_handler.post(f"{path}/evidence", content=b"co-unit notes",
                               headers={"content-type": "text/plain"})
    assert evidence.status_code == 201, evidence.text
    part = co_head.post(f"{path}/reports", json={"text": "协办部分", "evidence": [evidence.json()["sha256"]]})
    assert part.status_code == 201, part.text
    assert (part.json()["unit"], part.json()["actor"]) == (co, f"unit_head@{co}")
    for_the_lead = co_head.post(f"{path}/reports", json={"unit": lead, "text": "代牵头单位报"})
    assert for_the_lead.status_code == 403 and "outside your scope" in for_the_lead.json()["detail"]

    for client in (stack.as_("viewer"), stack.as_("leader")):
        assert client.get(path).status_code == 200
        assert client.post(f"{path}/cancel", json={}).status_code == 403
        assert client.post(f"{path}/review", json={"decision": "accept"}).status_code == 403
    assert stack.as_("viewer").post(f"{path}/urge", json={}).status_code == 403
    urged = stack.as_("leader").post(f"{path}/urge", json={"comment": "领导督办：抓紧落实"})
    assert urged.status_code == 200, urged.text

    assert head.post(f"{path}/submit", json={"comment": "已完成"}).status_code == 200
    accepted = stack.tracking.post(f"{path}/review", json={"decision": "accept"})
    assert accepted.status_code == 200, accepted.text
    assert [(h["action"], h["actor"]) for h in accepted.json()["history"]] == [
        ("sign", f"unit_handler@{lead}"), ("progress", f"unit_head@{co}"), ("urge", "leader@default"),
        ("submit", f"unit_head@{lead}"), ("accept", "office@default")]
    reminded = wait_until(lambda: published(stack, "duban.tracking.task.reminded.v1", task_id=task_id),
                          what="the leader's urging")
    assert reminded[0]["actor"] == "leader@default" and reminded[0]["kind"] == "manual"


@pytest.mark.parametrize("who,route,body", [
    ("unit_head", "sign", {"comment": "签收", "actor": "someone-else"}),
    ("unit_head", "reports", {"text": "进展", "actor": "someone-else"}),
    ("office", "review", {"decision": "accept", "actor": "someone-else"}),
    ("office", "urge", {"comment": "催办", "status": "accepted"}),
])
def test_a_body_cannot_set_what_the_caller_may_not(stack, world, who, route, body):
    client = stack.as_(who, world["tree"]["A"] if who == "unit_head" else None)
    response = client.post(f"/api/v1/tasks/{world['task']}/{route}", json=body)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["type"] == "extra_forbidden" and error["loc"][-1] in ("actor", "status")
    calendar = stack.as_("admin").put("/api/v1/calendar/2030", json={
        "holidays": [], "workdays": [], "actor": "someone-else"})
    assert calendar.status_code == 422 and calendar.json()["detail"][0]["loc"][-1] == "actor"
