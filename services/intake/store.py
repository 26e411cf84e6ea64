"""intake's queries."""

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.models import IdempotencyKey, Item, ItemCounter, Task
from shared.db import upsert_adding


def add_item(session: AsyncSession, item: Item, tasks: list[Task]) -> None:
    session.add(item)
    session.add_all(tasks)


async def get_item(session: AsyncSession, item_id: str) -> tuple[Item, list[Task]] | None:
    item = await session.get(Item, item_id)
    if item is None:
        return None
    tasks = await session.exec(select(Task).where(Task.item_id == item_id).order_by(col(Task.position)))
    return item, list(tasks.all())


async def next_sequence(session: AsyncSession, tenant: str, year: int) -> int:
    """The next number for (tenant, year), atomically, even with several replicas."""
    stmt = upsert_adding(session, ItemCounter.__table__, {"tenant": tenant, "year": year}, {"last": 1})
    return (await session.exec(stmt.returning(ItemCounter.__table__.c.last))).scalar_one()


async def find_key(session: AsyncSession, tenant: str, key: str) -> IdempotencyKey | None:
    return await session.get(IdempotencyKey, (tenant, key))


def add_key(session: AsyncSession, key: IdempotencyKey) -> None:
    session.add(key)
