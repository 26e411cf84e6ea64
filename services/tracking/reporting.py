"""Progress reports on a task's cycle (报送周期), as pure functions.

Periods are local calendar periods in Beijing time (Asia/Shanghai); ``end`` is exclusive. A
period's report is due by the end (23:59:59 local) of its due day, and is missing once that moment
has passed without one:

| cycle      | period, key                                    | due day                                  |
|------------|------------------------------------------------|------------------------------------------|
| day        | the day, ``2026-11-21``                        | the next day                             |
| week       | the ISO week Monday–Sunday, ``2026-W47``       | the following Monday                     |
| ten_days   | the 旬 1–10, 11–20, 21–end, ``2026-11-2``      | two days after the 旬 ends (12th, 22nd, 2nd) |
| month      | ``2026-11``                                    | ``report_due_day`` of the next month     |
| quarter    | ``2026-Q4``                                    | ``report_due_day`` of the month after it |
| half_year  | ``2026-H2``                                    | ``report_due_day`` of the month after it |
| year       | ``2026``                                       | ``report_due_day`` of the next January   |

``report_due_day`` is 2 by default (a November report is due by 2 December, 23:59:59).

Which reports a task owes: one per period from its registration on (the first period may be
partial) whose due moment passes while the task is assigned, signed or in progress. Reporting is
paused while the task is suspended and stops once it is submitted (the completion report stands in
for the periodic ones; a task returned for redo owes them again) or closed. The deadline does not
end reporting: an overdue task still owes its reports. The lead unit's report is the task's report
for a period; co-units' reports are their parts, which the lead's consolidates.
"""

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Protocol, TypeVar

from services.tracking.lifecycle import Status
from shared.workdays import TZ

CYCLES = ("year", "half_year", "quarter", "month", "ten_days", "week", "day")
REPORTING_STATUSES = frozenset({Status.ASSIGNED, Status.SIGNED, Status.IN_PROGRESS})
_DUE_TIME = time(23, 59, 59)
_MONTHS = {"quarter": 3, "half_year": 6, "year": 12}
_MISSED_IDS = uuid.UUID("0b6d3f0e-52a4-4c67-9f6e-3c1d2a7b8e44")


@dataclass(frozen=True)
class Period:
    key: str
    start: datetime
    end: datetime
    report_due: datetime


def period_of(cycle: str, moment: datetime, *, report_due_day: int = 2) -> Period:
    """The period of ``cycle`` that holds ``moment``."""
    start, end = _bounds(_known(cycle), moment.astimezone(TZ).date())
    return _period(cycle, start, end, report_due_day)


def periods(cycle: str, assigned_at: datetime, until: datetime, *,
            report_due_day: int = 2) -> list[Period]:
    """The periods overlapping [assigned_at, until), in order; none for cycle "none"."""
    if cycle == "none" or until <= assigned_at:
        return []
    found, period = [], period_of(cycle, assigned_at, report_due_day=report_due_day)
    while period.start < until:
        found.append(period)
        period = period_of(cycle, period.end, report_due_day=report_due_day)
    return found


def parse_key(cycle: str, key: str, *, report_due_day: int = 2) -> Period:
    """The period of ``cycle`` named ``key``; ValueError if ``key`` names none."""
    pattern, first_day = _KEYS[_known(cycle)]
    match = re.fullmatch(pattern, key)
    try:
        if match is None:
            raise ValueError
        period = period_of(cycle, _midnight(first_day(*map(int, match.groups()))),
                           report_due_day=report_due_day)
    except ValueError:
        raise ValueError(f"{key!r} is not a {cycle} period") from None
    if period.key != key:
        raise ValueError(f"{key!r} is not a {cycle} period")
    return period


def missing(periods: Iterable[Period], reported_keys: Iterable[str], now: datetime) -> list[Period]:
    """The periods whose report is past due and was not made."""
    reported = set(reported_keys)
    return [p for p in periods if p.report_due < now and p.key not in reported]


