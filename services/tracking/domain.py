"""tracking's rules, as pure functions (the lifecycle, calendar and alerts live beside this)."""

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal

from services.tracking.alerts import (
    Light, WarningPolicy, WorkingDays, is_stagnant, light, next_reminder, reminder_key,
)
from services.tracking.config import load_policy
from services.tracking.lifecycle import (
    CLOCK_RUNNING_STATUSES, CLOSED_STATUSES, OPEN_STATUSES, Action, Status,
)
from shared.workdays import TZ, WorkCalendar, YearCalendar, working_days_late

DEFAULT_POLICY = load_policy()
# Reminders chase the unit: not while the office reviews, nor while the clock is stopped.
REMINDABLE_STATUSES = frozenset({Status.ASSIGNED, Status.SIGNED, Status.IN_PROGRESS})
_REMINDER_IDS = uuid.UUID("6f1c1d52-6a4e-4f0e-9d52-0c2b1f7a9e11")


def is_overdue(*, due: datetime, status: str, now: datetime) -> bool:
    """A task is overdue once its deadline has passed while its clock is running."""
    return Status(status) in CLOCK_RUNNING_STATUSES and now >= due


def working_days_left(*, due: datetime, status: str, now: datetime,
                      calendar: WorkCalendar) -> int | None:
    """What the pages say of an open task's deadline: working days left (0: due today), or, once
    it has passed, minus the working days since (at least 1). None for a closed task."""
    if Status(status) in CLOSED_STATUSES:
        return None
    if due >= now:
        return calendar.working_days_between(now, due)
    return -max(1, calendar.working_days_between(due, now))


def late_working_days(action: Action, *, due: datetime, at: datetime,
                      calendar: WorkCalendar) -> int:
    """A status change's ``working_days_late``: 0 but for an acceptance (办结), which counts the
    working days after the deadline's day up to and including the acceptance's day."""
    if action is not Action.ACCEPT:
        return 0
    return working_days_late(calendar, due=due, at=at)


def counters_after(action: Action, returns: int, reverifications: int) -> tuple[int, int]:
    """Returns and re-verifications are kept for the rates."""
    return (
        returns + (action is Action.RETURN),
        reverifications + (action is Action.REVERIFY),
    )


class ExtensionRefused(Exception):
    """An extension request or decision the task's state does not allow; the text says why."""


def check_extension_request(*, status: str, pending: bool, due: datetime, new_due: datetime,
                            now: datetime) -> None:
    if Status(status) not in CLOCK_RUNNING_STATUSES or Status(status) is Status.SUBMITTED:
        raise ExtensionRefused(f"a task that is {status} cannot ask for an extension")
    if pending:
        raise ExtensionRefused("an extension request is already pending")
    if now >= due:
        raise ExtensionRefused("the deadline has passed: an extension must be asked for before it")
    if new_due <= due:
        raise ExtensionRefused(f"the new deadline must be after the current one ({due.isoformat()})")


def check_extension_decision(*, pending: bool) -> None:
    if not pending:
        raise ExtensionRefused("there is no pending extension request to decide")


def task_light(*, task, now: datetime, calendar: WorkingDays,
               policy: WarningPolicy = DEFAULT_POLICY) -> Light:
    return light(now=now, assigned_at=task.assigned_at, due=task.due, status=task.status,
                 extension_pending=task.extension_due is not None, policy=policy, calendar=calendar)


def task_stagnant(*, task, now: datetime, calendar: WorkingDays,
                  policy: WarningPolicy = DEFAULT_POLICY) -> bool:
    return is_stagnant(now=now, last_activity_at=task.last_activity_at or task.assigned_at,
                       status=task.status, policy=policy, calendar=calendar)


def resolve_due(*, due: datetime | None, working_days: int | None, assigned_at: datetime,
                calendar: WorkCalendar) -> tuple[datetime, bool]:
    """The deadline, and whether it was counted over a year without holiday data."""
    if due is not None:
        return due, False
    result = calendar.add_working_days(assigned_at, working_days)
    return result.due, bool(result.fallback_years)


def next_reminder_for(task, *, after: datetime, calendar: WorkingDays,
                      policy: WarningPolicy = DEFAULT_POLICY,
                      due: datetime | None = None) -> datetime | None:
    """When the task's next automatic reminder is due (with ``due`` if given, else the task's),
    or None while none should fire."""
    if Status(task.status) not in REMINDABLE_STATUSES or task.extension_due is not None:
        return None
    return next_reminder(after=after, due=due or task.due, policy=policy, calendar=calendar,
                         assigned_at=task.assigned_at)


def reminder_event_id(task_id: str, scheduled_at: datetime) -> str:
    """The same id for the same scheduled reminder, whichever replica fires it."""
    return uuid.uuid5(_REMINDER_IDS, reminder_key(task_id, scheduled_at)).hex


# ---- the calendar loaded by administrators ----------------------------------------------------


def effective_calendar(base: WorkCalendar, loaded: Iterable[YearCalendar]) -> WorkCalendar:
    """``base``'s years, each replaced by the year loaded for it."""
    return WorkCalendar({**base.years, **{cal.year: cal for cal in loaded}})


