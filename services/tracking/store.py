"""tracking's queries."""

from datetime import datetime
from functools import lru_cache

from sqlalchemy import text, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.tracking import domain
from services.tracking.lifecycle import CLOCK_RUNNING_STATUSES, OPEN_STATUSES, HistoryEntry
from services.tracking.models import CalendarYearRow, TaskHistory, TrackedTask
from services.tracking.workdays import WorkCalendar, YearCalendar, builtin_calendar
from shared.db import insert_ignoring_duplicates

_CALENDAR_LOCK = 0x4475_6261_6E43_616C  # a PostgreSQL advisory lock key ("DubanCal")


async def add_task(session: AsyncSession, task: TrackedTask) -> None:
    values = task.model_dump()
    await session.exec(insert_ignoring_duplicates(session, TrackedTask.__table__).values(**values))


async def get_task(session: AsyncSession, task_id: str, *, for_update: bool = False) -> TrackedTask | None:
    return await session.get(TrackedTask, task_id, with_for_update=for_update or None)


async def history(session: AsyncSession, task_id: str) -> list[TaskHistory]:
    result = await session.exec(
        select(TaskHistory).where(TaskHistory.task_id == task_id).order_by(col(TaskHistory.id))
    )
    return list(result.all())


def add_history(session: AsyncSession, task_id: str, entry: HistoryEntry) -> None:
    session.add(TaskHistory(task_id=task_id, **entry.__dict__))


async def claim_overdue(session: AsyncSession, now: datetime, limit: int) -> list[TrackedTask]:
    """Flag open tasks whose deadline has passed, once: returns the tasks this call flagged.

    The UPDATE re-checks ``overdue_at IS NULL`` under the row lock, so with several replicas
    each task is claimed by exactly one of them (SKIP LOCKED only saves them waiting).
    """
    due_now = (
        select(TrackedTask.id)
        .where(col(TrackedTask.overdue_at).is_(None))
        .where(col(TrackedTask.due) <= now)
        .where(col(TrackedTask.extension_due).is_(None))  # the clock pauses while one is pending
        .where(col(TrackedTask.status).in_(sorted(CLOCK_RUNNING_STATUSES)))
        .order_by(col(TrackedTask.due))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await session.exec(
        update(TrackedTask)
        .where(col(TrackedTask.id).in_(due_now.scalar_subquery()))
        .where(col(TrackedTask.overdue_at).is_(None))
        .values(overdue_at=now)
        .returning(*TrackedTask.__table__.c)
    )
    return [TrackedTask.model_validate(dict(row._mapping)) for row in result]



async def due_reminders(session: AsyncSession, now: datetime, limit: int) -> list[TrackedTask]:
    """Tasks whose next automatic reminder is due (locked on PostgreSQL, skipped by others)."""
    result = await session.exec(
        select(TrackedTask)
        .where(col(TrackedTask.next_reminder_at) <= now)
        .order_by(col(TrackedTask.next_reminder_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(result.all())


async def advance_reminder(session: AsyncSession, task_id: str, fired: datetime,
                           following: datetime | None) -> bool:
    """Move a task's reminder from ``fired`` to ``following``; False if another replica did."""
    result = await session.exec(
        update(TrackedTask)
        .where(col(TrackedTask.id) == task_id, col(TrackedTask.next_reminder_at) == fired)
        .values(next_reminder_at=following)
    )
    return result.rowcount == 1


# ---- the calendar ---------------------------------------------------------------------------


async def lock_calendar(session: AsyncSession, *, exclusive: bool) -> None:
    """Order a calendar save and the counting of new deadlines on PostgreSQL: a task registered
    while a year is saved is counted on the saved year or recounted by the save. (On SQLite,
    ``BEGIN IMMEDIATE`` already runs writing transactions one at a time.)"""
    if session.bind.dialect.name != "postgresql":
        return
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    await session.exec(text(f"SELECT {function}(:key)").bindparams(key=_CALENDAR_LOCK))


async def loaded_years(session: AsyncSession) -> list[CalendarYearRow]:
    result = await session.exec(select(CalendarYearRow).order_by(col(CalendarYearRow.year)))
    return list(result.all())


async def calendar(session: AsyncSession) -> WorkCalendar:
    """The effective calendar: the built-in years overridden by those loaded (read each time, so
    every replica sees a save at once; parsed once per version)."""
    rows = await loaded_years(session)
    return _effective(tuple((r.year, tuple(r.holidays), tuple(r.workdays)) for r in rows))


@lru_cache(maxsize=8)
def _effective(loaded: tuple[tuple[int, tuple[str, ...], tuple[str, ...]], ...]) -> WorkCalendar:
    years = [YearCalendar.parse(year, {"holidays": list(h), "workdays": list(w)})
             for year, h, w in loaded]
    return domain.effective_calendar(builtin_calendar(), years)


async def save_year(session: AsyncSession, cal: YearCalendar, *, at: datetime,
                    by: str) -> CalendarYearRow:
    row = await session.get(CalendarYearRow, cal.year) or CalendarYearRow(year=cal.year)
    row.holidays = sorted(d.isoformat() for d in cal.holidays)
    row.workdays = sorted(d.isoformat() for d in cal.workdays)
    row.updated_at, row.updated_by = at, by
    session.add(row)
    return row


async def open_working_day_tasks(session: AsyncSession) -> list[TrackedTask]:
    """Open tasks not yet overdue whose deadline was given in working days, locked."""
    result = await session.exec(
        select(TrackedTask)
        .where(col(TrackedTask.due_working_days).is_not(None))
        .where(col(TrackedTask.overdue_at).is_(None))
        .where(col(TrackedTask.status).in_(sorted(OPEN_STATUSES)))
        .order_by(col(TrackedTask.id))
        .with_for_update()
    )
    return list(result.all())
