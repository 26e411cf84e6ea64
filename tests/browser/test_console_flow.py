"""The acceptance walk through the web console in headless Chromium: the office registers an
item for two units, the units sign, report (with a photo), submit, the office returns and accepts,
the item is closed off the ledger (销号), the dashboard and the score follow, and a unit cannot
open another unit's task."""

import re
import uuid
from datetime import datetime, timedelta

import pytest

from services.console.i18n import TZ
from tests.support import tiny_png, wait_until

pytestmark = pytest.mark.browser


def sign_in(browser, console, role: str, unit: str = "", name: str = ""):
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{console.url}/")
    assert page.url.endswith("/signin")
    page.select_option("select[name=role]", role)
    page.fill("input[name=unit]", unit)
    page.fill("input[name=name]", name)
    page.click("#signin button[type=submit]")
    page.wait_for_url(f"{console.url}/")
    return page


def counts(page, console) -> dict[str, int]:
    page.goto(f"{console.url}/")
    return {k: int(page.locator(f"[data-count={k}]").inner_text())
            for k in ("green", "yellow", "red", "closed")}


def open_until(page, url: str, selector: str, what: str, timeout: float = 30) -> None:
    """Load ``url`` until ``selector`` is on it (the services catch up by events)."""
    def shown() -> bool:
        page.goto(url)
        return page.locator(selector).count() > 0
    wait_until(shown, timeout=timeout, interval=0.5, what=what)


def status_of(page) -> str:
    return page.locator("#task-status").get_attribute("data-status")


def test_an_item_from_registration_to_closed_off_the_ledger(console_stack, browser, screenshot,
                                                            tmp_path):
    stack, console = console_stack
    unit_a, unit_b = (f"U-{uuid.uuid4().hex[:6]}" for _ in range(2))
    office = sign_in(browser, console, "office")
    before = counts(office, console)

    # The office registers an item with a task for each unit.
    office.goto(f"{console.url}/items/new")
    office.fill("input[name=title]", "落实冬季安全生产大检查")
    office.select_option("select[name=source_kind]", "leader_instruction")
    office.fill("input[name=source_ref]", "批示〔2026〕12号")
    office.select_option("select[name=urgency]", "urgent")
    due = (datetime.now(TZ) + timedelta(days=60)).date().isoformat()
    rows = office.locator(".task-input")
    for n, unit in enumerate((unit_a, unit_b)):
        rows.nth(n).locator("input[name=task_lead_unit]").fill(unit)
        rows.nth(n).locator("input[name=task_due]").fill(due)
    screenshot(office, "item-new")
    office.click("#do-register")
    office.wait_for_url("**/items/*")
    assert office.locator("#item-status").get_attribute("data-status") == "open"
    assert "事项已登记" in office.locator(".flash").inner_text()
    item_url = office.url
    task_ids = office.locator("#item-tasks tr[data-task]").evaluate_all(
        "rows => rows.map(r => r.dataset.task)")
    assert len(task_ids) == 2
    task_a, task_b = task_ids
    registered = wait_until(lambda: (c := counts(office, console))["green"] == before["green"] + 2 and c,
                            what="the dashboard to count the new tasks")
    office.goto(item_url)  # tracking has the tasks: their working days left, counted by tracking
    for row in office.locator("#item-tasks tr[data-task]").all():
        assert re.search(r"剩余 [1-9]\d* 个工作日", row.inner_text()), row.inner_text()

    # Unit A's head signs, reports with a photo, submits.
    head_a = sign_in(browser, console, "unit_head", unit_a)
    open_until(head_a, f"{console.url}/", f"#my-tasks tr[data-task='{task_a}']", "unit A's task list")
    assert head_a.locator(f"#my-tasks tr[data-task='{task_b}']").count() == 0
    open_until(head_a, f"{console.url}/tasks/{task_a}", "#do-sign", "task A in the console")
    head_a.click("#do-sign")
    assert status_of(head_a) == "signed"
    photo = tmp_path / "现场照片.png"
    photo.write_bytes(tiny_png())
    head_a.fill("#report-form textarea[name=text]", "已完成全部隐患排查，整改率100%。")
    head_a.set_input_files("#report-form input[name=photo]", str(photo))
    head_a.click("#do-report")
    assert status_of(head_a) == "in_progress"
    assert "已完成全部隐患排查" in head_a.locator("#timeline").inner_text()
    image = head_a.locator("#timeline img").first
    head_a.wait_for_function("img => img.complete", arg=image.element_handle())  # loaded (or failed)
    assert image.evaluate("img => img.naturalWidth") == 1  # the photo, served through the console
    head_a.click("#do-submit")
    assert status_of(head_a) == "submitted"

    # The office returns it with a comment.
    office.goto(f"{console.url}/tasks/{task_a}")
    office.fill("#review-form textarea[name=comment]", "请补充整改前后对比照片")
    office.click("#do-return")
    assert status_of(office) == "in_progress"
    assert "请补充整改前后对比照片" in office.locator("#timeline").inner_text()

    # The unit submits again; the office accepts.
    head_a.goto(f"{console.url}/tasks/{task_a}")
    assert "请补充整改前后对比照片" in head_a.locator("#timeline").inner_text()
    head_a.click("#do-submit")
    assert status_of(head_a) == "submitted"
    office.goto(f"{console.url}/tasks/{task_a}")
    office.click("#do-accept")
    assert status_of(office) == "accepted"
    screenshot(office, "task")

    # Unit B's task goes through too.
    head_b = sign_in(browser, console, "unit_head", unit_b)
    open_until(head_b, f"{console.url}/tasks/{task_b}", "#do-sign", "task B in the console")
    head_b.click("#do-sign")
    head_b.click("#do-submit")
    assert status_of(head_b) == "submitted"
    office.goto(f"{console.url}/tasks/{task_b}")
    office.click("#do-accept")
    assert status_of(office) == "accepted"

    # Every task closed: the item is closed off the ledger (销号).
    open_until(office, item_url, "#item-status[data-status=closed]", "the item to be closed")
    assert "已销号" in office.locator("#item-status").inner_text()
    screenshot(office, "item")

    # The dashboard counts changed.
    after = wait_until(lambda: (c := counts(office, console))["closed"] == registered["closed"] + 2 and c,
                       what="the dashboard to count the closed tasks")
    assert after["green"] == registered["green"] - 2
    screenshot(office, "dashboard")
    office.goto(f"{console.url}/tasks?q=冬季安全生产")
    assert office.locator("tr.task-row").count() >= 2
    screenshot(office, "ledger")

    # Unit A's score shows the on-time entry.
    open_until(head_a, f"{console.url}/units/{unit_a}/score", "#entries tr[data-rule='completed_on_time.lead']",
               "unit A's on-time entry")
    on_time = head_a.locator("#entries tr[data-rule='completed_on_time.lead']").inner_text()
    assert "按期办结" in on_time and task_a in on_time
    screenshot(head_a, "score")
    head_a.goto(f"{console.url}/")
    screenshot(head_a, "my-tasks")

    # Another unit's task is not there for unit A.
    response = head_a.goto(f"{console.url}/tasks/{task_b}")
    assert response.status == 404
    assert head_a.locator("#not-found").count() == 1

    for page in (office, head_a, head_b):
        page.context.close()
