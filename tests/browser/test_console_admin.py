"""The administrator's pages in headless Chromium (a calendar year loaded moves a task's deadline, a
sub-unit created and renamed, a group robot set and only its host shown, a rule set version
published, a person's channels set), and over HTTP: who may open them, and CSRF."""

import json
import uuid
from contextlib import closing
from datetime import date, timedelta

import httpx
import pytest

from services.console.i18n import local
from tests.browser.test_console_flow import open_until, sign_in
from tests.browser.test_console_http import csrf_client, signed_in
from tests.support import wait_until

pytestmark = pytest.mark.browser


def _task_due(stack, task_id: str) -> str:
    response = stack.tracking.get(f"/api/v1/tasks/{task_id}")
    return response.json()["due"] if response.status_code == 200 else ""


def test_a_calendar_year_loaded_moves_a_tasks_deadline(console_stack, browser, screenshot):
    stack, console = console_stack
    unit = f"U-{uuid.uuid4().hex[:6]}"
    next_year = date.today().year + 1
    new_year = date(next_year, 1, 1)
    while new_year.weekday() >= 5:  # the year's first weekday: a working day on plain weekends
        new_year += timedelta(days=1)
    working_days = min(366, (new_year - date.today()).days * 5 // 7 + 25)  # into next year
    made = stack.intake.post("/api/v1/items", json={
        "title": "跨年任务", "source": {"kind": "other", "ref": ""},
        "tasks": [{"lead_unit": unit, "due_working_days": working_days}]})
    assert made.status_code == 201, made.text
    task = made.json()["tasks"][0]["id"]
    before = wait_until(lambda: _task_due(stack, task), what="tracking to have the task")
    assert before[:4] == str(next_year)

    admin = sign_in(browser, console, "admin")
    admin.click("#nav-admin")
    assert admin.locator("#admin-links a").count() == 7
    admin.click("#admin-links a[href='/admin/calendar']")
    assert admin.locator(f"#calendar-years a[data-year='{date.today().year}']").count() == 1
    screenshot(admin, "admin-calendar")

    # A bad date: tracking's 422 on the page, nothing saved.
    admin.fill("#calendar-form input[name=year]", str(next_year))
    admin.fill("#calendar-form textarea[name=holidays]", f"{next_year}-02-30")
    admin.fill("#calendar-form textarea[name=workdays]", "")
    admin.click("#do-save-calendar")
    assert str(next_year) in admin.locator(".flash.error").inner_text()
    assert _task_due(stack, task) == before

    # The year's first weekday becomes a holiday: the deadline moves a working day later.
    admin.fill("#calendar-form input[name=year]", str(next_year))
    admin.fill("#calendar-form textarea[name=holidays]", new_year.isoformat())
    admin.click("#do-save-calendar")
    assert str(next_year) in admin.locator(".flash").inner_text()
    assert admin.locator("#calendar-year").get_attribute("data-origin") == "loaded"
    assert admin.locator("#holidays").inner_text() == new_year.isoformat()
    after = _task_due(stack, task)
    assert after > before
    admin.goto(f"{console.url}/tasks/{task}")
    assert local(after) in admin.content() and local(before) not in admin.content()


def test_org_units_robots_people_and_rule_sets(console_stack, browser, screenshot):
    stack, console = console_stack
    tag = uuid.uuid4().hex[:6]
    root, sub = f"R-{tag}", f"S-{tag}"
    admin = sign_in(browser, console, "admin")

    # A unit and a sub-unit, renamed; deactivating the parent of an active unit is refused (409).
    admin.goto(f"{console.url}/admin/units")
    for unit_id, name, parent in ((root, "市督查室", ""), (sub, "一科", root)):
        admin.fill("#unit-form input[name=id]", unit_id)
        admin.fill("#unit-form input[name=name]", name)
        admin.fill("#unit-form input[name=parent_id]", parent)
        admin.click("#do-create-unit")
        assert unit_id in admin.locator(".flash").inner_text()
    row = admin.locator(f"#unit-{sub}")
    assert row.get_attribute("data-parent") == root
    row.locator("summary").click()
    row.locator(".rename-form input[name=name]").fill("督查一科")
    row.locator(".do-rename").click()
    assert admin.locator(f"#unit-{sub} .unit-name").inner_text() == "督查一科"
    admin.locator(f"#unit-{root} summary").click()
    admin.locator(f"#unit-{root} .do-deactivate").click()
    assert root in admin.locator(".flash.error").inner_text()
    assert admin.locator(f"#unit-{root}").get_attribute("data-active") == "true"
    screenshot(admin, "admin-units")
    # Moved to the top level and back; deactivated once nothing active is under it, reactivated.
    for parent in ("", root):
        admin.locator(f"#unit-{sub} summary").click()
        admin.locator(f"#unit-{sub} .move-form input[name=parent_id]").fill(parent)
        admin.locator(f"#unit-{sub} .do-move").click()
        assert admin.locator(f"#unit-{sub}").get_attribute("data-parent") == parent
    for change, active in (("deactivate", "false"), ("reactivate", "true")):
        admin.locator(f"#unit-{sub} summary").click()
        admin.locator(f"#unit-{sub} .do-{change}").click()
        assert admin.locator(f"#unit-{sub}").get_attribute("data-active") == active

    # A group robot: its URL carries a key, the page shows only the host.
    admin.goto(f"{console.url}/admin/channels")
    admin.fill("#robot-form input[name=unit]", sub)
    admin.select_option("#robot-form select[name=channel]", "wecom")
    admin.fill("#robot-form input[name=url]",
               f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY-{tag}")
    admin.click("#do-save-robot")
    robot = admin.locator(f"tr.robot[data-unit='{sub}'][data-channel='wecom']")
    assert robot.locator(".host").inner_text() == "qyapi.weixin.qq.com"
    assert f"KEY-{tag}" not in admin.content()
    # The OA webhook: its host shown, never its token or secret; then removed again.
    admin.fill("#oa-form input[name=url]", f"http://127.0.0.1:9/duban?token=OA-{tag}")
    admin.fill("#oa-form input[name=secret]", f"secret-{tag}-0123456789")
    admin.click("#do-save-oa")
    assert admin.locator("#oa-current .host").inner_text() == "127.0.0.1"
    assert f"OA-{tag}" not in admin.content() and f"secret-{tag}" not in admin.content()
    screenshot(admin, "admin-channels")
    admin.click("#oa-webhook form[action='/admin/channels/oa/delete'] button")
    assert admin.locator("#oa-current").count() == 0

    # A person of the sub-unit, and their notice channels (once notify has the person).
    person = f"P-{tag}"
    admin.goto(f"{console.url}/admin/people")
    admin.fill("#person-form input[name=person_id]", person)
    admin.fill("#person-form input[name=name]", "王五")
    admin.fill("#person-form input[name=unit_id]", sub)
    admin.fill("#person-form input[name=email]", f"{tag}@example.org")
    admin.check("#person-form input[name=roles][value=head]")
    admin.click("#do-create-person")
    admin.wait_for_url(f"**/admin/people/{person}")
    open_until(admin, f"{console.url}/admin/people/{person}", "#preferences-form",
               "notify to know the person")
    admin.check("#preferences-form input[value=email]")
    admin.select_option("#preferences-form select[name=language]", "en")
    admin.click("#do-save-preferences")
    assert "电子邮件" in admin.locator("#preferences-now").inner_text()
    assert "en" in admin.locator("#preferences-now").inner_text()
    admin.goto(f"{console.url}/admin/people?unit={root}")
    assert admin.locator(f"tr.person[data-person='{person}']").count() == 1
    screenshot(admin, "admin-people")

    # A rule set version published from the edited JSON; the same version with other rules: 409.
    admin.goto(f"{console.url}/admin/rules")
    rules = json.loads(admin.input_value("#publish-form textarea[name=rules]"))
    rules.update(version=f"test-{tag}", name="测试细则")
    admin.fill("#publish-form textarea[name=rules]", json.dumps(rules, ensure_ascii=False))
    admin.click("#do-publish")
    assert f"test-{tag}" in admin.locator(".flash").inner_text()
    assert admin.locator(f"#rule-sets tr[data-version='test-{tag}']").count() == 1
    rules["base_score"] = 90
    admin.fill("#publish-form textarea[name=rules]", json.dumps(rules, ensure_ascii=False))
    admin.click("#do-publish")
    assert "exists with other rules" in admin.locator(".flash.error").inner_text()
    admin.fill("#publish-form textarea[name=rules]", "version: [")
    admin.click("#do-publish")
    assert "invalid rule set" in admin.locator(".flash.error").inner_text() or \
        "not YAML" in admin.locator(".flash.error").inner_text()
    # The current period has begun: switching in it is refused (409) and shown.
    admin.select_option("#switch-form select[name=version]", f"test-{tag}")
    admin.fill("#switch-form input[name=from_period]", str(date.today().year))
    admin.click("#do-switch")
    assert "has begun" in admin.locator(".flash.error").inner_text()
    screenshot(admin, "admin-rules")


ADMIN_PAGES = ("/admin", "/admin/calendar", "/admin/rules", "/admin/channels", "/admin/units",
               "/admin/people")


def test_a_unit_handler_gets_403_and_the_office_reads_only(console_stack):
    stack, console = console_stack
    unit = f"U-{uuid.uuid4().hex[:6]}"
    with closing(signed_in(console, "unit_handler", unit)) as handler:
        assert 'id="nav-admin"' not in handler.get("/").text
        for path in ADMIN_PAGES:
            refused = handler.get(path)
            assert refused.status_code == 403 and 'id="error"' in refused.text, path
        posted = handler.post("/admin/units", data={"id": unit, "name": "自建"})
        assert posted.status_code == 403
    with closing(signed_in(console, "office")) as office:
        for path in ADMIN_PAGES:
            assert office.get(path).status_code == 200, path
        units = office.get("/admin/units").text
        assert 'id="unit-form"' not in units and 'class="inline rename-form"' not in units
        assert office.post("/admin/units", data={"id": unit, "name": "越权"}).status_code == 403
    assert stack.intake.get(f"/api/v1/units/{unit}").status_code == 404  # nothing made


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(console_stack):
    stack, console = console_stack
    unit = f"U-{uuid.uuid4().hex[:6]}"
    with closing(signed_in(console, "admin")) as admin:
        token = admin.headers.pop("X-CSRF-Token")
        form = {"id": unit, "name": "伪造"}
        missing = admin.post("/admin/units", data=form)
        assert missing.status_code == 403 and "未做任何修改" in missing.text
        wrong = admin.post("/admin/units", data={**form, "csrf": token[:-2] + "xx"})
        assert wrong.status_code == 403
        bulletin = admin.post("/bulletins", data={"kind": "criticism", "issuer": "office",
                                                  "units": unit, "reason": "伪造"})
        assert bulletin.status_code == 403  # the older forms too
        assert stack.intake.get(f"/api/v1/units/{unit}").status_code == 404
        score = stack.scoring.get(f"/api/v1/units/{unit}/score")
        assert score.status_code == 404 or score.json()["entries"] == []
        made = admin.post("/admin/units", data={**form, "csrf": token})
        assert made.status_code == 303
        assert stack.intake.get(f"/api/v1/units/{unit}").status_code == 200
    # Another site's form: the browser sends the session cookie but not a token it cannot read.
    with closing(csrf_client(console)) as fresh:
        fresh.headers.pop("X-CSRF-Token")
        assert fresh.post("/signin", data={"role": "admin"}).status_code == 403
        page = fresh.get("/signin").text
        assert f'name="csrf" value="{fresh.cookies["duban_csrf"]}"' in page


def test_the_csrf_cookie_is_http_only(console_stack):
    _, console = console_stack
    response = httpx.get(f"{console.url}/signin", timeout=10)
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("duban_csrf=") and "httponly" in cookie and "samesite=lax" in cookie
