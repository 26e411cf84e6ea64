"""tracking's queries."""

from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.tracking.lifecycle import CLOCK_RUNNING_STATUSES, HistoryEntry
from services.tracking.models import TaskHistory, TrackedTask
from shared.db import insert_ignoring_duplicates


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
