"""The console over plain HTTP: its address, the sign-in it requires, its languages."""

from contextlib import closing

import httpx
import pytest

pytestmark = pytest.mark.browser


@pytest.fixture
def console(console_stack):
    return console_stack[1]


def signed_in(console, role="office", unit="", lang=None) -> httpx.Client:
    client = httpx.Client(base_url=console.url, timeout=10)
    response = client.post("/signin", data={"tenant": "default", "role": role, "unit": unit})
    assert response.status_code == 303 and "duban_session" in response.cookies
    if lang:
        client.get(f"/?lang={lang}")
    return client


def test_front_page_needs_sign_in_and_is_chinese(console):
    response = httpx.get(f"{console.url}/", timeout=10)
    assert response.status_code == 303 and response.headers["location"] == "/signin"
    deep = httpx.get(f"{console.url}/tasks?light=red", timeout=10)
    assert deep.status_code == 303 and deep.headers["location"] == "/signin?next=/tasks%3Flight%3Dred"
    page = httpx.get(f"{console.url}/signin", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in page.text and "登录" in page.text


def test_session_cookie_is_http_only_and_lax(console):
    response = httpx.post(f"{console.url}/signin", data={"role": "office"}, timeout=10)
    cookie = response.headers["set-cookie"].lower()
    assert "duban_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    with closing(signed_in(console)) as client:
        home = client.get("/")
        assert home.status_code == 200 and "督办总览" in home.text
        client.post("/signout")
        assert client.get("/").status_code == 303


def test_a_forged_or_bad_session_goes_back_to_sign_in(console):
    response = httpx.get(f"{console.url}/", cookies={"duban_session": "not.a.token"}, timeout=10)
    assert response.status_code == 303 and response.headers["location"] == "/signin"
    refused = httpx.post(f"{console.url}/signin", data={"role": "unit_head"}, timeout=10)
    assert refused.status_code == 303 and "duban_session" not in refused.cookies  # needs a unit


def test_lang_en_switches_and_sticks(console):
    with closing(signed_in(console)) as client:
        english = client.get("/?lang=en")
        assert '<html lang="en">' in english.text and "Overview" in english.text
        assert client.get("/tasks").text.count('<html lang="en">') == 1  # kept in a cookie
        back = client.get("/tasks?lang=zh-CN")
        assert '<html lang="zh-CN">' in back.text and "台账" in back.text


def test_unknown_task_is_the_404_page(console):
    with closing(signed_in(console)) as client:
        response = client.get("/tasks/T-nonexistent")
        assert response.status_code == 404 and 'id="not-found"' in response.text
