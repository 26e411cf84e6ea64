"""notify's queries."""

from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.models import (
    CalendarYearCopy, Delivery, DeliveryAttempt, DigestSent, ItemLeader, Notice, OaWebhook, OrgUnitCopy, PersonCopy, Preference,
    TaskCopy, Template, UnitRobot,
)
from shared.db import insert_ignoring_duplicates
from shared.workdays import WorkCalendar, YearCalendar, builtin_calendar


def add_notice(session: AsyncSession, notice: Notice) -> None:
    session.add(notice)


async def inbox(session: AsyncSession, tenant: str, recipient: str, limit: int,
                unread_only: bool = False) -> list[Notice]:
    query = select(Notice).where(Notice.tenant == tenant, Notice.recipient == recipient)
    if unread_only:
        query = query.where(col(Notice.read_at).is_(None))
    result = await session.exec(query.order_by(col(Notice.id).desc()).limit(limit))
    return list(result.all())


async def mark_read(session: AsyncSession, tenant: str, recipient: str, ids: list[int] | None,
                    at: datetime) -> int:
    """Mark the recipient's notices (``ids``, or all) read; returns how many were unread."""
    stmt = (update(Notice).where(col(Notice.tenant) == tenant, col(Notice.recipient) == recipient,
                                 col(Notice.read_at).is_(None)).values(read_at=at))
    if ids is not None:
        stmt = stmt.where(col(Notice.id).in_(ids))
    return (await session.exec(stmt)).rowcount


# ---- people, preferences, robots, the OA webhook, templates ---------------------------------

async def people_of_units(session: AsyncSession, tenant: str, units: list[str],
                          roles: tuple[str, ...]) -> list[PersonCopy]:
    rows = await session.exec(select(PersonCopy).where(
        PersonCopy.tenant == tenant, col(PersonCopy.unit_id).in_(units), PersonCopy.active))
    return [p for p in rows.all() if set(p.roles) & set(roles)]


async def people_named(session: AsyncSession, tenant: str, names: list[str]) -> list[PersonCopy]:
    """Active people whose id or name is one of ``names`` (items name their leader and supervisor)."""
    names = [n for n in names if n]
    if not names:
        return []
    rows = await session.exec(select(PersonCopy).where(
        PersonCopy.tenant == tenant, PersonCopy.active,
        or_(col(PersonCopy.person_id).in_(names), col(PersonCopy.name).in_(names))))
    return list(rows.all())


async def preferences(session: AsyncSession, tenant: str, people: list[str]) -> dict[str, Preference]:
    if not people:
        return {}
    rows = await session.exec(select(Preference).where(
        Preference.tenant == tenant, col(Preference.person_id).in_(people)))
    return {p.person_id: p for p in rows.all()}


async def robots(session: AsyncSession, tenant: str, units: list[str]) -> list[UnitRobot]:
    rows = await session.exec(select(UnitRobot).where(
        UnitRobot.tenant == tenant, col(UnitRobot.unit_id).in_(units)).order_by(UnitRobot.unit_id,
                                                                                UnitRobot.channel))
    return list(rows.all())


async def oa_webhook(session: AsyncSession, tenant: str) -> OaWebhook | None:
    return await session.get(OaWebhook, tenant)


async def templates(session: AsyncSession, tenant: str, kind: str | None = None) -> dict[tuple, Template]:
    query = select(Template).where(Template.tenant == tenant)
    if kind:
        query = query.where(Template.kind == kind)
    return {(t.kind, t.language): t for t in (await session.exec(query)).all()}


# ---- tasks and the calendar --------------------------------------------------------------------

async def item_leader(session: AsyncSession, item_id: str) -> ItemLeader | None:
    return await session.get(ItemLeader, item_id)


async def task(session: AsyncSession, task_id: str) -> TaskCopy | None:
    return await session.get(TaskCopy, task_id)


async def digest_tasks(session: AsyncSession, tenant: str, unit: str, until: datetime) -> list[TaskCopy]:
    """The unit's open tasks due by ``until`` (late ones included), by deadline."""
    rows = await session.exec(select(TaskCopy).where(
        TaskCopy.tenant == tenant, TaskCopy.lead_unit == unit, TaskCopy.open,
        col(TaskCopy.due).is_not(None), col(TaskCopy.due) <= until).order_by(col(TaskCopy.due)))
    return list(rows.all())


