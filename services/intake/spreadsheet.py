"""Bulk intake from an Excel sheet (e.g. a year's key-work target list), as pure functions.

One row per task; consecutive rows with the same 事项 (item title) and 来源文号 form one item.
Headers are matched in Chinese or English; enum cells take the office's Chinese words or the API's
values. Every bad cell is reported with its row and column, and nothing is created unless every
row is good.
"""

import io
from dataclasses import dataclass
from datetime import date, datetime, time
from itertools import groupby
from zoneinfo import ZoneInfo

from openpyxl import Workbook, load_workbook
from pydantic import ValidationError

from services.intake.models import ItemCreate

OFFICE_ZONE = ZoneInfo("Asia/Shanghai")
END_OF_DAY = time(17, 30)

# column key → (Chinese header, English header)
COLUMNS = {
    "title": ("事项", "item"),
    "source_kind": ("来源类型", "source_kind"),
    "source_ref": ("来源文号", "source_ref"),
    "regime": ("督办类别", "regime"),
    "urgency": ("紧急程度", "urgency"),
    "supervising_leader": ("督办领导", "supervising_leader"),
    "supervisor": ("督办员", "supervisor"),
    "requirements": ("工作要求", "requirements"),
    "task_title": ("任务", "task"),
    "lead_unit": ("主办单位", "lead_unit"),
    "co_units": ("协办单位", "co_units"),
    "responsible_person": ("责任人", "responsible_person"),
    "due": ("办结时限", "due"),
    "due_working_days": ("工作日数", "due_working_days"),
    "reporting_cycle": ("报送周期", "reporting_cycle"),
}
REQUIRED = ("title", "source_kind", "lead_unit")

WORDS = {
    "source_kind": {"会议决定": "meeting_decision", "会议决定事项": "meeting_decision",
                    "领导批示": "leader_instruction", "领导指示": "leader_instruction",
                    "上级要求": "superior_requirement", "年度重点工作": "annual_key_work",
                    "民意快线": "hotline_case", "12345": "hotline_case", "热线": "hotline_case",
                    "信访": "letter_visit", "其他": "other"},
    "regime": {"综合督查": "comprehensive", "专项督查": "special", "挂账督查": "ledger",
               "限时办结": "time_limited"},
    "urgency": {"特急": "extra_urgent", "紧急": "urgent", "一般": "normal"},
    "reporting_cycle": {"无": "none", "年": "year", "半年": "half_year", "季": "quarter",
                        "季度": "quarter", "月": "month", "旬": "ten_days", "周": "week", "日": "day"},
}
ITEM_FIELDS = ("title", "source_kind", "source_ref", "regime", "urgency", "supervising_leader",
               "supervisor", "requirements")


class SheetError(ValueError):
    """The file is not a sheet Duban can read at all (not xlsx, no header row…)."""


@dataclass(frozen=True)
class CellError:
    row: int
    column: str
    message: str


@dataclass(frozen=True)
class Row:
    number: int  # the sheet's row number, as the user sees it
    cells: dict[str, object]


def template() -> bytes:
    """An empty sheet with the headers, for offices to fill in."""
    book = Workbook()
    sheet = book.active
    sheet.title = "督办事项"
    sheet.append([zh for zh, _ in COLUMNS.values()])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def read_rows(content: bytes) -> list[Row]:
    try:
        sheet = load_workbook(io.BytesIO(content), read_only=True, data_only=True).worksheets[0]
    except Exception as exc:  # openpyxl raises many kinds for a file that is not xlsx
        raise SheetError(f"not an Excel (.xlsx) file: {exc}") from None
    lines = sheet.iter_rows(values_only=True)
    header = next(lines, None)
    keys = _header_keys(header or ())
    rows = []
    for number, values in enumerate(lines, start=2):
        cells = {key: _clean(value) for key, value in zip(keys, values, strict=False) if key}
        if any(v not in (None, "") for v in cells.values()):
            rows.append(Row(number, cells))
    if not rows:
        raise SheetError("the sheet has no rows under its header")
    return rows


def _header_keys(header: tuple) -> list[str | None]:
    names = {name: key for key, pair in COLUMNS.items() for name in pair}
    keys = [names.get(str(cell).strip()) if cell is not None else None for cell in header]
    if missing := [COLUMNS[k][0] for k in REQUIRED if k not in keys]:
        raise SheetError(f"missing columns: {', '.join(missing)}")
    return keys


