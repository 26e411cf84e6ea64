"""notify's queries."""

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.models import Notice


def add_notice(session: AsyncSession, notice: Notice) -> None:
    session.add(notice)


async def inbox(session: AsyncSession, tenant: str, recipient: str, limit: int) -> list[Notice]:
    result = await session.exec(
        select(Notice)
        .where(Notice.tenant == tenant, Notice.recipient == recipient)
        .order_by(col(Notice.id).desc())
        .limit(limit)
    )
    return list(result.all())
