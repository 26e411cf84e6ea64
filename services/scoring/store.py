"""scoring's reads and writes (no rules here: those are in domain.py)."""

import json
from collections.abc import Sequence
from datetime import UTC, datetime, time
from typing import NamedTuple

from sqlalchemy import ColumnElement, CompoundSelect, Select, case, func, literal
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.scoring import domain, rules
from services.scoring.models import (
    ActionSent, Appeal, Bulletin, LedgerEntry, OrgUnitCopy, PeriodClose, RuleSetSwitch, RuleSetVersion,
    TaskOutcome,
)
from services.scoring.periods import OFFICE_ZONE, Period, local_day
from shared.db import insert_ignoring_duplicates
from shared.org_copy import below_ids

Units = Sequence[str] | Select | CompoundSelect | None  # some units (ids, or a query for them), or all
_parsed: dict[tuple[str, str], rules.RuleSet] = {}  # published versions never change
_RULE_SETS = "duban.scoring.rule_sets"


# ---- rule sets ---------------------------------------------------------------------------------

async def rule_set_at(session: AsyncSession, tenant: str, moment: datetime) -> rules.RuleSet:
    """The rule set scoring the tenant's facts of ``moment`` (the default without a switch).
    Remembered per tenant and day for the session (a batch of events), until a rule set changes."""
    remembered = session.info.setdefault(_RULE_SETS, {})
    key = (tenant, local_day(moment))
    if key not in remembered:
        remembered[key] = await _rule_set_on(session, tenant, moment)
    return remembered[key]


def forget_rule_sets(session: AsyncSession) -> None:
    session.info.pop(_RULE_SETS, None)


async def _rule_set_on(session: AsyncSession, tenant: str, moment: datetime) -> rules.RuleSet:
    version = (await session.exec(
        select(RuleSetSwitch.version)
        .where(RuleSetSwitch.tenant == tenant, col(RuleSetSwitch.starts) <= local_day(moment))
        .order_by(col(RuleSetSwitch.starts).desc()).limit(1))).first()
    if version is None or version == rules.DEFAULT.version:
        return rules.DEFAULT
    if (tenant, version) not in _parsed:
        row = await session.get(RuleSetVersion, (tenant, version))
        _parsed[(tenant, version)] = rules.RuleSet.model_validate(json.loads(row.body))
    return _parsed[(tenant, version)]


async def get_version(session: AsyncSession, tenant: str, version: str) -> RuleSetVersion | None:
    return await session.get(RuleSetVersion, (tenant, version))


async def list_versions(session: AsyncSession, tenant: str) -> list[RuleSetVersion]:
    query = select(RuleSetVersion).where(RuleSetVersion.tenant == tenant)
    return list((await session.exec(query.order_by(col(RuleSetVersion.published_at)))).all())



# ---- the ledger --------------------------------------------------------------------------------

async def add_entries(session: AsyncSession, rows: list[dict]) -> None:
    """Add ledger lines; a line whose key is already there (the same fact again) is skipped."""
    if rows:
        await session.exec(insert_ignoring_duplicates(session, LedgerEntry.__table__), params=rows)


def bounds(period: Period) -> tuple[datetime, datetime]:
    """The period as UTC instants [start, end)."""
    def instant(day):
        return datetime.combine(day, time(), OFFICE_ZONE).astimezone(UTC)
    return instant(period.start), instant(period.end)


async def entries(session: AsyncSession, tenant: str, unit: str, period: Period) -> list[LedgerEntry]:
    start, end = bounds(period)
    query = (select(LedgerEntry)
             .where(LedgerEntry.tenant == tenant, LedgerEntry.unit == unit,
                    col(LedgerEntry.at) >= start, col(LedgerEntry.at) < end)
             .order_by(col(LedgerEntry.at), col(LedgerEntry.id)))
    return list((await session.exec(query)).all())


async def entry_by_id(session: AsyncSession, entry_id: int) -> LedgerEntry | None:
    return await session.get(LedgerEntry, entry_id)


async def entry_by_key(session: AsyncSession, key: str) -> LedgerEntry | None:
    return (await session.exec(select(LedgerEntry).where(LedgerEntry.key == key))).first()


