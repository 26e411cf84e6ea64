"""Production sign-in: the console and the services trust an OpenID Connect provider (a real one
over HTTP, tests/browser/oidc_provider.py). A unit head signs in through it (code + PKCE, state,
nonce) and sees their unit's task; a tampered state, a wrong nonce, an expired ID token, an access
token naming no role are refused with no session; sign-out goes through the provider."""

import uuid
from contextlib import closing
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from tests.browser.conftest import Console
from tests.browser.oidc_provider import Provider
from tests.browser.test_console_flow import open_until
from tests.support import ServiceStack, free_port

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def oidc_stack(tmp_path_factory):
    provider = Provider().start()
    stack = ServiceStack(tmp_path_factory.mktemp("oidc-stack"), "sqlite", extra_env={
        "DUBAN_AUTH_JWKS_URL": f"{provider.issuer}/jwks", "DUBAN_AUTH_ISSUER": provider.issuer})
    port = free_port()
    provider.redirect_uri = f"http://127.0.0.1:{port}/oidc/callback"
    try:
        console = Console(stack, port=port, extra_env={
            "DUBAN_CONSOLE_OIDC_ISSUER": provider.issuer,
            "DUBAN_CONSOLE_OIDC_CLIENT_ID": provider.client_id,
            "DUBAN_CONSOLE_OIDC_CLIENT_SECRET": provider.client_secret,
            "DUBAN_CONSOLE_OIDC_REDIRECT_URL": provider.redirect_uri,
            "DUBAN_CONSOLE_OIDC_POST_LOGOUT_URL": f"http://127.0.0.1:{port}/signin"})
    except BaseException:
        stack.stop()
        provider.stop()
        raise
    yield stack, console, provider
    console.stop()
    stack.stop()
    provider.stop()


def _head(unit: str) -> dict:
    return {"sub": f"head@{unit}", "tenant": "default", "role": "unit_head", "unit": unit,
            "name": "张科长"}


def _register(stack: ServiceStack, provider: Provider, unit: str, title: str) -> None:
    """The office registers an item through intake's API, with a token from the provider."""
    token = provider.access_token(sub="office-1", tenant="default", role="office")
    response = httpx.post(f"{stack.stack.urls['intake']}/api/v1/items", timeout=10,
                          headers={"Authorization": f"Bearer {token}"},
                          json={"title": title, "source": {"kind": "other", "ref": ""},
                                "tasks": [{"lead_unit": unit, "due": "2030-06-28T17:30:00+08:00"}]})
    assert response.status_code == 201, response.text


def _to_callback(client: httpx.Client, provider: Provider) -> str:
    """Start the sign-in at the console and let the provider answer: the callback URL it gives."""
    start = client.get("/oidc/login", params={"next": "/tasks"})
    assert start.status_code == 303
    asked = urlsplit(start.headers["location"])
    assert f"{asked.scheme}://{asked.netloc}" == provider.issuer and asked.path == "/authorize"
    query = parse_qs(asked.query)
    assert query["code_challenge_method"] == ["S256"] and query["state"] and query["nonce"]
    answer = httpx.get(start.headers["location"], timeout=10)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def test_a_unit_head_signs_in_through_the_provider_and_sees_their_task(oidc_stack, browser,
                                                                       screenshot):
    stack, console, provider = oidc_stack
    unit = f"U-{uuid.uuid4().hex[:6]}"
    _register(stack, provider, unit, "防汛物资储备检查")
    provider.user = _head(unit)
    page = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN").new_page()
    page.goto(f"{console.url}/")
    assert page.url.endswith("/signin")
    assert page.locator("#signin").count() == 0  # no developer sign-in next to a real provider
    screenshot(page, "signin-oidc")
    page.click("#oidc-signin")
    page.wait_for_url(f"{console.url}/")
    assert page.locator(".me").get_attribute("data-role") == "unit_head"
    assert unit in page.locator(".me").inner_text()
    open_until(page, f"{console.url}/", ".task-row", "the unit's task on its home page")
    assert "防汛物资储备检查" in page.locator(".task-row").first.inner_text()
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["duban_session"]["httpOnly"] and "duban_oidc" not in cookies  # flow cookie gone

    page.click("header form[action='/signout'] button")
    page.wait_for_url(f"{console.url}/signin")  # by way of the provider's end-session endpoint
    page.goto(f"{console.url}/tasks")
    assert "/signin" in page.url


def test_the_developer_sign_in_is_refused_next_to_a_provider(oidc_stack):
    _, console, _ = oidc_stack
    with closing(httpx.Client(base_url=console.url, timeout=10)) as client:
        assert 'id="signin"' not in client.get("/signin").text  # no form to fill in
        client.cookies.set("duban_csrf", "t" * 43)  # the form's token, as if it had been there
        refused = client.post("/signin", data={"role": "admin", "csrf": "t" * 43})
        assert refused.status_code == 303 and "duban_session" not in refused.cookies


@pytest.mark.parametrize("fault, reason", [
    ("state", "state does not match"),
    ("nonce", "wrong nonce"),
    ("expired", "expired"),
    ("no_role", "unknown role"),
])
def test_a_sign_in_that_does_not_hold_up_is_refused(oidc_stack, fault, reason):
    _, console, provider = oidc_stack
    provider.user = _head("U-refused")
    if fault == "no_role":
        provider.user = {"sub": "someone", "tenant": "default"}
    provider.faults = {fault} & {"nonce", "expired"}
    try:
        with closing(httpx.Client(base_url=console.url, timeout=10)) as client:
            callback = _to_callback(client, provider)
            if fault == "state":
                query = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
                callback = f"/oidc/callback?{urlencode({**query, 'state': 'forged'})}"
            answer = client.get(callback.replace(console.url, ""))
            assert answer.status_code == 403, answer.text
            assert reason in answer.text and 'id="error"' in answer.text
            assert "duban_session" not in client.cookies
            assert client.get("/").status_code == 303  # still signed out
    finally:
        provider.faults = set()


def test_a_good_sign_in_over_http_lands_on_the_page_asked_for(oidc_stack):
    _, console, provider = oidc_stack
    provider.user = _head("U-http")
    with closing(httpx.Client(base_url=console.url, timeout=10)) as client:
        answer = client.get(_to_callback(client, provider).replace(console.url, ""))
        assert answer.status_code == 303 and answer.headers["location"] == "/tasks"
        assert "duban_session" in client.cookies
        assert client.get("/tasks").status_code == 200