def came_due(cycle: str, *, assigned_at: datetime, since: datetime, now: datetime,
             report_due_day: int = 2) -> tuple[list[Period], datetime]:
    """The periods whose report fell due in [since, now), and the next due moment at or after now."""
    fallen, period = [], period_of(cycle, assigned_at, report_due_day=report_due_day)
    while period.report_due < now:
        if period.report_due >= since:
            fallen.append(period)
        period = period_of(cycle, period.end, report_due_day=report_due_day)
    return fallen, period.report_due


def status_at(moment: datetime, changes: Iterable[tuple[datetime, str]]) -> Status:
    """The task's status at ``moment`` from its history's (at, to_status) in order."""
    status = Status.ASSIGNED
    for at, to_status in changes:
        if at <= moment:
            status = Status(to_status)
    return status


def owed(periods: Iterable[Period], changes: Iterable[tuple[datetime, str]]) -> list[Period]:
    """The periods whose report fell due while the task owed reports."""
    changes = list(changes)
    return [p for p in periods if status_at(p.report_due, changes) in REPORTING_STATUSES]


class _Report(Protocol):
    unit: str
    at: datetime


R = TypeVar("R", bound=_Report)


def latest_by_unit(reports: Iterable[R]) -> dict[str, R]:
    """Each unit's latest report (a later report replaces an earlier one of the same period)."""
    latest: dict[str, R] = {}
    for report in reports:
        if report.unit not in latest or report.at >= latest[report.unit].at:
            latest[report.unit] = report
    return latest


def missed_event_id(task_id: str, key: str) -> str:
    """The same event id for the same missed period, whichever replica flags it."""
    return uuid.uuid5(_MISSED_IDS, f"{task_id}/{key}").hex


# ---- calendar arithmetic --------------------------------------------------------------------


def _known(cycle: str) -> str:
    if cycle not in CYCLES:
        raise ValueError(f"no periods for reporting cycle {cycle!r}")
    return cycle


def _bounds(cycle: str, day: date) -> tuple[date, date]:
    if cycle == "day":
        return day, day + timedelta(days=1)
    if cycle == "week":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    if cycle == "ten_days":
        start = day.replace(day=min((day.day - 1) // 10, 2) * 10 + 1)
        return start, start.replace(day=start.day + 10) if start.day < 21 else _add_months(start, 1)
    if cycle == "month":
        start = day.replace(day=1)
        return start, _add_months(start, 1)
    months = _MONTHS[cycle]
    start = date(day.year, (day.month - 1) // months * months + 1, 1)
    return start, _add_months(start, months)


def _add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _key(cycle: str, start: date) -> str:
    if cycle == "day":
        return start.isoformat()
    if cycle == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    if cycle == "ten_days":
        return f"{start:%Y-%m}-{start.day // 10 + 1}"
    if cycle == "month":
        return f"{start:%Y-%m}"
    if cycle == "quarter":
        return f"{start.year}-Q{(start.month + 2) // 3}"
    if cycle == "half_year":
        return f"{start.year}-H{1 if start.month == 1 else 2}"
    return str(start.year)


def _due_day(cycle: str, end: date, report_due_day: int) -> date:
    if cycle in ("day", "week"):
        return end
    if cycle == "ten_days":
        return end + timedelta(days=1)
    return end + timedelta(days=report_due_day - 1)


def _period(cycle: str, start: date, end: date, report_due_day: int) -> Period:
    due = datetime.combine(_due_day(cycle, end, report_due_day), _DUE_TIME, TZ)
    return Period(_key(cycle, start), _midnight(start), _midnight(end), due)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), TZ)


_KEYS: dict[str, tuple[str, Callable[..., date]]] = {
    "day": (r"(\d{4})-(\d{2})-(\d{2})", date),
    "week": (r"(\d{4})-W(\d{2})", lambda y, w: date.fromisocalendar(y, w, 1)),
    "ten_days": (r"(\d{4})-(\d{2})-([123])", lambda y, m, n: date(y, m, (n - 1) * 10 + 1)),
    "month": (r"(\d{4})-(\d{2})", lambda y, m: date(y, m, 1)),
    "quarter": (r"(\d{4})-Q([1-4])", lambda y, q: date(y, 3 * q - 2, 1)),
    "half_year": (r"(\d{4})-H([12])", lambda y, h: date(y, 6 * h - 5, 1)),
    "year": (r"(\d{4})", lambda y: date(y, 1, 1)),
}
