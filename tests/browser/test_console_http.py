"""The console over plain HTTP: its address, the sign-in it requires, its languages."""

import html
import re
import uuid
from contextlib import closing

import httpx
import pytest

from tests.support import wait_until

pytestmark = pytest.mark.browser


@pytest.fixture
def console(console_stack):
    return console_stack[1]


def csrf_client(console) -> httpx.Client:
    """A client that repeats its CSRF cookie on every request (as the console's forms do)."""
    client = httpx.Client(base_url=console.url, timeout=10)
    client.get("/signin")
    client.headers["X-CSRF-Token"] = client.cookies["duban_csrf"]
    return client


def signed_in(console, role="office", unit="", lang=None) -> httpx.Client:
    client = csrf_client(console)
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
    with closing(csrf_client(console)) as client:
        response = client.post("/signin", data={"role": "office"})
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
    with closing(csrf_client(console)) as client:
        refused = client.post("/signin", data={"role": "unit_head"})
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


def test_sign_in_returns_to_the_page_asked_for(console):
    with closing(csrf_client(console)) as client:
        response = client.post("/signin", data={"role": "office", "next": "/tasks?light=red"})
        assert response.headers["location"] == "/tasks?light=red"
        elsewhere = client.post("/signin", data={"role": "office", "next": "//evil.example/x"})
        assert elsewhere.headers["location"] == "/"  # no open redirect


def test_the_apis_refusals_are_shown(console_stack):
    stack, console = console_stack
    unit = f"U-{uuid.uuid4().hex[:6]}"
    with closing(signed_in(console)) as office:
        bad = office.post("/items/new", data={
            "title": "坏单位", "source_kind": "other", "source_ref": "", "urgency": "normal",
            "task_lead_unit": "no spaces allowed", "task_co_units": "", "task_title": "",
            "task_due": "2030-01-31"})
        assert bad.status_code == 422 and 'role="alert"' in bad.text and "lead_unit" in bad.text
        assert 'value="坏单位"' in bad.text  # the form keeps what was typed
        made = office.post("/items/new", data={
            "title": "安全检查", "source_kind": "other", "source_ref": "", "urgency": "normal",
            "task_lead_unit": unit, "task_co_units": "", "task_title": "", "task_due": "2030-01-31"})
        assert made.status_code == 303 and made.headers["location"].startswith("/items/")
        item = office.get(made.headers["location"])
        assert "2030-01-31 17:30" in item.text and "在办" in item.text
        task_id = stack.intake.get(f"/api/v1{made.headers['location']}").json()["tasks"][0]["id"]
        wait_until(lambda: office.get(f"/tasks/{task_id}").status_code == 200, what="the task")
        refused = office.post(f"/tasks/{task_id}/act/accept", data={"comment": ""})
        assert refused.status_code == 303
        shown = office.get(f"/tasks/{task_id}")
        assert 'class="flash error"' in shown.text and "only a submitted task can be reviewed" in shown.text
        assert 'class="flash' not in office.get(f"/tasks/{task_id}").text  # shown once


def test_the_item_form_takes_working_days_keeps_what_was_typed_and_wants_one_deadline(console_stack):
    stack, console = console_stack
    unit, other = (f"U-{uuid.uuid4().hex[:6]}" for _ in range(2))
    typed = {"title": "年度重点工作", "source_kind": "annual_key_work", "source_ref": "2026-1号",
             "urgency": "urgent", "regime": "ledger", "supervising_leader": "王副总",
             "supervisor": "李督查", "requirements": "按月报送进展",
             "task_lead_unit": [unit, other], "task_co_units": ["", ""], "task_title": ["", ""],
             "task_responsible_person": ["张三", ""], "task_due": ["", "2030-01-31"],
             "task_due_working_days": ["5", ""], "task_reporting_cycle": ["month", "none"]}
    with closing(signed_in(console)) as office:
        more = office.post("/items/new", data={**typed, "more_rows": "1"})
        assert more.status_code == 200 and more.text.count('name="task_lead_unit"') == 5
        assert 'value="王副总"' in more.text and f'value="{unit}"' in more.text and 'value="5"' in more.text
        for due, days in (("", ""), ("2030-01-31", "5")):
            refused = office.post("/items/new", data={**typed, "task_due": [due, "2030-01-31"],
                                                      "task_due_working_days": [days, ""]})
            assert refused.status_code == 422 and f"单位 {unit} 的任务" in refused.text
        made = office.post("/items/new", data=typed)
        assert made.status_code == 303, made.text
    item = stack.intake.get(f"/api/v1{made.headers['location']}").json()
    assert (item["regime"], item["urgency"], item["supervising_leader"], item["supervisor"],
            item["requirements"]) == ("ledger", "urgent", "王副总", "李督查", "按月报送进展")
    first, second = item["tasks"]
    assert (first["due_working_days"], first["responsible_person"], first["reporting_cycle"]) == (
        5, "张三", "month")
    assert second["due"].startswith("2030-01-31T") and second["due_working_days"] is None


