"""Filling a service's own tables with generated rows, for the benchmarks."""

from collections.abc import Iterable

from sqlalchemy import Table, insert


async def insert_in_batches(engine, table: Table, rows: Iterable[dict], size: int) -> None:
    """Insert ``rows`` into ``table``, ``size`` rows to a transaction (one multi-row statement)."""
    batch: list[dict] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            async with engine.begin() as conn:
                await conn.execute(insert(table), batch)
            batch = []
    if batch:
        async with engine.begin() as conn:
            await conn.execute(insert(table), batch)
