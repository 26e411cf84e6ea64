"""intake's queries."""

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.models import Item, Task


def add_item(session: AsyncSession, item: Item, tasks: list[Task]) -> None:
    session.add(item)
    session.add_all(tasks)


async def get_item(session: AsyncSession, item_id: str) -> tuple[Item, list[Task]] | None:
    item = await session.get(Item, item_id)
    if item is None:
        return None
    tasks = await session.exec(select(Task).where(Task.item_id == item_id).order_by(col(Task.position)))
    return item, list(tasks.all())
