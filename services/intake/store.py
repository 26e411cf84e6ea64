"""intake's queries."""

from sqlalchemy import func, literal, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from datetime import datetime

from services.intake import domain
from services.intake.domain import PATH_SEP
from services.intake.models import (
    IdempotencyKey, Item, ItemCounter, ItemCreate, ItemTrace, OrgUnit, Person, Task,
)
from shared.db import lock_until_commit, upsert_adding
from shared.telemetry import current_trace_id


async def open_item(session: AsyncSession, body: ItemCreate, *, tenant: str,
                    now: datetime) -> tuple[Item, list[Task]]:
    """Number an item (立项) and add it with its tasks."""
    year = domain.numbering_year(now)
    number = domain.item_number(year, await next_sequence(session, tenant, year))
    item, tasks = domain.plan_item(body, tenant=tenant, number=number, now=now)
    session.add(item)
    session.add_all(tasks)
    if trace_id := current_trace_id():
        session.add(ItemTrace(item_id=item.id, trace_id=trace_id))
    return item, tasks


async def traces_of(session: AsyncSession, item_ids: list[str]) -> dict[str, str]:
    """The trace each item was registered in (items registered untraced are left out)."""
    if not item_ids:
        return {}
    rows = await session.exec(select(ItemTrace).where(col(ItemTrace.item_id).in_(item_ids)))
    return {row.item_id: row.trace_id for row in rows}


async def find_item(
    session: AsyncSession, item_id: str, *, for_update: bool = False
) -> tuple[Item, list[Task]] | None:
    """An item of any tenant, with its tasks: for the access check and for checking an event's tenant."""
    item = await session.get(Item, item_id, with_for_update=for_update or None)
    if item is None:
        return None
    tasks = await session.exec(select(Task).where(Task.item_id == item_id).order_by(col(Task.position)))
    return item, list(tasks.all())


async def get_item(
    session: AsyncSession, tenant: str, item_id: str, *, for_update: bool = False
) -> tuple[Item, list[Task]] | None:
    """A tenant's item with its tasks; another tenant's is not found."""
    found = await find_item(session, item_id, for_update=for_update)
    return found if found is not None and found[0].tenant == tenant else None


async def items_supervised_by(session: AsyncSession, tenant: str, leaders: list[str], *,
                              open_only: bool, limit: int) -> list[tuple[Item, list[Task]]]:
    """A tenant's items whose supervising leader (督办领导) is one of ``leaders``, newest first,
    each with its tasks."""
    query = select(Item).where(Item.tenant == tenant, col(Item.supervising_leader).in_(leaders))
    if open_only:
        query = query.where(col(Item.closed_at).is_(None))
    items = list((await session.exec(query.order_by(col(Item.registered_at).desc(),
                                                    col(Item.id)).limit(limit))).all())
    tasks = await session.exec(select(Task).where(col(Task.item_id).in_([i.id for i in items]))
                               .order_by(col(Task.position))) if items else []
    by_item: dict[str, list[Task]] = {i.id: [] for i in items}
    for task in tasks:
        by_item[task.item_id].append(task)
    return [(i, by_item[i.id]) for i in items]


async def next_sequence(session: AsyncSession, tenant: str, year: int) -> int:
    """The next number for (tenant, year), atomically, even with several replicas."""
    stmt = upsert_adding(session, ItemCounter.__table__, ("tenant", "year"), ("last",), returning=("last",))
    return (await session.exec(stmt, params={"tenant": tenant, "year": year, "last": 1})).scalar_one()


async def find_key(session: AsyncSession, tenant: str, key: str) -> IdempotencyKey | None:
    return await session.get(IdempotencyKey, (tenant, key))


def add_key(session: AsyncSession, key: IdempotencyKey) -> None:
    session.add(key)


async def lock_key(session: AsyncSession, tenant: str, key: str) -> None:
    """Serialise the transactions using one idempotency key (e.g. two replicas handling the same OA
    instruction sent twice), so the second finds the first's key instead of failing on it."""
    await lock_until_commit(session, f"idempotency_key:{tenant}:{key}")


# ---- org units --------------------------------------------------------------------------------


