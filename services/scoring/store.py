"""scoring's queries."""

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.scoring.models import LedgerEntry, UnitCounts
from shared.db import upsert_adding


async def count(session: AsyncSession, tenant: str, unit: str, **amounts: int) -> None:
    await session.exec(
        upsert_adding(session, UnitCounts.__table__, {"tenant": tenant, "unit": unit}, amounts)
    )


def add_entry(session: AsyncSession, entry: LedgerEntry) -> None:
    session.add(entry)


async def unit_record(
    session: AsyncSession, tenant: str, unit: str
) -> tuple[UnitCounts | None, list[LedgerEntry]]:
    counts = await session.get(UnitCounts, (tenant, unit))
    entries = await session.exec(
        select(LedgerEntry)
        .where(LedgerEntry.tenant == tenant, LedgerEntry.unit == unit)
        .order_by(col(LedgerEntry.id))
    )
    return counts, list(entries.all())
