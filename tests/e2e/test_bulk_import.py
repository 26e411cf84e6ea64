"""Bulk intake of an annual target list from Excel: hundreds of tasks in one call, all or nothing."""

import io
import time
from datetime import date

import pytest
from openpyxl import Workbook

from services.intake.spreadsheet import COLUMNS
from tests.e2e.helpers import inbox, score, unit
from tests.support import wait_until

pytestmark = pytest.mark.e2e
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def workbook(rows: list[dict]) -> bytes:
    book = Workbook()
    ws = book.active
    ws.append([zh for zh, _ in COLUMNS.values()])
    for r in rows:
        ws.append([r.get(k) for k in COLUMNS])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def target_list(units: list[str], items: int, tasks_per_item: int) -> list[dict]:
    return [
        {"title": f"2026年度重点工作第{i + 1}项", "source_kind": "年度重点工作", "source_ref": "2026年工作报告",
         "regime": "综合督查", "urgency": "一般", "task_title": f"分解任务{j + 1}",
         "lead_unit": units[(i * tasks_per_item + j) % len(units)], "due": date(2099, 12, 31),
         "reporting_cycle": "月"}
        for i in range(items) for j in range(tasks_per_item)
    ]


def led_in_2099(stack, unit_id: str) -> int:
    """The tasks scoring knows the unit leads with a deadline in 2099 (the target lists' year)."""
    return score(stack, unit_id, "2099")["rates"]["tasks_due"]


def post(stack, content: bytes):
    return stack.intake.post("/api/v1/items/import", content=content, headers={"content-type": XLSX},
                             timeout=60)


def test_a_target_list_of_three_hundred_tasks_is_registered_in_one_call(stack):
    units = [unit() for _ in range(10)]
    response = post(stack, workbook(target_list(units, items=30, tasks_per_item=10)))
    assert response.status_code == 201, response.text
    result = response.json()
    assert result["tasks"] == 300 and len(result["items"]) == 30
    numbers = [i["number"] for i in result["items"]]
    assert len(set(numbers)) == 30
    one = stack.intake.get(f"/api/v1/items/{result['items'][0]['id']}").json()
    assert one["regime"] == "comprehensive" and len(one["tasks"]) == 10
    assert one["tasks"][0]["reporting_cycle"] == "month"
    for u in units:
        wait_until(lambda: led_in_2099(stack, u) == 30, timeout=60, what=f"30 tasks for {u}")


def test_a_sheet_with_bad_rows_creates_nothing_and_lists_every_problem(stack):
    units = [unit() for _ in range(3)]
    rows = target_list(units, items=3, tasks_per_item=3)
    rows[4]["lead_unit"] = None
    rows[7]["due"] = "明年"
    response = post(stack, workbook(rows))
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "nothing was created" in detail["message"]
    assert [(e["row"], e["column"]) for e in detail["errors"]] == [(6, "主办单位"), (9, "办结时限")]
    time.sleep(1.5)
    assert all(inbox(stack, u) == [] and led_in_2099(stack, u) == 0 for u in units)


def test_not_a_spreadsheet_is_422_and_the_template_downloads(stack):
    response = post(stack, b"hello")
    assert response.status_code == 422 and "not an Excel" in response.json()["detail"]
    template = stack.intake.get("/api/v1/items/import/template")
    assert template.status_code == 200 and template.headers["content-type"] == XLSX
