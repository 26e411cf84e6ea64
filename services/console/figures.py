"""The dashboards' figures, read from the services' APIs, and the geometry of their inline SVG
charts (drawn by templates/charts.html: no JavaScript, nothing fetched)."""

import asyncio
from dataclasses import dataclass
from datetime import date, datetime

from services.console.client import Api, ApiError
from services.console.i18n import TZ

MONTHS = 12


@dataclass(frozen=True)
class MonthRates:
    period: str  # 2026-11
    tasks_due: int
    completion: float | None  # 0..1; None: no task was due that month
    on_time: float | None


def last_months(today: date, n: int = MONTHS) -> list[str]:
    """The ``n`` months up to and including ``today``'s, oldest first: ["2025-12", …, "2026-11"]."""
    index = today.year * 12 + today.month - 1
    return [f"{i // 12}-{i % 12 + 1:02d}" for i in range(index - n + 1, index + 1)]


def tenant_rates(period: str, ranking: dict) -> MonthRates:
    """A month's rates over every unit of a ranking: completed (on time) of the tasks due."""
    due = completed = on_time = 0
    for standing in ranking["units"]:
        rates = standing["rates"]
        due += rates["tasks_due"]
        completed += rates["completed"]
        on_time += rates["completed_on_time"]
    return MonthRates(period, due, completed / due if due else None, on_time / due if due else None)


async def monthly_rates(api: Api, now: datetime) -> list[MonthRates] | None:
    """Completion and on-time rates of the last 12 months from scoring's monthly rankings (in the
    caller's scope); None if scoring refuses (rankings switched off) or does not answer."""
    months = last_months(now.astimezone(TZ).date())
    try:
        rankings = await asyncio.gather(*(api.get("scoring", "/api/v1/rankings", period=m)
                                          for m in months))
    except ApiError:
        return None
    return [tenant_rates(m, r) for m, r in zip(months, rankings, strict=True)]


async def load_by_unit(api: Api, limit: int = 15) -> list[dict]:
    """Open tasks per lead unit, the most overdue (then stagnant) first; units with neither left out."""
    rows = await api.get("tracking", "/api/v1/tasks/by-unit")
    rows = [r for r in rows if r["overdue"] or r["stagnant"]]
    return sorted(rows, key=lambda r: (-r["overdue"], -r["stagnant"], r["unit"]))[:limit]


# ---- chart geometry ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str  # the month
    value: float | None


def line_points(months: list[MonthRates], attr: str, width: int = 600, height: int = 200,
                pad: int = 30, left: int = 44) -> list[Point]:
    """One rate per month on a 0–100 % scale (``pad`` above and below, ``left`` for the axis),
    months evenly across; a month with no task due has no point (value None) and breaks the line."""
    step = (width - left - pad) / max(1, len(months) - 1)
    points = []
    for n, month in enumerate(months):
        value = getattr(month, attr)
        y = pad + (height - 2 * pad) * (1 - value) if value is not None else None
        points.append(Point(round(left + n * step, 1), round(y, 1) if y is not None else -1,
                            month.period, value))
    return points


def polyline_segments(points: list[Point]) -> list[str]:
    """The ``points`` attributes of the polylines through the months that have a value."""
    segments, current = [], []
    for p in points:
        if p.value is None:
            if current:
                segments.append(current)
            current = []
        else:
            current.append(f"{p.x},{p.y}")
    if current:
        segments.append(current)
    return [" ".join(s) for s in segments]


def bar_scale(rows: list[dict], keys: tuple[str, ...] = ("overdue", "stagnant")) -> int:
    """The largest count among the bars (at least 1: the width of a full bar)."""
    return max([1, *(r[k] for r in rows for k in keys)])
