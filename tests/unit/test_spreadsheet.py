"""Reading an Excel target list: grouping, Chinese words, dates, and errors by row and column."""

import io
from datetime import date, datetime

import pytest
from openpyxl import Workbook

from services.intake import spreadsheet
from services.intake.spreadsheet import COLUMNS, SheetError

HEADER = [zh for zh, _ in COLUMNS.values()]


def sheet(*rows: dict, header=HEADER) -> bytes:
    book = Workbook()
    ws = book.active
    ws.append(header)
    keys = list(COLUMNS)
    for row in rows:
        ws.append([row.get(k) for k in keys])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def row(**cells) -> dict:
    return {"title": "年度重点工作一", "source_kind": "年度重点工作", "source_ref": "2026年报告",
            "lead_unit": "U-1", "due": date(2099, 12, 31), **cells}


def test_rows_of_one_item_group_together_and_words_become_values():
    content = sheet(
        row(regime="综合督查", urgency="紧急", task_title="一季度", co_units="U-2、U-3",
            reporting_cycle="季度"),
        row(task_title="二季度", lead_unit="U-4", due="2099-06-30"),
        row(title="年度重点工作二", source_ref="2026年报告", lead_unit="U-5", due=None,
            due_working_days=20),
    )
    items, errors = spreadsheet.to_items(spreadsheet.read_rows(content))
    assert errors == []
    (first, rows1), (second, rows2) = items
    assert [r.number for r in rows1] == [2, 3] and [r.number for r in rows2] == [4]
    assert first.source.kind == "annual_key_work" and first.regime == "comprehensive"
    assert first.urgency == "urgent"
    assert [t.lead_unit for t in first.tasks] == ["U-1", "U-4"]
    assert first.tasks[0].co_units == ["U-2", "U-3"] and first.tasks[0].reporting_cycle == "quarter"
    assert first.tasks[0].due.isoformat() == "2099-12-31T17:30:00+08:00"
    assert first.tasks[1].due.isoformat() == "2099-06-30T17:30:00+08:00"
    assert second.tasks[0].due_working_days == 20 and second.tasks[0].due is None


def test_every_bad_cell_is_reported_with_its_row_and_column():
    content = sheet(
        row(),
        row(title="坏事项", source_kind="传闻", lead_unit=None),
        row(title="坏日期", due="下个月"),
        row(title="两种时限", due_working_days=5),
    )
    items, errors = spreadsheet.to_items(spreadsheet.read_rows(content))
    found = {(e.row, e.column) for e in errors}
    assert {(3, "来源类型"), (3, "主办单位"), (4, "办结时限"), (5, "办结时限")} <= found
    assert not any(e.row == 2 for e in errors)
    assert "not a date: '下个月'" in next(e.message for e in errors if e.row == 4)


def test_english_headers_work_too():
    header = [en for _, en in COLUMNS.values()]
    items, errors = spreadsheet.to_items(spreadsheet.read_rows(sheet(row(source_kind="hotline_case"),
                                                                     header=header)))
    assert errors == [] and items[0][0].source.kind == "hotline_case"


@pytest.mark.parametrize("content,message", [
    (b"not a spreadsheet", "not an Excel"),
    (sheet(header=["事项", "主办单位"]), "missing columns: 来源类型"),
    (sheet(), "no rows"),
])
def test_unreadable_sheets_are_refused_with_the_reason(content, message):
    with pytest.raises(SheetError, match=message):
        spreadsheet.read_rows(content)


def test_the_template_has_every_header():
    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(spreadsheet.template())).active
    assert [c.value for c in ws[1]] == HEADER


def test_a_date_cell_from_excel_means_the_end_of_that_day_in_beijing():
    assert spreadsheet._deadline(datetime(2099, 3, 1)).isoformat() == "2099-03-01T17:30:00+08:00"
    assert spreadsheet._deadline("2099-03-01T09:00").isoformat() == "2099-03-01T09:00:00+08:00"
