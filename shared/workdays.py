"""Working-day arithmetic on the official Chinese calendar (法定节假日 and 调休).

Pure: no I/O. The State Council publishes each year's arrangement late in the year before,
so admins load every new year; a year without data falls back to Mon–Fri, never an error,
and the years that did are reported so the caller can flag the task.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from types import MappingProxyType
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Shanghai")
END_OF_DAY = time(17, 30)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ONE_DAY = timedelta(days=1)


class CalendarError(ValueError):
    """Holiday data that cannot be used: the message names the offending value."""


@dataclass(frozen=True)
class YearCalendar:
    year: int
    holidays: frozenset[date] = frozenset()  # days off, weekends among them allowed
    workdays: frozenset[date] = frozenset()  # 调休上班: weekends that are working days

    def __post_init__(self) -> None:
        for d in sorted(self.holidays | self.workdays):
            if d.year != self.year:
                raise CalendarError(f"{d.isoformat()} is not in {self.year}")
        if both := self.holidays & self.workdays:
            raise CalendarError(f"listed as both holiday and workday: {_join(both)}")
        if weekdays := {d for d in self.workdays if d.weekday() < 5}:
            raise CalendarError(f"workdays must fall on a Saturday or Sunday: {_join(weekdays)}")

    @classmethod
    def parse(cls, year: int, data: Mapping) -> "YearCalendar":
        """Build from ``{"holidays": ["2026-10-01", ...], "workdays": ["2026-10-10", ...]}``."""
        if not isinstance(data, Mapping):
            raise CalendarError(f"{year}: expected an object with holidays and workdays")
        if unknown := set(data) - {"holidays", "workdays"}:
            raise CalendarError(f"{year}: unknown keys {sorted(unknown)}")
        return cls(year, _dates(data.get("holidays", [])), _dates(data.get("workdays", [])))


def _dates(values: object) -> frozenset[date]:
    if not isinstance(values, list | tuple):
        raise CalendarError(f"expected a list of YYYY-MM-DD dates, got {values!r}")
    return frozenset(_date(v) for v in values)


def _date(value: object) -> date:
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise CalendarError(f"not a YYYY-MM-DD date: {value!r}")


def _join(days: Iterable[date]) -> str:
    return ", ".join(d.isoformat() for d in sorted(days))


@dataclass(frozen=True)
class WorkdayResult:
    due: datetime
    fallback_years: frozenset[int]  # years reached without data, counted as plain Mon–Fri


class WorkCalendar:
    def __init__(self, years: Mapping[int, YearCalendar]) -> None:
        for year, cal in years.items():
            if year != cal.year:
                raise CalendarError(f"calendar for {cal.year} filed under {year}")
        self._years = dict(years)

    @property
    def years(self) -> Mapping[int, YearCalendar]:
        return MappingProxyType(self._years)

    def has_year(self, year: int) -> bool:
        return year in self._years

    def is_workday(self, d: date) -> bool:
        cal = self._years.get(d.year)
        if cal is None:
            return d.weekday() < 5
        return (d.weekday() < 5 and d not in cal.holidays) or d in cal.workdays

    def add_working_days(
        self, start: datetime, n: int, end_of_day: time = END_OF_DAY
    ) -> WorkdayResult:
        """The end of the n-th working day after start's local date (start's own day never counts)."""
        _check_count(n)
        day, fallback = _local_date(start), set()
        while n:
            day += _ONE_DAY
            if not self.has_year(day.year):
                fallback.add(day.year)
            if self.is_workday(day):
                n -= 1
        return WorkdayResult(datetime.combine(day, end_of_day, TZ), frozenset(fallback))

    def working_days_between(self, start: datetime, end: datetime) -> int:
        """Working days d with start's local date < d <= end's local date."""
        day, last, count = _local_date(start), _local_date(end), 0
        while day < last:
            day += _ONE_DAY
            if self.is_workday(day):
                count += 1
        return count

    def working_days_before(self, due: datetime, n: int) -> datetime:
        """The same local time of day as due, on the n-th working day before due's local date."""
        _check_count(n)
        local = _local(due)
        day = local.date()
        while n:
            day -= _ONE_DAY
            if self.is_workday(day):
                n -= 1
        return datetime.combine(day, local.time(), TZ)


def working_days_late(calendar: WorkCalendar, *, due: datetime, at: datetime) -> int:
    """How many working days late something done at ``at`` is for a deadline at ``due``.

    The working days after the deadline's local date up to and including ``at``'s local date
    (Asia/Shanghai): deadline Friday 17:30, done Monday 09:00 → 1. 0 when ``at <= due``, and also
    0 when late on the deadline's own day or only on the days off after it (whether it was late
    at all is ``at > due``, the caller's to decide). Holidays and 调休 working days count as the
    calendar says; a year without data counts Mon–Fri.
    """
    if _local(at) <= _local(due):
        return 0
    return calendar.working_days_between(due, at)


def _check_count(n: int) -> None:
    if n < 1:
        raise ValueError(f"the number of working days must be at least 1, got {n}")


def _local(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"datetime must be timezone-aware, got {moment.isoformat()}")
    return moment.astimezone(TZ)


def _local_date(moment: datetime) -> date:
    return _local(moment).date()


# Copied from the chinese-calendar package (1.11.0), itself from the State Council notices.
BUILTIN: dict[int, dict[str, list[str]]] = {
    2025: {
        "holidays": [
            "2025-01-01",  # 元旦
            "2025-01-28", "2025-01-29", "2025-01-30", "2025-01-31",  # 春节
            "2025-02-01", "2025-02-02", "2025-02-03", "2025-02-04",
            "2025-04-04", "2025-04-05", "2025-04-06",  # 清明
            "2025-05-01", "2025-05-02", "2025-05-03", "2025-05-04", "2025-05-05",  # 劳动节
            "2025-05-31", "2025-06-01", "2025-06-02",  # 端午
            "2025-10-01", "2025-10-02", "2025-10-03", "2025-10-04",  # 国庆、中秋
            "2025-10-05", "2025-10-06", "2025-10-07", "2025-10-08",
        ],
        "workdays": ["2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11"],
    },
    2026: {
        "holidays": [
            "2026-01-01", "2026-01-02", "2026-01-03",  # 元旦
            "2026-02-15", "2026-02-16", "2026-02-17", "2026-02-18", "2026-02-19",  # 春节
            "2026-02-20", "2026-02-21", "2026-02-22", "2026-02-23",
            "2026-04-04", "2026-04-05", "2026-04-06",  # 清明
            "2026-05-01", "2026-05-02", "2026-05-03", "2026-05-04", "2026-05-05",  # 劳动节
            "2026-06-19", "2026-06-20", "2026-06-21",  # 端午
            "2026-09-25", "2026-09-26", "2026-09-27",  # 中秋
            "2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04",  # 国庆
            "2026-10-05", "2026-10-06", "2026-10-07",
        ],
        "workdays": [
            "2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10",
        ],
    },
}


@cache
def builtin_calendar() -> WorkCalendar:
    return WorkCalendar({year: YearCalendar.parse(year, data) for year, data in BUILTIN.items()})