def _clean(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def to_items(rows: list[Row]) -> tuple[list[tuple[ItemCreate, list[Row]]], list[CellError]]:
    """Group rows into items and validate them; errors name the row and the column."""
    items, errors = [], []
    key = lambda row: (row.cells.get("title"), row.cells.get("source_ref"))  # noqa: E731
    for _, group in groupby(rows, key=key):
        group = list(group)
        body, row_of_task = _item_body(group, errors)
        try:
            items.append((ItemCreate.model_validate(body), group))
        except ValidationError as exc:
            errors.extend(_cell_errors(exc, group[0], row_of_task))
    return items, _first_per_cell(errors)


def _first_per_cell(errors: list[CellError]) -> list[CellError]:
    """One message a cell: a date that could not be read also leaves the task without one."""
    seen: dict[tuple[int, str], CellError] = {}
    for error in errors:
        seen.setdefault((error.row, error.column), error)
    return list(seen.values())


def _item_body(group: list[Row], errors: list[CellError]) -> tuple[dict, list[Row]]:
    first = group[0].cells
    body = {field: _word(field, first.get(field)) for field in ITEM_FIELDS if first.get(field)}
    body["source"] = {"kind": body.pop("source_kind", None), "ref": str(body.pop("source_ref", ""))}
    body["tasks"] = [_task_body(row, errors) for row in group]
    return body, group


def _task_body(row: Row, errors: list[CellError]) -> dict:
    cells = row.cells
    task = {k: cells[k] for k in ("lead_unit", "responsible_person", "due_working_days") if cells.get(k)}
    if cells.get("task_title"):
        task["title"] = cells["task_title"]
    if cells.get("co_units"):
        task["co_units"] = _units(str(cells["co_units"]))
    if cells.get("reporting_cycle"):
        task["reporting_cycle"] = _word("reporting_cycle", cells["reporting_cycle"])
    if cells.get("due") not in (None, ""):
        try:
            task["due"] = _deadline(cells["due"])
        except ValueError as exc:
            errors.append(CellError(row.number, COLUMNS["due"][0], str(exc)))
    return task


def _units(text: str) -> list[str]:
    """协办单位 as offices write them: separated by 、 or commas."""
    for separator in ("，", ","):
        text = text.replace(separator, "、")
    return [unit.strip() for unit in text.split("、") if unit.strip()]


def _word(field: str, value: object) -> object:
    return WORDS.get(field, {}).get(value, value) if isinstance(value, str) else value


def _deadline(value: object) -> datetime:
    """A date means the end of that working day in Beijing; a time without zone is Beijing's."""
    if isinstance(value, str):
        try:
            has_time = "T" in value or ":" in value
            value = datetime.fromisoformat(value) if has_time else date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"not a date: {value!r} (use 2026-12-31)") from None
    if isinstance(value, datetime):
        if value.time() == time(0) and value.tzinfo is None:
            value = datetime.combine(value.date(), END_OF_DAY)
        return value if value.tzinfo else value.replace(tzinfo=OFFICE_ZONE)
    if isinstance(value, date):
        return datetime.combine(value, END_OF_DAY, tzinfo=OFFICE_ZONE)
    raise ValueError(f"not a date: {value!r}")


def _cell_errors(exc: ValidationError, first: Row, rows: list[Row]) -> list[CellError]:
    errors = []
    for error in exc.errors():
        loc = error["loc"]
        if loc[0] == "tasks" and len(loc) > 1 and isinstance(loc[1], int):
            row, field = rows[loc[1]], _field_of(loc[2:])
        else:
            row, field = first, {"source": "source_kind"}.get(str(loc[0]), str(loc[0]))
        column = COLUMNS.get(field, (field,))[0]
        errors.append(CellError(row.number, column, error["msg"]))
    return errors


def _field_of(loc: tuple) -> str:
    if not loc:
        return "due"  # the task-level rule: give exactly one kind of deadline
    return "due" if loc[0] == "milestones" else str(loc[0])


def deadline_cell_errors(errors: list[dict], rows: list[Row]) -> list[CellError]:
    """Map the domain's deadline errors (loc body.tasks.i…) back to sheet rows."""
    return [CellError(rows[e["loc"][2]].number, COLUMNS["due"][0], e["msg"]) for e in errors]
