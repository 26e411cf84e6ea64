"""The console's dashboard figures (pure parts) and the ledger export's cap."""

import asyncio
import io
from datetime import date

from openpyxl import load_workbook

from services.console import exports, figures
from services.console.config import ConsoleSettings
from services.console.timeline import merged


def standing(due: int, done: int, on_time: int) -> dict:
    return {"rates": {"tasks_due": due, "completed": done, "completed_on_time": on_time}}


def test_the_last_twelve_months_cross_the_year():
    months = figures.last_months(date(2026, 2, 10))
    assert len(months) == 12 and months[0] == "2025-03" and months[-1] == "2026-02"
    assert figures.last_months(date(2026, 12, 1), 2) == ["2026-11", "2026-12"]


def test_a_months_rates_are_summed_over_units():
    rates = figures.tenant_rates("2026-11", {"units": [standing(3, 2, 1), standing(1, 1, 1)]})
    assert (rates.tasks_due, rates.completion, rates.on_time) == (4, 0.75, 0.5)
    empty = figures.tenant_rates("2026-10", {"units": [standing(0, 0, 0)]})
    assert empty.completion is None and empty.on_time is None


def test_a_month_without_tasks_breaks_the_line():
    months = [figures.MonthRates(f"2026-0{n}", 1, v, v) for n, v in
              enumerate([1.0, 0.5, None, 0.0], start=1)]
    points = figures.line_points(months, "completion", width=600, height=200, pad=30, left=44)
    assert [p.x for p in points] == [44.0, 219.3, 394.7, 570.0]
    assert [p.y for p in points if p.value is not None] == [30.0, 100.0, 170.0]  # 100 %, 50 %, 0 %
    assert figures.polyline_segments(points) == ["44.0,30.0 219.3,100.0", "570.0,170.0"]
    assert figures.bar_scale([]) == 1
    assert figures.bar_scale([{"overdue": 2, "stagnant": 7}, {"overdue": 3, "stagnant": 0}]) == 7


class FakeApi:
    """The ledger API's answers: ``total`` rows in pages of ``exports.EXPORT_PAGE``."""

    def __init__(self, total: int):
        self.total, self.calls = total, []

    async def get(self, service, path, limit=50, cursor=None, with_total=None, **filters):
        self.calls.append((limit, cursor))
        start = int(cursor or 0)
        rows = [{"id": str(n)} for n in range(start, min(self.total, start + limit))]
        more = start + limit < self.total
        return {"items": rows, "next_cursor": str(start + limit) if more else None,
                "total": self.total if with_total else None}


class FakeCtx:
    def __init__(self, api):
        self.api = api


def test_the_export_reads_every_page_and_refuses_beyond_the_cap():
    api = FakeApi(1200)
    rows, total = asyncio.run(exports.ledger_rows(FakeCtx(api), {}, cap=5000))
    assert total == 1200 and [r["id"] for r in rows] == [str(n) for n in range(1200)]
    assert len(api.calls) == 1 + 3  # the count, then three pages of 500
    over = FakeApi(5001)
    rows, total = asyncio.run(exports.ledger_rows(FakeCtx(over), {}, cap=5000))
    assert rows == [] and total == 5001 and len(over.calls) == 1


def test_the_export_sheet_has_a_header_and_a_row_per_task():
    row = {"item_number": "DB-2026-0001", "title": "整治", "lead_unit": "U1", "co_units": ["U2", "U3"],
           "urgency": "urgent", "source_kind": "other", "due": "2030-01-31T09:30:00Z",
           "status": "assigned", "light": "green", "overdue": False}
    sheet = load_workbook(io.BytesIO(exports.workbook([row], "en"))).worksheets[0]
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][:3] == ("Number", "Title", "Lead unit")
    assert values[1][:9] == ("DB-2026-0001", "整治", "U1", "U2、U3", "Urgent", "Other",
                             "2030-01-31 17:30", "Assigned", "Green")


def test_a_tasks_timeline_merges_history_reports_and_missed_periods_in_time_order():
    history = [
        {"at": "2026-11-02T01:00:00Z", "action": "sign", "actor": "head@A", "comment": ""},
        {"at": "2026-11-03T01:00:00Z", "action": "progress", "actor": "head@A", "comment": "过半"},
        {"at": "2026-11-05T01:00:00Z", "action": "urge", "actor": "office", "comment": "加快"},
    ]
    reports = [{"at": "2026-11-03T09:00:00+08:00", "unit": "A", "text": "过半", "evidence": ["ab"]},
               {"at": "2026-11-04T01:00:00Z", "unit": "C", "text": "协办部分", "evidence": []}]
    missed = [{"period": "2026-10", "report_due": "2026-11-01T09:30:00Z",
               "flagged_at": "2026-11-01T10:00:00Z"}]
    events = merged(history, reports, missed)
    assert [(e["kind"], e.get("action") or e.get("unit") or e.get("period")) for e in events] == [
        ("missed", "2026-10"), ("history", "sign"), ("report", "A"), ("report", "C"),
        ("history", "urge")]  # the progress entry is the report of the same moment: shown once


def test_trace_links_only_with_a_tracing_backend_and_a_trace():
    assert ConsoleSettings(trace_url_template="").trace_url("ab" * 16) is None
    jaeger = ConsoleSettings(trace_url_template="http://jaeger:16686/trace/{trace_id}")
    assert jaeger.trace_url("ab" * 16) == "http://jaeger:16686/trace/" + "ab" * 16
    assert jaeger.trace_url(None) is None