async def lock_tree(session: AsyncSession, tenant: str) -> None:
    """Serialise changes to a tenant's tree until the transaction ends, so two concurrent moves
    cannot make a cycle. SQLite's BEGIN IMMEDIATE already serialises every writer."""
    await lock_until_commit(session, f"org_unit:{tenant}")


async def get_unit(session: AsyncSession, tenant: str, unit_id: str) -> OrgUnit | None:
    return await session.get(OrgUnit, (tenant, unit_id))


async def units_by_id(session: AsyncSession, tenant: str, unit_ids: list[str]) -> list[OrgUnit]:
    if not unit_ids:
        return []
    query = select(OrgUnit).where(OrgUnit.tenant == tenant, col(OrgUnit.id).in_(set(unit_ids)))
    return list((await session.exec(query)).all())


def add_unit(session: AsyncSession, unit: OrgUnit) -> None:
    session.add(unit)


def _in_subtree(path: str):
    """The paths at or below ``path``: a range scan of ix_org_unit_path (see OrgUnit.path)."""
    end = path.removesuffix(PATH_SEP) + chr(ord(PATH_SEP) + 1)
    return (col(OrgUnit.path) >= path) & (col(OrgUnit.path) < end)


async def list_units(session: AsyncSession, tenant: str, *, under: OrgUnit | None = None,
                     active: bool | None = None) -> list[OrgUnit]:
    """A tenant's units in tree order, optionally only ``under``'s subtree (itself included)."""
    query = select(OrgUnit).where(OrgUnit.tenant == tenant)
    if under is not None:
        query = query.where(_in_subtree(under.path))
    if active is not None:
        query = query.where(OrgUnit.active == active)
    return list((await session.exec(query.order_by(col(OrgUnit.path)))).all())


async def active_children(session: AsyncSession, unit: OrgUnit) -> list[str]:
    query = (select(OrgUnit.id)
             .where(OrgUnit.tenant == unit.tenant, OrgUnit.parent_id == unit.id, col(OrgUnit.active))
             .order_by(col(OrgUnit.id)))
    return list((await session.exec(query)).all())


async def move_subtree(session: AsyncSession, unit: OrgUnit, parent_id: str | None,
                       new_path: str) -> list[OrgUnit]:
    """Hang ``unit`` under ``parent_id`` and rewrite its subtree's paths in one statement;
    returns the moved units, ``unit`` first."""
    old_path = unit.path
    unit.parent_id = parent_id
    await session.flush()
    await session.exec(
        update(OrgUnit)
        .where(col(OrgUnit.tenant) == unit.tenant, _in_subtree(old_path))
        .values(path=literal(new_path) + func.substr(col(OrgUnit.path), len(old_path) + 1))
        .execution_options(synchronize_session=False)
    )
    moved = select(OrgUnit).where(OrgUnit.tenant == unit.tenant, _in_subtree(new_path))
    return list((await session.exec(moved.order_by(col(OrgUnit.path))
                                    .execution_options(populate_existing=True))).all())


# ---- people -----------------------------------------------------------------------------------


async def lock_person(session: AsyncSession, tenant: str, person_id: str) -> None:
    """Serialise changes to one person (two creates of the same id: one wins, the other sees it)."""
    await lock_until_commit(session, f"person:{tenant}:{person_id}")


async def get_person(session: AsyncSession, tenant: str, person_id: str) -> Person | None:
    return await session.get(Person, (tenant, person_id))


async def list_people(session: AsyncSession, tenant: str, *, under: OrgUnit | None = None,
                      sub_units: bool = True, active: bool | None = None) -> list[Person]:
    """A tenant's people by id; with ``under``, those of that unit (and, with ``sub_units``, of the
    units below it: one range scan of the unit paths)."""
    query = select(Person).where(Person.tenant == tenant)
    if under is not None and not sub_units:
        query = query.where(Person.unit_id == under.id)
    elif under is not None:
        query = query.join(OrgUnit, (col(OrgUnit.tenant) == col(Person.tenant))
                           & (col(OrgUnit.id) == col(Person.unit_id))).where(_in_subtree(under.path))
    if active is not None:
        query = query.where(Person.active == active)
    return list((await session.exec(query.order_by(col(Person.id)))).all())
