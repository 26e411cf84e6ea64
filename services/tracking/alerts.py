"""Traffic lights, stagnation and the reminder schedule of a task, as pure functions.

Working-day arithmetic comes in as a parameter (``shared.workdays.WorkCalendar``
satisfies ``WorkingDays``); the current time always comes in as ``now``.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from services.tracking.lifecycle import CLOCK_RUNNING_STATUSES, Status

_MAX_GAP_DAYS = 400


class WorkingDays(Protocol):
    def working_days_between(self, start: datetime, end: datetime) -> int:
        """Working days d with start's local date < d <= end's local date (0 if end <= start)."""
        ...

    def working_days_before(self, due: datetime, n: int) -> datetime:
        """The same local time of day as due, on the n-th (n >= 1) working day before it."""
        ...


class Light(StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


def _is_count(value: object, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


@dataclass(frozen=True)
class WarningPolicy:
    yellow_working_days: int = 2
    yellow_time_used: float = 0.75
    stagnant_after_working_days: int = 5
    reminder_days_before: tuple[int, ...] = (3, 1)
    remind_at_deadline: bool = True
    overdue_every_working_days: int = 2  # 0: no repeats after the deadline

    def __post_init__(self) -> None:
        if not _is_count(self.yellow_working_days, 0):
            raise ValueError(
                f"yellow_working_days must be an integer >= 0, got {self.yellow_working_days!r}"
            )
        used = self.yellow_time_used
        if isinstance(used, bool) or not isinstance(used, int | float) or not 0 < used <= 1:
            raise ValueError(f"yellow_time_used must be a fraction in (0, 1], got {used!r}")
        if not _is_count(self.stagnant_after_working_days, 1):
            raise ValueError(
                "stagnant_after_working_days must be an integer >= 1, "
                f"got {self.stagnant_after_working_days!r}"
            )
        days = self.reminder_days_before
        if isinstance(days, str | bytes) or not all(_is_count(n, 1) for n in days):
            raise ValueError(f"reminder_days_before must be integers >= 1, got {days!r}")
        object.__setattr__(self, "reminder_days_before", tuple(sorted(set(days), reverse=True)))
        if not isinstance(self.remind_at_deadline, bool):
            raise ValueError(f"remind_at_deadline must be a bool, got {self.remind_at_deadline!r}")
        if not _is_count(self.overdue_every_working_days, 0):
            raise ValueError(
                "overdue_every_working_days must be an integer >= 0 (0 turns repeats off), "
                f"got {self.overdue_every_working_days!r}"
            )


def light(
    *,
    now: datetime,
    assigned_at: datetime,
    due: datetime,
    status: Status,
    extension_pending: bool,
    policy: WarningPolicy,
    calendar: WorkingDays,
) -> Light:
    """Red once overdue (yellow while an extension is pending); green while the clock is stopped."""
    if Status(status) not in CLOCK_RUNNING_STATUSES:
        return Light.GREEN
    if now >= due:
        return Light.YELLOW if extension_pending else Light.RED
    if calendar.working_days_between(now, due) <= policy.yellow_working_days:
        return Light.YELLOW
    span = (due - assigned_at).total_seconds()
    used = (now - assigned_at).total_seconds() / span if span > 0 else 1.0
    return Light.YELLOW if used >= policy.yellow_time_used else Light.GREEN


def is_stagnant(
    *,
    now: datetime,
    last_activity_at: datetime,
    status: Status,
    policy: WarningPolicy,
    calendar: WorkingDays,
) -> bool:
    if Status(status) not in CLOCK_RUNNING_STATUSES:
        return False
    idle = calendar.working_days_between(last_activity_at, now)
    return idle >= policy.stagnant_after_working_days


def _working_days_after(calendar: WorkingDays, start: datetime, n: int) -> datetime:
    for days in range(1, _MAX_GAP_DAYS + 1):
        candidate = start + timedelta(days=days)
        if calendar.working_days_between(start, candidate) >= n:
            return candidate
    raise ValueError(f"no {n} working days within {_MAX_GAP_DAYS} days after {start.isoformat()}")


def _schedule(*, due: datetime, policy: WarningPolicy, calendar: WorkingDays) -> Iterator[datetime]:
    """Every reminder in increasing order, in due's time zone; endless if overdue repeats are on."""
    for n in policy.reminder_days_before:
        yield calendar.working_days_before(due, n).astimezone(due.tzinfo)
    if policy.remind_at_deadline:
        yield due
    at = due
    while policy.overdue_every_working_days:
        at = _working_days_after(calendar, at, policy.overdue_every_working_days)
        yield at


def reminder_times(
    *,
    due: datetime,
    until: datetime,
    policy: WarningPolicy,
    calendar: WorkingDays,
    assigned_at: datetime | None = None,
) -> list[datetime]:
    """The reminders before until (when the task closed, or a horizon), none before assigned_at.

    Times may lie in the past: fire those not yet fired, keyed by ``reminder_key``.
    """
    times = []
    for at in _schedule(due=due, policy=policy, calendar=calendar):
        if at >= until:
            break
        if assigned_at is None or at >= assigned_at:
            times.append(at)
    return times


def next_reminder(
    *,
    after: datetime,
    due: datetime,
    policy: WarningPolicy,
    calendar: WorkingDays,
    until: datetime | None = None,
    assigned_at: datetime | None = None,
) -> datetime | None:
    """The first reminder strictly after after (and before until, if the task closed)."""
    for at in _schedule(due=due, policy=policy, calendar=calendar):
        if until is not None and at >= until:
            return None
        if at > after and (assigned_at is None or at >= assigned_at):
            return at
    return None


def reminder_key(task_id: str, at: datetime) -> str:
    """The same for every representation of the same instant."""
    return f"{task_id}:{at.astimezone(UTC).isoformat()}"
