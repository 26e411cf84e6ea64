"""The console's inbox, the office's urge (催办), an extension asked for and granted, and a
bulletin (通报批评) reaching the unit's score, in headless Chromium."""

import uuid
from datetime import datetime, timedelta

import pytest

from services.console.i18n import TZ
from tests.browser.test_console_flow import open_until, sign_in

pytestmark = pytest.mark.browser


def register(office, console, unit: str, title: str, due: str) -> str:
    office.goto(f"{console.url}/items/new")
    office.fill("input[name=title]", title)
    row = office.locator(".task-input").first
    row.locator("input[name=task_lead_unit]").fill(unit)
    row.locator("input[name=task_due]").fill(due)
    office.click("#do-register")
    office.wait_for_url("**/items/*")
    return office.locator("#item-tasks tr[data-task]").first.get_attribute("data-task")


def test_inbox_urge_extension_and_a_criticism(console_stack, browser, screenshot):
    _, console = console_stack
    unit = f"U-{uuid.uuid4().hex[:6]}"
    today = datetime.now(TZ).date()
    office = sign_in(browser, console, "office")
    task = register(office, console, unit, "整治背街小巷环境卫生", (today + timedelta(days=60)).isoformat())

    # The unit sees the assignment notice, unread, and marks it read.
    head = sign_in(browser, console, "unit_head", unit)
    assigned = f"#notices li[data-kind=assigned][data-task='{task}']"
    open_until(head, f"{console.url}/inbox", assigned, "the assignment notice")
    assert head.locator(assigned).get_attribute("data-read") == "false"
    assert "整治背街小巷环境卫生" in head.locator(assigned).inner_text()
    assert int(head.locator("#unread-count").inner_text()) >= 1
    screenshot(head, "inbox")
    head.click("#do-mark-read")
    assert head.locator(assigned).get_attribute("data-read") == "true"
    assert "标为已读" in head.locator(".flash").inner_text()
    assert head.locator("#unread-count").count() == 0

    # The office urges (催办) with a comment; the unit's inbox shows it.
    office.goto(f"{console.url}/tasks/{task}")
    assert office.locator("#do-ask-extension").count() == 0
    office.fill("#office-form textarea[name=comment]", "请于本周五前报送整治进展")
    office.click("#do-urge")
    assert "请于本周五前报送整治进展" in office.locator("#timeline li[data-action=urge]").inner_text()
    urged = f"#notices li[data-kind=reminder][data-task='{task}']"
    open_until(head, f"{console.url}/inbox", urged, "the 催办 notice")
    text = head.locator(urged).inner_text()
    assert "催办" in text and "请于本周五前报送整治进展" in text
    assert head.locator(urged).get_attribute("data-read") == "false"

    # The unit asks for an extension; the office grants it; the task shows the new deadline.
    head.goto(f"{console.url}/tasks/{task}")
    assert head.locator("#do-urge").count() == 0 and head.locator("#do-cancel").count() == 0
    new_due = today + timedelta(days=90)
    head.fill("#extension-form input[name=new_due]", new_due.isoformat())
    head.fill("#extension-form textarea[name=reason]", "涉及多部门协调，需延长办理时限")
    head.click("#do-ask-extension")
    assert new_due.isoformat() in head.locator("#extension").inner_text()
    assert head.locator("#extension-form").count() == 0  # one request at a time
    office.goto(f"{console.url}/tasks/{task}")
    assert "涉及多部门协调" in office.locator("#extension").inner_text()
    screenshot(office, "task-extension")
    office.fill("#extension-decision-form textarea[name=comment]", "同意延期")
    office.click("#do-ext-grant")
    assert new_due.isoformat() in office.locator("#task-due").inner_text()
    assert office.locator("#extension").count() == 0
    assert office.locator("#timeline li[data-action=extension_grant]").count() == 1
    head.goto(f"{console.url}/tasks/{task}")
    assert new_due.isoformat() in head.locator("#task-due").inner_text()

    # The office criticises the unit (通报批评, office: −3); the unit's score shows it.
    office.goto(f"{console.url}/bulletins")
    office.select_option("#bulletin-form select[name=kind]", "criticism")
    office.select_option("#bulletin-form select[name=issuer]", "office")
    office.fill("#bulletin-form input[name=units]", unit)
    office.fill("#bulletin-form textarea[name=reason]", "背街小巷整治推进不力")
    screenshot(office, "bulletins")
    office.click("#do-issue")
    assert "通报批评" in office.locator(".flash").inner_text()
    entry = "#entries tr[data-rule='criticism.office']"
    open_until(head, f"{console.url}/units/{unit}/score", entry, "the criticism in the score")
    row = head.locator(entry).inner_text()
    assert "-3" in row and "背街小巷整治推进不力" in row

    for page in (office, head):
        page.context.close()
