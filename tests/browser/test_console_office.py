"""Appeals (申诉) from a unit's score page decided by the office, notify's templates edited by an
administrator, and the office's dead deliveries, in headless Chromium and over plain HTTP."""

import html
import uuid
from contextlib import closing

import pytest

from tests.browser.test_console_flow import open_until, sign_in
from tests.browser.test_console_http import signed_in

pytestmark = pytest.mark.browser


def test_an_appeal_reversed_and_a_template_edited(console_stack, browser, screenshot):
    _, console = console_stack
    unit = f"U-{uuid.uuid4().hex[:6]}"

    # The office criticises the unit (通报批评, office: −3).
    office = sign_in(browser, console, "office")
    assert office.locator("header nav a[href='/appeals']").count() == 1
    assert office.locator("header nav a[href='/admin/deliveries']").count() == 1
    assert office.locator("header nav a[href='/admin/templates']").count() == 0
    office.goto(f"{console.url}/bulletins")
    office.select_option("#bulletin-form select[name=kind]", "criticism")
    office.select_option("#bulletin-form select[name=issuer]", "office")
    office.fill("#bulletin-form input[name=units]", unit)
    office.fill("#bulletin-form textarea[name=reason]", "台账资料报送迟缓")
    office.click("#do-issue")
    assert "通报批评" in office.locator(".flash").inner_text()

    # The unit head appeals the −3 entry from the score page.
    head = sign_in(browser, console, "unit_head", unit)
    assert head.locator("header nav a[href='/appeals']").count() == 0
    entry = "#entries tr[data-rule='criticism.office']"
    open_until(head, f"{console.url}/units/{unit}/score", entry, "the criticism in the score")
    assert "-3" in head.locator(entry).inner_text()
    head.locator(f"{entry} details.appeal summary").click()
    screenshot(head, "score-appeal")
    head.fill(f"{entry} textarea[name=reason]", "已按期报送，附签收回执")
    head.locator(f"{entry} .do-appeal").click()
    head.wait_for_url("**/appeals?id=*")
    assert "申诉已提交" in head.locator(".flash").inner_text()
    assert head.locator("#appeal").get_attribute("data-status") == "pending"
    assert head.locator("#appeal-decision-form").count() == 0  # the unit does not decide
    appeal_id = head.url.split("id=")[1]

    # A second appeal of the same entry: the API's refusal is shown on the score page.
    head.goto(f"{console.url}/units/{unit}/score")
    head.locator(f"{entry} details.appeal summary").click()
    head.fill(f"{entry} textarea[name=reason]", "再次申诉")
    head.locator(f"{entry} .do-appeal").click()
    head.wait_for_url(f"**/units/{unit}/score")
    assert "already has an appeal" in head.locator(".flash.error").inner_text()

    # The office looks the appeal up on /appeals and reverses it.
    office.goto(f"{console.url}/appeals")
    office.fill("#appeal-lookup input[name=id]", appeal_id)
    office.click("#appeal-lookup button[type=submit]")
    assert "已按期报送" in office.locator("#appeal-reason").inner_text()
    office.fill("#appeal-decision-form textarea[name=comment]", "经核实，报送按期")
    screenshot(office, "appeals")
    office.click("#do-ap-reverse")
    assert office.locator("#appeal").get_attribute("data-status") == "reversed"
    assert "经核实，报送按期" in office.locator("#appeal-comment").inner_text()
    assert office.locator("#appeal-decision-form").count() == 0

    # The unit's score page shows the +3 reversal entry.
    reversal = "#entries tr[data-rule='appeal.reversal']"
    open_until(head, f"{console.url}/units/{unit}/score", reversal, "the reversal in the score")
    assert "+3" in head.locator(reversal).inner_text()
    assert head.locator(f"{reversal} details.appeal").count() == 0

    # An administrator edits the zh-CN "assigned" template's title; a bad placeholder: the 422.
    admin = sign_in(browser, console, "admin")
    admin.click("header nav a[href='/admin/templates']")
    card = "#tpl-assigned-zh-CN"
    admin.fill(f"{card} input[name=title]", "【交办】新任务请签收")
    admin.locator(f"{card} .do-save").click()
    assert "assigned" in admin.locator(".flash").inner_text()
    assert admin.locator(f"{card} input[name=title]").input_value() == "【交办】新任务请签收"
    assert "已修改" in admin.locator(f"{card} h2").inner_text()
    admin.fill(f"{card} input[name=title]", "新任务 {nonexistent_field}")
    admin.locator(f"{card} .do-save").click()
    refused = admin.locator(".flash.error").inner_text()
    assert "title" in refused and "nonexistent_field" in refused
    assert admin.locator(f"{card} input[name=title]").input_value() == "【交办】新任务请签收"
    screenshot(admin, "templates")
    admin.locator(f"{card} .do-reset").click()
    assert "默认" in admin.locator(f"{card} h2").inner_text()

    admin.goto(f"{console.url}/admin/deliveries")
    screenshot(admin, "deliveries")

    for page in (office, head, admin):
        page.context.close()


def test_deliveries_for_the_office_and_refused_for_a_unit(console_stack):
    console = console_stack[1]
    with closing(signed_in(console, "office")) as office:
        page = office.get("/admin/deliveries")
        assert page.status_code == 200
        assert 'id="deliveries"' in page.text or 'id="no-deliveries"' in page.text
        assert office.get("/admin/deliveries", params={"status": "all"}).status_code == 200
        missing = office.post("/admin/deliveries/D-nope/resend")
        assert missing.status_code == 303
        shown = office.get(missing.headers["location"])
        assert 'class="flash error"' in shown.text
    with closing(signed_in(console, "unit_head", "U-deliveries")) as head:
        assert 'href="/admin/deliveries"' not in head.get("/").text
        refused = head.get("/admin/deliveries")
        assert refused.status_code == 403
        assert html.unescape(refused.text).strip()
        assert head.get("/admin/templates").status_code == 403