def test_the_ledger_pages_and_filters(console_stack):
    stack, console = console_stack
    tag = uuid.uuid4().hex[:8]
    units = [f"U-{tag}-{n:02d}" for n in range(23)]
    response = stack.intake.post("/api/v1/items", json={
        "title": f"分页 {tag}", "source": {"kind": "other", "ref": ""},
        "tasks": [{"lead_unit": u, "due": f"2030-03-{n + 1:02d}T17:30:00+08:00"}
                  for n, u in enumerate(units)]})
    assert response.status_code == 201, response.text
    with closing(signed_in(console)) as office:
        first = wait_until(lambda: (r := office.get("/tasks", params={"q": tag})).text.count(
            'class="task-row"') == 20 and r, what="the ledger's first page")
        assert "(23)" in first.text and units[0] in first.text and units[20] not in first.text
        link = re.search(r'rel="next" href="([^"]+)"', first.text).group(1)
        second = office.get(html.unescape(link))
        assert second.text.count('class="task-row"') == 3 and units[22] in second.text
        assert 'rel="next"' not in second.text
        narrowed = office.get("/tasks", params={"q": tag, "unit": units[5], "status": "assigned"})
        assert narrowed.text.count('class="task-row"') == 1
        assert office.get("/tasks", params={"q": tag, "status": "accepted"}).text.count(
            'class="task-row"') == 0
        rows = lambda **more: office.get("/tasks", params={"q": tag, **more}).text.count(  # noqa: E731
            'class="task-row"')
        # A date range covers whole days in Beijing: due 3, 4 and 5 March at 17:30.
        assert rows(due_from="2030-03-03", due_to="2030-03-05") == 3
        assert rows(regime="special", urgency="normal", source_kind="other") == 20  # a page of 23
        assert rows(regime="ledger") == rows(urgency="urgent") == rows(supervisor="无此人") == 0
        bad = office.get("/tasks", params={"q": tag, "due_from": "3月3日"})
        assert bad.status_code == 422 and "due_from" in bad.text


def test_refused_task_actions_and_bulletins_show_the_apis_message(console):
    with closing(signed_in(console, "office")) as office:
        bulletin = office.post("/bulletins", data={"kind": "criticism", "issuer": "office",
                                                   "units": "", "reason": "无单位"})
        assert bulletin.status_code == 422 and 'id="form-error"' in bulletin.text
        assert "units" in html.unescape(bulletin.text)
        missing = office.post("/tasks/T-nope/act/urge", data={"comment": "催"})
        assert missing.status_code == 303 and missing.headers["location"] == "/tasks/T-nope"
        shown = office.get("/tasks/T-nope")  # the flash is shown once, on the next page
        assert shown.status_code == 404 and "no task T-nope" in shown.text
    with closing(signed_in(console, "unit_head", "U-refused")) as head:
        refused = head.post("/bulletins", data={"kind": "commendation", "issuer": "office",
                                                "units": "U-refused", "reason": "自我表扬"})
        assert refused.status_code == 403 and 'id="form-error"' in refused.text
        no_date = head.post("/tasks/T-nope/extension", data={"new_due": "", "reason": "x"},
                            follow_redirects=True)
        assert "请填写申请延至的日期" in no_date.text


def test_inbox_for_a_tenant_wide_role_asks_for_the_recipient(console):
    with closing(signed_in(console, "office")) as office:
        empty = office.get("/inbox")
        assert empty.status_code == 200 and 'id="recipient-form"' in empty.text
        assert 'id="notices"' not in empty.text
        unit = f"U-{uuid.uuid4().hex[:6]}"
        chosen = office.get(f"/inbox?recipient={unit}")
        assert chosen.status_code == 200 and f"消息 · {unit}" in chosen.text and "暂无" in chosen.text
        marked = office.post("/inbox/read", data={"recipient": unit})
        assert marked.status_code == 303 and marked.headers["location"] == f"/inbox?recipient={unit}"


def test_office_actions_follow_the_tasks_state_and_refusals_are_shown(console_stack):
    stack, console = console_stack
    unit = f"U-{uuid.uuid4().hex[:6]}"
    made = stack.intake.post("/api/v1/items", json={
        "title": "中止与撤销", "source": {"kind": "other", "ref": ""},
        "tasks": [{"lead_unit": unit, "due": "2030-01-31T17:30:00+08:00"}]})
    assert made.status_code == 201, made.text
    task = made.json()["tasks"][0]["id"]
    with closing(signed_in(console, "unit_head", unit)) as head:
        page = wait_until(lambda: (r := head.get(f"/tasks/{task}")).status_code == 200 and r,
                          what="the task")
        assert 'id="extension-form"' in page.text and 'id="do-urge"' not in page.text
        early = head.post(f"/tasks/{task}/extension", data={"new_due": "2029-12-31", "reason": "早于时限"},
                          follow_redirects=True)
        assert 'class="flash error"' in early.text and "the new deadline must be after" in early.text
        assert 'id="extension"' not in early.text
    with closing(signed_in(console, "office")) as office:
        page = office.get(f"/tasks/{task}")
        assert all(f'id="do-{a}"' in page.text for a in ("urge", "suspend", "cancel"))
        assert 'id="do-resume"' not in page.text and 'id="extension-decision-form"' not in page.text
        refused = office.post(f"/tasks/{task}/extension/grant", data={"comment": ""},
                              follow_redirects=True)
        assert "there is no pending extension request" in refused.text
        suspended = office.post(f"/tasks/{task}/act/suspend", data={"comment": "等待上级答复"},
                                follow_redirects=True)
        assert 'data-status="suspended"' in suspended.text and 'id="do-resume"' in suspended.text
        assert 'id="do-urge"' not in suspended.text and 'id="do-suspend"' not in suspended.text
        resumed = office.post(f"/tasks/{task}/act/resume", data={"comment": ""}, follow_redirects=True)
        assert 'data-status="assigned"' in resumed.text and 'id="do-urge"' in resumed.text
        cancelled = office.post(f"/tasks/{task}/act/cancel", data={"comment": "重复交办"},
                                follow_redirects=True)
        assert 'data-status="cancelled"' in cancelled.text and 'id="office-form"' not in cancelled.text
        assert "重复交办" in cancelled.text
