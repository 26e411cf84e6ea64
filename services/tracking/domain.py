"""tracking's rules, as pure functions (the lifecycle, calendar and alerts live beside this)."""

from datetime import datetime

from services.tracking.alerts import Light, WarningPolicy, WorkingDays, is_stagnant, light
from services.tracking.lifecycle import CLOCK_RUNNING_STATUSES, Action, Status

DEFAULT_POLICY = WarningPolicy()


def is_overdue(*, due: datetime, status: str, now: datetime) -> bool:
    """A task is overdue once its deadline has passed while its clock is running."""
    return Status(status) in CLOCK_RUNNING_STATUSES and now >= due


def counters_after(action: Action, returns: int, reverifications: int) -> tuple[int, int]:
    """Returns and re-verifications are kept for the rates."""
    return (
        returns + (action is Action.RETURN),
        reverifications + (action is Action.REVERIFY),
    )


def task_light(*, task, now: datetime, calendar: WorkingDays,
               policy: WarningPolicy = DEFAULT_POLICY) -> Light:
    return light(now=now, assigned_at=task.assigned_at, due=task.due, status=task.status,
                 extension_pending=False, policy=policy, calendar=calendar)


def task_stagnant(*, task, now: datetime, calendar: WorkingDays,
                  policy: WarningPolicy = DEFAULT_POLICY) -> bool:
    return is_stagnant(now=now, last_activity_at=task.last_activity_at or task.assigned_at,
                       status=task.status, policy=policy, calendar=calendar)