class Lines(NamedTuple):
    count: int
    centipoints: int


async def lines_by_rule(session: AsyncSession, tenant: str, period: Period,
                        units: Units = None) -> dict[str, dict[str, Lines]]:
    """The period's ledger lines (of ``units``, if given) counted and summed per unit and rule.
    Grouping by the rule too keeps SQLite on the period's index for every unit's lines (grouping
    by unit alone, it would walk the tenant's lines in unit order)."""
    start, end = bounds(period)
    query = (select(LedgerEntry.unit, LedgerEntry.rule, func.count(), func.sum(LedgerEntry.centipoints))
             .where(LedgerEntry.tenant == tenant, col(LedgerEntry.at) >= start, col(LedgerEntry.at) < end)
             .group_by(LedgerEntry.unit, LedgerEntry.rule))
    if units is not None:
        query = query.where(col(LedgerEntry.unit).in_(units))
    found: dict[str, dict[str, Lines]] = {}
    for unit, rule, count, centipoints in (await session.exec(query)).all():
        found.setdefault(unit, {})[rule] = Lines(int(count), int(centipoints))
    return found


async def reversed_keys(session: AsyncSession, tenant: str) -> set[str]:
    query = select(Appeal.entry_key).where(Appeal.tenant == tenant, Appeal.status == "reversed")
    return set((await session.exec(query)).all())


async def threshold_facts(session: AsyncSession, tenant: str, unit: str,
                          year: Period) -> tuple[list[domain.Fact], list[domain.Fact]]:
    """A unit's criticisms and overdue tasks in ``year`` that were not reversed on appeal, as facts."""
    start, end = bounds(year)
    query = (select(LedgerEntry)
             .where(LedgerEntry.tenant == tenant, LedgerEntry.unit == unit,
                    col(LedgerEntry.at) >= start, col(LedgerEntry.at) < end,
                    col(LedgerEntry.rule).in_(["criticism.committee", "criticism.office", "overdue.lead"])))
    rows = (await session.exec(query)).all()
    gone = await reversed_keys(session, tenant)
    criticisms = [domain.Fact(e.at, e.cause_event_id, tuple(e.persons))
                  for e in rows if e.rule.startswith("criticism.") and e.key not in gone]
    late = [domain.Fact(e.at, e.cause_event_id) for e in rows if e.rule == "overdue.lead" and e.key not in gone]
    return criticisms, late


async def mark_action_sent(session: AsyncSession, tenant: str, action: domain.Triggered) -> bool:
    """Record that ``action`` is announced; False if it was already."""
    stmt = insert_ignoring_duplicates(session, ActionSent.__table__).returning(ActionSent.__table__.c.kind)
    row = {"tenant": tenant, "unit": action.unit, "year": action.year, "kind": action.kind}
    return (await session.exec(stmt, params=[row])).first() is not None


# ---- task outcomes -----------------------------------------------------------------------------

async def outcome(session: AsyncSession, tenant: str, task_id: str, lead_unit: str,
                  item_id: str) -> TaskOutcome:
    """The task's outcome row, made on the first event about it (from whichever stream)."""
    found = await session.get(TaskOutcome, task_id)
    if found is None:
        found = TaskOutcome(task_id=task_id, tenant=tenant, lead_unit=lead_unit, item_id=item_id)
        session.add(found)
    return found


def _counting(condition) -> ColumnElement[int]:
    return func.sum(case((condition, 1), else_=0))


async def tallies(session: AsyncSession, tenant: str, period: Period,
                  units: Units = None) -> dict[str, dict[str, domain.Tally]]:
    """The tasks due in the period (led by one of ``units``, if given), counted per lead unit and
    urgency as ``domain.tally`` counts them."""
    start, end = bounds(period)
    t = TaskOutcome
    submitted = col(t.submissions) > 0
    query = (select(t.lead_unit, t.urgency, func.count(), func.count(col(t.accepted_at)),
                    _counting(col(t.accepted_at) <= col(t.due)), _counting(submitted),
                    _counting(submitted & (col(t.returns) > 0)), _counting(submitted & (col(t.reverifications) > 0)))
             .where(t.tenant == tenant, col(t.due) >= start, col(t.due) < end)
             .group_by(t.lead_unit, t.urgency))
    if units is not None:
        query = query.where(col(t.lead_unit).in_(units))
    found: dict[str, dict[str, domain.Tally]] = {}
    for unit, urgency, *counts in (await session.exec(query)).all():
        found.setdefault(unit, {})[urgency] = domain.Tally(*(int(n) for n in counts))
    return found


