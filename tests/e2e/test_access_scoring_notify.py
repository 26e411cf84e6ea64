"""Who may read a unit's score (scoring) and a unit's inbox (notify), and which tokens count at all.

Tenant "default" has the tree P → C (a sub-unit) and O (another unit); each has one overdue task,
so each has a count, a ledger entry and notices. Everyone reads in scope: a unit's people and a
subtree-limited office see their unit and the units below it; another unit is 404 (never 403: its
existence must not leak). A caller of another tenant reads its own tenant's record of that id.
"""

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.auth import DEV_KEY_FILE, DEV_KEY_ID, ROLES, UNIT_ROLES, load_dev_key
from shared.settings import Settings
from tests.e2e.helpers import advance_clock, register, simulated_now, unit
from tests.support import ServiceStack, wait_until

pytestmark = pytest.mark.e2e

ROUTES = {"score": ("scoring", "/api/v1/units/{unit}/score"),
          "inbox": ("notify", "/api/v1/inbox/{unit}")}
TENANT_WIDE = [r for r in ROLES if r not in UNIT_ROLES]
OTHER_TENANT = "other"


def _case(route, role, caller_unit, target, status, tenant="default"):
    where = f"{role}@{caller_unit or tenant}" + (f".{tenant}" if caller_unit and tenant != "default" else "")
    return pytest.param(route, role, caller_unit, tenant, target, status,
                        id=f"{route}-{where}-{target}-{status}")


def matrix():
    for route in ROUTES:
        for role in ROLES:  # bound to P: its own unit, the sub-unit, another unit
            yield _case(route, role, "P", "P", 200)
            yield _case(route, role, "P", "C", 200)
            yield _case(route, role, "P", "O", 404)
        for role in TENANT_WIDE:
            for target in ("P", "C", "O"):
                yield _case(route, role, None, target, 200)
        yield _case(route, "unit_head", "C", "P", 404)  # the unit above is not in scope
        yield _case(route, "office", "C", "P", 404)
        for role in ROLES:  # another tenant, bound to a unit of its own
            yield _case(route, role, "X", "P", 404, OTHER_TENANT)
        for role in TENANT_WIDE:  # another tenant, tenant-wide: its own (empty) record of the id
            yield _case(route, role, None, "P", 200, OTHER_TENANT)
        # Unit ids are per tenant: the other tenant's own unit "P" is not the default tenant's.
        yield _case(route, "unit_head", "P", "P", 200, OTHER_TENANT)


@pytest.fixture(scope="module")
def tree(stack):
    """P → C and O in tenant "default", each with one overdue task, known to scoring and notify."""
    units = {"P": unit(), "C": unit(), "O": unit(), "X": unit()}
    admin = stack.as_("admin", service="intake")
    for key, parent in (("P", None), ("C", "P"), ("O", None)):
        body = {"id": units[key], "name": f"单位{key}", "parent_id": units[parent] if parent else None}
        response = admin.post("/api/v1/units", json=body)
        assert response.status_code == 201, response.text
    item = register(stack, units["P"], units["C"], units["O"], due=simulated_now(stack) + timedelta(hours=2))
    tasks = {key: t["id"] for key, t in zip(("P", "C", "O"), item["tasks"], strict=True)}
    advance_clock(stack, timedelta(hours=3))
    for key in ("P", "C", "O"):
        wait_until(lambda k=key: _settled(stack, units[k]), what=f"score and notices of {key}")
    for service, path in ROUTES.values():  # the copies know C is under P
        head = stack.as_("unit_head", units["P"], service=service)
        wait_until(lambda h=head, p=path: h.get(p.format(unit=units["C"])).status_code == 200,
                   what=f"{service}'s copy of the tree")
    return {"units": units, "tasks": tasks}


def _settled(stack: ServiceStack, unit_id: str) -> bool:
    score = stack.scoring.get(f"/api/v1/units/{unit_id}/score").json()
    kinds = {n["kind"] for n in stack.notify.get(f"/api/v1/inbox/{unit_id}").json()}
    return score["rates"]["tasks_due"] == 1 and len(score["entries"]) == 1 and {"assigned", "overdue"} <= kinds


@pytest.mark.parametrize("route,role,caller_unit,tenant,target,status", list(matrix()))
def test_matrix(stack, tree, route, role, caller_unit, tenant, target, status):
    units, tasks = tree["units"], tree["tasks"]
    service, path = ROUTES[route]
    caller = stack.as_(role, units.get(caller_unit, caller_unit), service=service, tenant=tenant)
    response = caller.get(path.format(unit=units[target]))
    assert response.status_code == status, response.text
    if status != 200:
        return
    body = response.json()
    expected_tasks = [tasks[target]] if tenant == "default" else []
    if route == "score":  # the unit's own record, nothing of another unit or tenant
        assert body["unit"] == units[target]
        assert (body["rates"]["tasks_due"], body["rates"]["overdue_count"]) == (
            len(expected_tasks), len(expected_tasks))
        assert [(e["rule"], e["task_id"]) for e in body["entries"]] == [("overdue.lead", t) for t in expected_tasks]
        assert body["points"] == sum(e["points"] for e in body["entries"])
        assert body["total"] == body["base"] + body["points"]
    else:
        assert {n["recipient"] for n in body} <= {units[target]}
        # (notices naming no task come from scoring's events, e.g. the escalation of an overdue task)
        assert sorted({n["task_id"] for n in body if n["task_id"]}) == expected_tasks


