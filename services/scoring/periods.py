"""Assessment periods: a year (2026), half-year (2026-H2), quarter (2026-Q4) or month (2026-11),
in the offices' time zone (Asia/Shanghai)."""

import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

OFFICE_ZONE = ZoneInfo("Asia/Shanghai")
_PATTERN = re.compile(r"(\d{4})(?:-(H[12]|Q[1-4]|\d{2}))?", re.ASCII)  # used with fullmatch


@dataclass(frozen=True, order=True)
class Period:
    start: date  # first day
    end: date  # the first day after it
    name: str

    @property
    def year(self) -> int:
        return self.start.year

    def holds(self, moment: datetime) -> bool:
        return self.start <= local_day(moment) < self.end


def local_day(moment: datetime) -> date:
    return moment.astimezone(OFFICE_ZONE).date()


def _month_start(year: int, month: int) -> date:
    return date(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


def parse(name: str) -> Period:
    """The period called ``name``; ValueError with the accepted forms otherwise."""
    match = _PATTERN.fullmatch(name or "")
    if not match or not 2000 <= int(match[1]) <= 2100:
        raise ValueError(f"bad period {name!r}: use 2026, 2026-H2, 2026-Q4 or 2026-11")
    year, part = int(match[1]), match[2]
    if part is None:
        first, months = 1, 12
    elif part[0] == "H":
        first, months = 1 + 6 * (int(part[1]) - 1), 6
    elif part[0] == "Q":
        first, months = 1 + 3 * (int(part[1]) - 1), 3
    elif 1 <= int(part) <= 12:
        first, months = int(part), 1
    else:
        raise ValueError(f"bad period {name!r}: months run from 01 to 12")
    return Period(_month_start(year, first), _month_start(year, first + months), name)


def year_of(moment: datetime) -> Period:
    return parse(str(local_day(moment).year))


def month_of(moment: datetime) -> Period:
    day = local_day(moment)
    return parse(f"{day.year}-{day.month:02d}")