# ---- units and periods -------------------------------------------------------------------------

def active_subtree(tenant: str, under: str) -> CompoundSelect:
    """A query for ``units_under(under)``, to restrict other queries by (one index range scan)."""
    return below_ids(OrgUnitCopy, tenant, under).where(col(OrgUnitCopy.active)).union(select(literal(under)))


async def units_under(session: AsyncSession, tenant: str, under: str | None) -> list[str]:
    """The active units of the tenant's tree (``under`` and the units below it, if given; ``under``
    itself even if the copy does not know it, like a unit that only ever led tasks)."""
    if under is not None:
        return sorted(set((await session.exec(active_subtree(tenant, under))).scalars().all()))
    query = select(OrgUnitCopy.id).where(OrgUnitCopy.tenant == tenant, col(OrgUnitCopy.active))
    return list((await session.exec(query)).all())


async def unit_names(session: AsyncSession, tenant: str, units: list[str]) -> dict[str, str]:
    if not units:
        return {}
    query = select(OrgUnitCopy.id, OrgUnitCopy.name).where(OrgUnitCopy.tenant == tenant,
                                                          col(OrgUnitCopy.id).in_(units))
    return dict((await session.exec(query)).all())


async def closed(session: AsyncSession, tenant: str, period: str) -> PeriodClose | None:
    return await session.get(PeriodClose, (tenant, period))



async def appeal_of(session: AsyncSession, entry_key: str) -> Appeal | None:
    """The appeal against an entry (pending or decided), if any."""
    query = select(Appeal).where(Appeal.entry_key == entry_key).order_by(col(Appeal.filed_at))
    return (await session.exec(query.limit(1))).first()


# ---- the lists of bulletins and appeals -------------------------------------------------------------


async def subtree(session: AsyncSession, tenant: str, under: str) -> set[str]:
    """``under`` and every unit below it (active or not: their past stays in their parents' view)."""
    return {under, *(await session.exec(below_ids(OrgUnitCopy, tenant, under))).all()}


async def bulletins(session: AsyncSession, tenant: str, *, period: Period | None, kind: str | None,
                    units: set[str] | None, limit: int) -> list[Bulletin]:
    """The tenant's bulletins newest first: issued in ``period``, of ``kind``, naming one of
    ``units`` (None: any). Units are a JSON list, so that filter is applied here, not in SQL."""
    query = select(Bulletin).where(Bulletin.tenant == tenant)
    if period is not None:
        start, end = bounds(period)
        query = query.where(col(Bulletin.issued_at) >= start, col(Bulletin.issued_at) < end)
    if kind:
        query = query.where(Bulletin.kind == kind)
    found = (await session.exec(query.order_by(col(Bulletin.issued_at).desc(), col(Bulletin.id)))).all()
    return [b for b in found if units is None or units.intersection(b.units)][:limit]


async def appeals(session: AsyncSession, tenant: str, *, period: Period | None, status: str | None,
                  units: set[str] | None, limit: int) -> list[Appeal]:
    """The tenant's appeals newest first: filed in ``period``, in ``status``, by one of ``units``."""
    query = select(Appeal).where(Appeal.tenant == tenant)
    if period is not None:
        start, end = bounds(period)
        query = query.where(col(Appeal.filed_at) >= start, col(Appeal.filed_at) < end)
    if status:
        query = query.where(Appeal.status == status)
    if units is not None:
        query = query.where(col(Appeal.unit).in_(sorted(units)))
    query = query.order_by(col(Appeal.filed_at).desc(), col(Appeal.id)).limit(limit)
    return list((await session.exec(query)).all())