def calendar_origin(year: int, *, loaded_years: Collection[int],
                    builtin: WorkCalendar) -> Literal["loaded", "builtin", "none"]:
    """Where a year's calendar comes from; "none": plain weekends (the tasks are flagged)."""
    if year in loaded_years:
        return "loaded"
    return "builtin" if builtin.has_year(year) else "none"


@dataclass(frozen=True)
class Recount:
    due: datetime
    calendar_fallback: bool
    next_reminder_at: datetime | None


def affected_by_year(task, year: int, *, previous: WorkCalendar) -> bool:
    """Whether changing ``year`` may move the task's deadline: an open task not yet overdue, its
    deadline counted in working days over ``year`` on ``previous`` and not moved since (a
    granted extension makes it a fixed time)."""
    if task.due_working_days is None or task.overdue_at is not None:
        return False
    if Status(task.status) not in OPEN_STATUSES:
        return False
    if not _local_year(task.assigned_at) <= year <= _local_year(task.due):
        return False
    return previous.add_working_days(task.assigned_at, task.due_working_days).due == task.due


def recount(task, *, calendar: WorkCalendar, now: datetime) -> Recount:
    """The task's deadline counted again from its registration, and its next reminder after now."""
    due, fallback = resolve_due(due=None, working_days=task.due_working_days,
                                assigned_at=task.assigned_at, calendar=calendar)
    return Recount(due, fallback, next_reminder_for(task, after=now, calendar=calendar, due=due))


def _local_year(moment: datetime) -> int:
    return moment.astimezone(TZ).year


def yellow_at(*, assigned_at: datetime, due: datetime, calendar: WorkCalendar,
              policy: WarningPolicy = DEFAULT_POLICY) -> datetime:
    """The moment the light turns yellow: when at most ``yellow_working_days`` working days remain
    (from the start of the (N+1)-th working day on or before the deadline's date), or when
    ``yellow_time_used`` of the time is used, whichever comes first. Same rule as ``alerts.light``."""
    day, found = due.astimezone(TZ).date(), 0
    while True:
        if calendar.is_workday(day):
            found += 1
            if found > policy.yellow_working_days:
                break
        day -= timedelta(days=1)
    by_days = datetime.combine(day, time(0), TZ)
    by_time = assigned_at + (due - assigned_at) * policy.yellow_time_used
    return min(by_days, by_time)


def ledger_light(*, status: str, due: datetime, yellow: datetime | None, extension_pending: bool,
                 now: datetime) -> Light:
    """The light from the stored yellow moment: what the ledger's SQL filter computes."""
    if Status(status) not in CLOCK_RUNNING_STATUSES:
        return Light.GREEN
    if now >= due:
        return Light.YELLOW if extension_pending else Light.RED
    return Light.YELLOW if yellow is not None and now >= yellow else Light.GREEN


def stagnant_at(*, last_activity: datetime, calendar: WorkCalendar,
                policy: WarningPolicy = DEFAULT_POLICY) -> datetime:
    """When a task left alone since ``last_activity`` turns stagnant: the start of the N-th working
    day after that day (N = ``stagnant_after_working_days``). Same rule as ``alerts.is_stagnant``."""
    day, found = last_activity.astimezone(TZ).date(), 0
    while found < policy.stagnant_after_working_days:
        day += timedelta(days=1)
        found += calendar.is_workday(day)
    return datetime.combine(day, time(0), TZ)


def mark_activity(task, *, now: datetime, calendar: WorkCalendar) -> None:
    """Any report or move restarts the stagnation clock."""
    task.last_activity_at = now
    task.stagnant_at = stagnant_at(last_activity=now, calendar=calendar)
    task.stagnant_flagged = False


class DispatchRefused(Exception):
    """A re-dispatch the task or the org tree does not allow; the text says why."""


def check_dispatch(*, status: str, parent_due: datetime, units_below: set[str], sub_units: list[str],
                   dues: list[datetime], now: datetime) -> None:
    """A unit hands parts of its task to its own sub-units, due no later than its own deadline."""
    if Status(status) not in (Status.SIGNED, Status.IN_PROGRESS):
        raise DispatchRefused(f"a task that is {status} cannot be re-dispatched: sign for it first")
    if len(set(sub_units)) != len(sub_units):
        raise DispatchRefused("each sub-unit may appear once")
    if strangers := [u for u in sub_units if u not in units_below]:
        raise DispatchRefused(f"not sub-units of the task's unit: {', '.join(strangers)}")
    if late := [d for d in dues if d > parent_due]:
        raise DispatchRefused(f"a sub-task cannot be due after the task ({parent_due.isoformat()}): "
                              f"{late[0].isoformat()}")
    if [d for d in dues if d <= now]:
        raise DispatchRefused("a sub-task's deadline must be after now")


def sub_progress(statuses: list[str]) -> dict[str, int]:
    return {"closed": sum(Status(s) in CLOSED_STATUSES for s in statuses), "total": len(statuses)}


def new_task_id() -> str:
    return uuid.uuid4().hex