async def unit_heads(session: AsyncSession) -> list[PersonCopy]:
    rows = await session.exec(select(PersonCopy).where(PersonCopy.active, col(PersonCopy.unit_id).is_not(None)))
    return [p for p in rows.all() if "head" in p.roles]


async def calendar(session: AsyncSession) -> WorkCalendar:
    """The built-in years, with the years tracking's administrator loaded in their place."""
    years = dict(builtin_calendar().years)
    for row in (await session.exec(select(CalendarYearCopy))).all():
        years[row.year] = YearCalendar.parse(row.year, {"holidays": row.holidays, "workdays": row.workdays})
    return WorkCalendar(years)


# ---- deliveries ----------------------------------------------------------------------------------

async def add_deliveries(session: AsyncSession, deliveries: list[Delivery]) -> None:
    """Insert, ignoring any already there (the same cause, channel and recipient: one delivery)."""
    if deliveries:
        await session.exec(insert_ignoring_duplicates(session, Delivery.__table__),
                           params=[d.model_dump() for d in deliveries])


async def claim(session: AsyncSession, channel: str, now: datetime, lease: timedelta,
                limit: int, not_in: list[str] = ()) -> list[Delivery]:
    """Due pending deliveries of ``channel`` (but ``not_in``, being sent here), leased so no other
    replica takes them meanwhile."""
    rows = await session.exec(
        select(Delivery).where(Delivery.channel == channel, Delivery.status == "pending",
                               col(Delivery.next_attempt_at) <= now, col(Delivery.id).not_in(list(not_in)))
        .order_by(col(Delivery.next_attempt_at)).limit(limit).with_for_update(skip_locked=True))
    claimed = list(rows.all())
    for d in claimed:
        d.next_attempt_at = now + lease
    return claimed


def record_attempt(session: AsyncSession, delivery: Delivery, *, at: datetime, error: str,
                   duration_ms: int) -> None:
    session.add(DeliveryAttempt(delivery_id=delivery.id, at=at, ok=not error, error=error[:1000],
                                duration_ms=duration_ms))


async def deliveries(session: AsyncSession, tenant: str, *, status: str | None, channel: str | None,
                     recipient: str | None, cause: str | None, limit: int) -> list[Delivery]:
    query = select(Delivery).where(Delivery.tenant == tenant)
    for column, value in ((Delivery.status, status), (Delivery.channel, channel),
                          (Delivery.recipient, recipient), (Delivery.cause_event_id, cause)):
        if value is not None:
            query = query.where(column == value)
    rows = await session.exec(query.order_by(col(Delivery.created_at).desc(), col(Delivery.id)).limit(limit))
    return list(rows.all())


async def attempts(session: AsyncSession, delivery_id: str) -> list[DeliveryAttempt]:
    rows = await session.exec(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id)
                              .order_by(col(DeliveryAttempt.id)))
    return list(rows.all())


async def unit_names(session: AsyncSession, tenant: str, units: list[str]) -> dict[str, str]:
    rows = await session.exec(select(OrgUnitCopy).where(OrgUnitCopy.tenant == tenant,
                                                        col(OrgUnitCopy.id).in_(units)))
    return {u.id: u.name for u in rows.all()}


async def all_robots(session: AsyncSession, tenant: str, unit: str | None) -> list[UnitRobot]:
    query = select(UnitRobot).where(UnitRobot.tenant == tenant)
    if unit:
        query = query.where(UnitRobot.unit_id == unit)
    return list((await session.exec(query.order_by(UnitRobot.unit_id, UnitRobot.channel))).all())


async def claim_digest(session: AsyncSession, tenant: str, person_id: str, day) -> bool:
    """Whether this round makes the person's digest of ``day`` (False: it was made already)."""
    table = DigestSent.__table__
    stmt = (insert_ignoring_duplicates(session, table).values(tenant=tenant, person_id=person_id, day=day)
            .returning(table.c.person_id))
    return (await session.exec(stmt)).first() is not None