@pytest.mark.parametrize("route", ROUTES)
def test_anonymous_callers_are_401(stack, tree, route):
    service, path = ROUTES[route]
    response = stack.anonymous(service).get(path.format(unit=tree["units"]["P"]))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


# ---- tokens that must not count ------------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _claims(settings: Settings, **changes) -> dict:
    now = int(time.time())
    return {"iss": settings.auth_issuer, "aud": settings.auth_audience, "iat": now, "exp": now + 600,
            "sub": "office@default", "tenant": "default", "role": "office", **changes}


def _hs256_with_public_pem(stack: ServiceStack, settings: Settings) -> str:
    """Algorithm confusion: HMAC keyed with the issuer's public key PEM, which anyone may know.
    PyJWT refuses to sign that (it is an asymmetric key), so the token is put together by hand."""
    public_pem = load_dev_key(stack.tmp / DEV_KEY_FILE).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": DEV_KEY_ID}).encode())
    payload = _b64(json.dumps(_claims(settings)).encode())
    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def bad_token(stack: ServiceStack, kind: str) -> str:
    settings = Settings(data_dir=stack.tmp)
    if kind == "forged":  # right claims and key id, another RSA key
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return jwt.encode(_claims(settings), other, algorithm="RS256", headers={"kid": DEV_KEY_ID})
    if kind == "expired":
        return stack.token(exp=int(time.time()) - 3600)  # well past the allowed clock skew
    if kind == "wrong_audience":
        return stack.token(aud="another-app")
    if kind == "wrong_issuer":
        return stack.token(iss="https://evil.example.test")
    if kind == "hs256_with_public_key":
        return _hs256_with_public_pem(stack, settings)
    if kind == "alg_none":
        return jwt.encode(_claims(settings), None, algorithm="none", headers={"kid": DEV_KEY_ID})
    raise ValueError(kind)


# Each bad token, and why it is refused (so a test cannot pass for another reason).
BAD_TOKENS = {
    "forged": "Signature verification failed",
    "expired": "Signature has expired",
    "wrong_audience": "Audience doesn't match",
    "wrong_issuer": "Invalid issuer",
    "hs256_with_public_key": "token algorithm 'HS256' is not accepted",
    "alg_none": "token algorithm 'none' is not accepted",
}


