"""The dashboards in headless Chromium: the office's charts, a leader's items and red list, the
large screen (大屏), the ledger's Excel export and the bulk import."""

import io
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from services.console.i18n import TZ
from services.intake.spreadsheet import COLUMNS
from tests.browser.conftest import SCREENSHOTS, TRACE_URL_TEMPLATE
from tests.browser.test_console_flow import open_until, sign_in
from tests.browser.test_console_http import signed_in
from tests.e2e import helpers
from tests.support import tiny_png, wait_until

pytestmark = pytest.mark.browser
BIG_SCREEN = {"width": 1920, "height": 1080}


def in_thread(fn, *args):
    """Playwright's sync API runs an event loop in this thread: the helpers' asyncio.run cannot."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


def simulated_now(stack):
    return in_thread(helpers.simulated_now, stack)


def advance_clock(stack, step: timedelta) -> None:
    in_thread(helpers.advance_clock, stack, step)


def register(stack, title: str, tasks: list[dict], **item) -> dict:
    response = stack.intake.post("/api/v1/items", json={
        "title": title, "source": {"kind": "leader_instruction", "ref": ""}, **item, "tasks": tasks})
    assert response.status_code == 201, response.text
    return response.json()


def close_on_time(stack, task_id: str, unit: str) -> None:
    head = stack.as_("unit_head", unit)
    wait_until(lambda: head.post(f"/api/v1/tasks/{task_id}/sign").status_code == 200,
               what="the task in tracking")
    assert head.post(f"/api/v1/tasks/{task_id}/submit", json={}).status_code == 200
    accepted = stack.tracking.post(f"/api/v1/tasks/{task_id}/review", json={"decision": "accept"})
    assert accepted.status_code == 200, accepted.text


def overdue_of(stack, unit: str) -> int:
    rows = stack.tracking.get("/api/v1/tasks/by-unit", params={"unit": unit}).json()
    return sum(r["overdue"] for r in rows)


def test_charts_red_list_leaders_items_and_the_large_screen(console_stack, browser, screenshot):
    stack, console = console_stack
    tag = uuid.uuid4().hex[:6]
    late_unit, done_unit, leader = f"U-late-{tag}", f"U-done-{tag}", f"王局长{tag}"
    soon = (simulated_now(stack) + timedelta(hours=1)).isoformat()
    item = register(stack, f"城区积水点整治 {tag}", [{"lead_unit": late_unit, "due": soon},
                                               {"lead_unit": done_unit, "due": soon}],
                    supervising_leader=leader)
    late_task, done_task = (t["id"] for t in item["tasks"])
    close_on_time(stack, done_task, done_unit)
    month = simulated_now(stack).astimezone(TZ).strftime("%Y-%m")
    advance_clock(stack, timedelta(hours=2))  # past the deadline: the late unit's task turns red
    wait_until(lambda: overdue_of(stack, late_unit) == 1, what="tracking to see the task overdue")

    # The office's dashboard: the month's completion point, the late unit's overdue bar.
    office = sign_in(browser, console, "office")
    open_until(office, f"{console.url}/", f"#unit-bars g[data-unit='{late_unit}']", "the unit's bar")
    bar = office.locator(f"#unit-bars g[data-unit='{late_unit}']")
    assert bar.get_attribute("data-overdue") == "1"
    assert float(bar.locator("rect.bar-overdue").get_attribute("width")) > 0
    assert office.locator(f"#unit-bars g[data-unit='{done_unit}']").count() == 0  # nothing late
    point = f"#rates-chart circle[data-series=completion][data-month='{month}']"
    open_until(office, f"{console.url}/", point, "scoring's month to count the closed task")
    assert 0 < float(office.locator(point).get_attribute("data-value")) <= 100
    assert office.locator("#rates-chart polyline.series-completion").count() >= 1
    screenshot(office, "dashboard-charts")

    # A leader: the items they supervise (named by the leader picked), the red list by unit.
    boss = sign_in(browser, console, "leader", name=leader)  # the name on the items they supervise
    boss.goto(f"{console.url}/leader")
    assert boss.locator(f"#my-items tr[data-item='{item['id']}']").count() == 1
    assert boss.locator("#my-items tr[data-item]").count() == 1
    red_unit = boss.locator(f"#red-list h3.red-unit[data-unit='{late_unit}']")
    assert red_unit.count() == 1
    assert boss.locator(f"#red-list tr[data-task='{late_task}']").count() == 1
    assert boss.locator(f"#red-list tr[data-task='{done_task}']").count() == 0
    assert boss.locator(f"#red-list tr[data-task='{late_task}'] .light-red").count() == 1
    screenshot(boss, "leader")

    # The large screen: refreshes itself, big numbers, the red list; fits without scrolling sideways.
    boss.goto(f"{console.url}/screen")
    refresh = boss.locator("meta[http-equiv=refresh]")
    assert refresh.count() == 1 and int(refresh.get_attribute("content")) > 0
    assert int(boss.locator("#screen-counts [data-count=red]").inner_text()) >= 1
    open_until(boss, f"{console.url}/screen", f"#screen-red tr[data-task='{late_task}']",
               "the late task on the screen")  # most overdue first: other tests' may come before
    assert boss.locator("#screen-ranking").count() == 1
    for label, size in (("1920", BIG_SCREEN), ("1366", {"width": 1366, "height": 768}),
                        ("phone", {"width": 390, "height": 844})):
        boss.set_viewport_size(size)
        wide = boss.evaluate("document.documentElement.scrollWidth")
        assert wide <= size["width"], f"the screen scrolls sideways at {label}: {wide}px"
        boss.screenshot(path=str(SCREENSHOTS / f"screen-{label}.png"), full_page=label == "phone")


def sheet(rows: list[dict]) -> bytes:
    book = Workbook()
    book.active.append([zh for zh, _ in COLUMNS.values()])
    for r in rows:
        book.active.append([r.get(k) for k in COLUMNS])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_export_the_filtered_ledger_and_import_a_sheet(console_stack, browser, screenshot, tmp_path):
    stack, console = console_stack
    tag = uuid.uuid4().hex[:6]
    units = [f"U-x{tag}-{n}" for n in range(3)]
    register(stack, f"导出测试 {tag}", [{"lead_unit": u, "due": f"2031-0{n + 1}-15T17:30:00+08:00"}
                                       for n, u in enumerate(units)])
    office = sign_in(browser, console, "office")
    open_until(office, f"{console.url}/tasks?q={tag}&sort=-due", "tr.task-row >> nth=2",
               "the ledger to list the tasks")
    shown = office.locator("tr.task-row td:nth-child(3)").all_inner_texts()
    assert shown == list(reversed(units))  # latest deadline first
    with office.expect_download() as got:
        office.click("#export-xlsx")
    path = tmp_path / "ledger.xlsx"
    got.value.save_as(path)
    rows = list(load_workbook(path).worksheets[0].iter_rows(values_only=True))
    assert rows[0][:3] == ("编号", "标题", "牵头单位")
    assert [r[2] for r in rows[1:]] == list(reversed(units))  # the filter and its order
    assert {r[1] for r in rows[1:]} == {f"导出测试 {tag}"} and rows[1][6] == "2031-03-15 17:30"

    # Import: a bad sheet lists every bad row and creates nothing; a good one creates the items.
    office.goto(f"{console.url}/items/import")
    with office.expect_download() as template:
        office.click("#import-template")
    template.value.save_as(tmp_path / "template.xlsx")
    header = next(load_workbook(tmp_path / "template.xlsx").worksheets[0].iter_rows(values_only=True))
    assert header[:2] == ("事项", "来源类型")
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(sheet([
        {"title": f"导入 {tag}", "source_kind": "会议决定", "lead_unit": units[0], "due": "2031-05-01"},
        {"title": f"导入 {tag}", "source_kind": "会议决定", "lead_unit": units[0], "due": "明年某天"},
        {"title": f"缺单位 {tag}", "source_kind": "其他", "due": "2031-05-01"},
    ]))
    office.set_input_files("input[name=sheet]", str(bad))
    office.click("#do-import")
    office.wait_for_selector("#import-errors")
    assert sorted(office.locator("#import-errors tr[data-row]").evaluate_all(
        "rows => rows.map(r => r.dataset.row)")) == ["3", "4"]
    screenshot(office, "import-errors")
    assert office.evaluate(
        f"fetch('/tasks?q={tag}').then(r => r.text()).then(t => t.includes('导入 {tag}'))") is False
    good = tmp_path / "good.xlsx"
    good.write_bytes(sheet([
        {"title": f"导入 {tag}", "source_kind": "会议决定", "lead_unit": units[0], "due": "2031-05-01"},
        {"title": f"导入 {tag}", "source_kind": "会议决定", "lead_unit": units[1], "due": "2031-05-01"},
        {"title": f"另一项 {tag}", "source_kind": "其他", "lead_unit": units[2], "due": "2031-06-01"},
    ]))
    office.set_input_files("input[name=sheet]", str(good))
    office.click("#do-import")
    office.wait_for_selector("#import-done")
    assert office.locator("#import-done tr[data-item]").count() == 2
    assert "已导入 2 个事项、3 个任务" in office.locator("#import-done .flash").inner_text()
    screenshot(office, "import-done")
    office.locator("#import-done tr[data-item] a").first.click()
    office.wait_for_url("**/items/*")
    assert office.locator("#item-tasks tr[data-task]").count() == 2
    assert Path(SCREENSHOTS / "import-done-phone.png").exists()


def test_the_lists_of_bulletins_and_appeals_show_each_unit_its_own(console_stack):
    stack, console = console_stack
    tag = uuid.uuid4().hex[:6]
    mine, other = f"U-b{tag}", f"U-o{tag}"
    issued = {}
    for unit in (mine, other):
        response = stack.scoring.post("/api/v1/bulletins", json={
            "kind": "criticism", "issuer": "office", "units": [unit], "reason": f"未按期报送 {tag}"})
        assert response.status_code == 201, response.text
        issued[unit] = response.json()["id"]
    entry = stack.scoring.get(f"/api/v1/units/{mine}/score").json()["entries"][0]["id"]
    appeal = stack.as_("unit_head", mine, service="scoring").post(
        "/api/v1/appeals", json={"entry_id": entry, "reason": f"已报送 {tag}"}).json()["id"]

    with closing(signed_in(console, "office")) as office:
        page = office.get("/bulletins", params={"unit": mine})
        assert f'data-bulletin="{issued[mine]}"' in page.text
        assert f'data-bulletin="{issued[other]}"' not in page.text
        pending = office.get("/appeals", params={"status": "pending", "unit": mine})
        assert f'data-appeal="{appeal}"' in pending.text and f"已报送 {tag}" in pending.text
        assert f'data-appeal="{appeal}"' not in office.get(
            "/appeals", params={"status": "reversed", "unit": mine}).text
        bad = office.get("/bulletins", params={"period": "soon"})
        assert bad.status_code == 200 and "bad period" in bad.text  # scoring's message, form still there
    with closing(signed_in(console, "unit_head", other)) as head:
        assert f'data-bulletin="{issued[other]}"' in head.get("/bulletins").text
        assert f'data-bulletin="{issued[mine]}"' not in head.get("/bulletins").text
        assert f'data-appeal="{appeal}"' not in head.get("/appeals").text
    with closing(signed_in(console, "unit_head", mine)) as head:
        assert f'data-appeal="{appeal}"' in head.get("/appeals").text


def test_a_tasks_timeline_with_reports_parts_and_sub_tasks(console_stack, browser, screenshot):
    stack, console = console_stack
    tree = helpers.org_units(stack, {"lead": None, "sub": "lead", "co": None})
    lead, sub, co = tree["lead"], tree["sub"], tree["co"]
    item = register(stack, "河道清淤", [{"lead_unit": lead, "co_units": [co],
                                        "due": "2031-06-30T17:30:00+08:00"}])
    task = item["tasks"][0]["id"]
    head, co_head = stack.as_("unit_head", lead), stack.as_("unit_handler", co)
    wait_until(lambda: head.post(f"/api/v1/tasks/{task}/sign").status_code == 200, what="the task")
    photo = head.post(f"/api/v1/tasks/{task}/evidence", content=tiny_png(),
                      params={"filename": "before.png"}, headers={"Content-Type": "image/png"})
    assert photo.status_code == 201, photo.text
    assert head.post(f"/api/v1/tasks/{task}/reports", json={
        "text": "主河道已清淤一半", "evidence": [photo.json()["sha256"]]}).status_code == 201
    assert co_head.post(f"/api/v1/tasks/{task}/reports", json={"text": "协办：支流已清淤"}).status_code == 201
    assert stack.tracking.post(f"/api/v1/tasks/{task}/urge", json={"comment": "汛期前完成"}).status_code == 200
    dispatched = wait_until(lambda: (r := head.post(f"/api/v1/tasks/{task}/dispatch", json={
        "sub_tasks": [{"unit": sub, "title": "支流段清淤"}]})).status_code == 201 and r,
        what="tracking's copy of the tree to know the sub-unit")
    child = dispatched.json()["sub_tasks"][0]["id"]

    office = sign_in(browser, console, "office")
    office.goto(f"{console.url}/tasks/{task}")
    kinds = office.locator("#timeline li").evaluate_all(
        "items => items.map(i => i.dataset.action || (i.dataset.kind + ':' + (i.dataset.unit || '')))")
    assert kinds == ["sign", f"report:{lead}", f"report:{co}", "urge", "dispatch"], kinds
    assert office.locator(f"#timeline li[data-unit='{lead}'] img").count() == 1
    assert "汛期前完成" in office.locator("#timeline li[data-action=urge]").inner_text()
    parts = office.locator("#report-parts tr")
    assert parts.evaluate_all("rows => rows.map(r => [r.dataset.unit, r.dataset.part])") == [
        [lead, "reported"], [co, "reported"]]
    assert office.locator(f"#sub-tasks tr[data-task='{child}']").count() == 1
    screenshot(office, "task-timeline")
    office.click(f"#sub-tasks tr[data-task='{child}'] a")
    office.wait_for_selector("#parent-task")
    assert office.locator("#parent-task").get_attribute("href") == f"/tasks/{task}"


def test_items_and_tasks_link_to_their_end_to_end_trace(console_stack):
    stack, console = console_stack
    lead = f"U-t{uuid.uuid4().hex[:6]}"
    response = stack.intake.post("/api/v1/items", json={
        "title": "追踪", "source": {"kind": "other", "ref": ""},
        "tasks": [{"lead_unit": lead, "due": "2031-01-31T17:30:00+08:00"}]})
    assert response.status_code == 201, response.text
    expected = TRACE_URL_TEMPLATE.replace("{trace_id}", response.headers["X-Trace-Id"])
    item, task = response.json()["id"], response.json()["tasks"][0]["id"]
    with closing(signed_in(console, "office")) as office:
        assert 'id="trace-link" rel="noopener" target="_blank"' in office.get(f"/items/{item}").text
        assert f'href="{expected}"' in office.get(f"/items/{item}").text
        page = wait_until(lambda: (r := office.get(f"/tasks/{task}")).status_code == 200 and r,
                          what="the task in tracking")
        assert f'href="{expected}"' in page.text
