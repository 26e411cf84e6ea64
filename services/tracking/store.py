"""tracking's queries."""

from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.tracking.domain import OPEN_STATUSES
from services.tracking.models import TrackedTask
from shared.db import insert_ignoring_duplicates


async def add_task(session: AsyncSession, task: TrackedTask) -> None:
    values = task.model_dump()
    await session.exec(insert_ignoring_duplicates(session, TrackedTask.__table__).values(**values))


async def get_task(session: AsyncSession, task_id: str) -> TrackedTask | None:
    return await session.get(TrackedTask, task_id)


async def claim_overdue(session: AsyncSession, now: datetime, limit: int) -> list[TrackedTask]:
    """Flag open tasks whose deadline has passed, once: returns the tasks this call flagged.

    The UPDATE re-checks ``overdue_at IS NULL`` under the row lock, so with several replicas
    each task is claimed by exactly one of them (SKIP LOCKED only saves them waiting).
    """
    due_now = (
        select(TrackedTask.id)
        .where(col(TrackedTask.overdue_at).is_(None))
        .where(col(TrackedTask.due) <= now)
        .where(col(TrackedTask.status).in_(OPEN_STATUSES))
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


async def next_deadline(session: AsyncSession) -> datetime | None:
    result = await session.exec(
        select(TrackedTask.due)
        .where(col(TrackedTask.overdue_at).is_(None))
        .where(col(TrackedTask.status).in_(OPEN_STATUSES))
        .order_by(col(TrackedTask.due))
        .limit(1)
    )
    return result.first()