@pytest.mark.parametrize("kind", BAD_TOKENS)
@pytest.mark.parametrize("route", ROUTES)
def test_bad_tokens_are_401(stack, tree, route, kind):
    service, path = ROUTES[route]
    token = bad_token(stack, kind)
    response = stack.anonymous(service).get(path.format(unit=tree["units"]["P"]),
                                            headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, response.text
    assert response.json()["detail"] == f"invalid token: {BAD_TOKENS[kind]}"


def test_the_good_token_next_to_the_bad_ones_is_accepted(stack, tree):
    """The bad tokens above differ from this one in one thing each."""
    response = stack.anonymous("scoring").get(f"/api/v1/units/{tree['units']['P']}/score",
                                              headers={"Authorization": f"Bearer {stack.token()}"})
    assert response.status_code == 200


# ---- OIDC mode: keys from the provider's JWKS ------------------------------------------------------

IDP_ISSUER = "https://idp.example.test"
IDP_AUDIENCE = "duban-test"
IDP_KID = "idp-key-1"


class JwksServer:
    """The identity provider's JWKS endpoint on a loopback port, serving one key."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        body = json.dumps({"keys": [{**jwk, "kid": IDP_KID, "use": "sig", "alg": "RS256"}]}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def token(self, kid: str = IDP_KID, **changes) -> str:
        now = int(time.time())
        claims = {"iss": IDP_ISSUER, "aud": IDP_AUDIENCE, "iat": now, "exp": now + 600,
                  "sub": f"u-{uuid.uuid4().hex[:6]}", "tenant": "default", "role": "office", **changes}
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": kid})

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def oidc(tmp_path_factory):
    """A stack that trusts only the provider's JWKS. SQLite only: this is about checking tokens,
    not about storage, so one backend is enough."""
    idp = JwksServer()
    running = ServiceStack(tmp_path_factory.mktemp("stack-oidc"), "sqlite", {
        "DUBAN_AUTH_JWKS_URL": idp.url,
        "DUBAN_AUTH_ISSUER": IDP_ISSUER,
        "DUBAN_AUTH_AUDIENCE": IDP_AUDIENCE,
    })
    yield running, idp
    running.stop()
    idp.stop()


def _get(stack: ServiceStack, service: str, path: str, token: str) -> httpx.Response:
    return stack.anonymous(service).get(path, headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize("route", ROUTES)
def test_oidc_mode_accepts_the_providers_tokens_and_nothing_else(oidc, route):
    stack, idp = oidc
    service, path = ROUTES[route]
    url = path.format(unit=unit())
    assert _get(stack, service, url, idp.token()).status_code == 200
    # the access rules still apply: a unit's head of another unit does not see this one
    assert _get(stack, service, url, idp.token(role="unit_head", unit=unit())).status_code == 404
    refused = {
        # the embedded dev issuer's tokens, as minted and with the provider's issuer and audience
        stack.token(): DEV_KEY_ID,
        stack.token(iss=IDP_ISSUER, aud=IDP_AUDIENCE): DEV_KEY_ID,
        # signed by the provider's key, but naming a key id its JWKS does not have
        idp.token(kid="idp-key-retired"): "idp-key-retired",
    }
    for token, kid in refused.items():
        response = _get(stack, service, url, token)
        assert response.status_code == 401, response.text
        assert response.json()["detail"] == f"invalid token: unknown signing key {kid!r}"


# ---- the lists of bulletins and appeals: narrowed to the caller's units ----------------------------


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()]


def test_bulletins_are_listed_newest_first_and_narrowed_to_the_callers_units(stack, tree):
    units = tree["units"]
    issued = {}
    for key, kind in (("P", "criticism"), ("C", "commendation"), ("O", "criticism")):
        response = stack.scoring.post("/api/v1/bulletins", json={
            "kind": kind, "issuer": "office", "units": [units[key]], "reason": f"通报{key}"})
        assert response.status_code == 201, response.text
        issued[key] = response.json()["id"]
    office = stack.scoring
    assert _ids(office.get("/api/v1/bulletins", params={"unit": units["P"]})) == [issued["C"], issued["P"]]
    assert _ids(office.get("/api/v1/bulletins", params={"unit": units["P"], "kind": "criticism"})) == [issued["P"]]
    year = simulated_now(stack).year
    assert _ids(office.get("/api/v1/bulletins", params={"unit": units["O"], "period": str(year)})) == [issued["O"]]
    assert _ids(office.get("/api/v1/bulletins", params={"unit": units["O"], "period": "2001"})) == []
    assert office.get("/api/v1/bulletins", params={"period": "soon"}).status_code == 422
    assert {issued["P"], issued["C"], issued["O"]} <= set(_ids(office.get("/api/v1/bulletins")))
    for key, seen in (("P", ["C", "P"]), ("C", ["C"]), ("O", ["O"])):
        head = stack.as_("unit_head", units[key], service="scoring")
        assert _ids(head.get("/api/v1/bulletins")) == [issued[k] for k in seen]
    sub = stack.as_("unit_head", units["C"], service="scoring")
    assert sub.get("/api/v1/bulletins", params={"unit": units["P"]}).status_code == 403
    other = stack.as_("office", service="scoring", tenant=OTHER_TENANT)
    assert _ids(other.get("/api/v1/bulletins", params={"unit": units["P"]})) == []


def test_appeals_are_listed_by_status_and_narrowed_to_the_callers_units(stack, tree):
    units = tree["units"]
    filed = {}
    for key in ("P", "C", "O"):
        entry = next(e for e in stack.scoring.get(f"/api/v1/units/{units[key]}/score").json()["entries"]
                     if e["rule"] == "overdue.lead")
        head = stack.as_("unit_head", units[key], service="scoring")
        response = head.post("/api/v1/appeals", json={"entry_id": entry["id"], "reason": "不可抗力"})
        assert response.status_code == 201, response.text
        filed[key] = response.json()["id"]
    office = stack.scoring
    assert _ids(office.get("/api/v1/appeals", params={"unit": units["P"], "status": "pending"})) == [
        filed["C"], filed["P"]]
    assert _ids(stack.as_("unit_head", units["O"], service="scoring").get("/api/v1/appeals")) == [filed["O"]]
    assert _ids(stack.as_("unit_head", units["C"], service="scoring").get("/api/v1/appeals")) == [filed["C"]]
    decided = office.post(f"/api/v1/appeals/{filed['O']}/decide", json={"decision": "reverse", "comment": "属实"})
    assert decided.status_code == 200, decided.text
    assert _ids(office.get("/api/v1/appeals", params={"unit": units["O"], "status": "pending"})) == []
    reversed_ = office.get("/api/v1/appeals", params={"unit": units["O"], "status": "reversed"}).json()
    assert [(a["id"], a["status"], a["comment"]) for a in reversed_] == [(filed["O"], "reversed", "属实")]
    assert reversed_[0]["entry_id"] is not None
    assert office.get("/api/v1/appeals", params={"status": "lost"}).status_code == 422
    head_p = stack.as_("unit_head", units["P"], service="scoring")
    assert head_p.get("/api/v1/appeals", params={"unit": units["O"]}).status_code == 403
    assert stack.anonymous("scoring").get("/api/v1/appeals").status_code == 401
