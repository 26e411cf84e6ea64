"""A unit's score and a period's ranking, computed from the stored facts when asked."""

from decimal import Decimal

from fastapi import HTTPException
from sqlmodel.ext.asyncio.session import AsyncSession

from services.scoring import domain, periods, store
from services.scoring.models import (
    ActionPublic, EntryPublic, LedgerEntry, RankingPublic, RatesPublic, ScorePublic, StandingPublic,
)
from services.scoring.periods import Period
from services.scoring.rules import RuleSet

NONE = store.Lines(0, 0)


def rates_public(rates: domain.Rates) -> RatesPublic:
    return RatesPublic(**rates.__dict__)


def links(entry: LedgerEntry) -> dict[str, str]:
    found = {}
    if entry.item_id:
        found["item"] = f"/api/v1/items/{entry.item_id}"  # on intake
    if entry.task_id:
        found["task"] = f"/api/v1/tasks/{entry.task_id}"  # on tracking
    return found


async def unit_rates(session: AsyncSession, tenant: str, unit: str, period: Period) -> domain.Rates:
    return _rates(await store.tallies(session, tenant, period, [unit]),
                  await store.lines_by_rule(session, tenant, period, [unit]), unit)


async def unit_score(session: AsyncSession, tenant: str, unit: str, period: Period) -> ScorePublic:
    """The unit's score for the period, every entry explained, and what its year has triggered."""
    rules = await store.rule_set_at(session, tenant, store.bounds(period)[0])
    rows = await store.entries(session, tenant, unit, period)
    points = sum((e.points for e in rows), Decimal(0))
    year = periods.parse(str(period.year))
    criticisms, late = await store.threshold_facts(session, tenant, unit, year)
    triggered = domain.actions(rules, unit, period.year, criticisms, late)
    return ScorePublic(
        unit=unit, period=period.name, closed=await store.closed(session, tenant, period.name) is not None,
        base=rules.base_score, points=points, total=rules.base_score + points,
        award_eligible=domain.award_eligible(rules, len(criticisms)),
        actions=[ActionPublic(kind=a.kind, year=a.year, at=a.at, persons=list(a.persons), reason=a.reason,
                              cause_event_id=a.cause_event_id) for a in triggered],
        rates=rates_public(await unit_rates(session, tenant, unit, period)),
        entries=[EntryPublic(**e.model_dump(exclude={"centipoints", "key", "tenant"}), points=e.points,
                             links=links(e)) for e in rows],
    )


async def ranking(session: AsyncSession, tenant: str, period: Period, *, under: str | None,
                  normalise: bool, enforce_switch: bool = True) -> RankingPublic:
    """Every unit (under ``under``, if given) by score for the period, with its rates."""
    rules = await store.rule_set_at(session, tenant, store.bounds(period)[0])
    if enforce_switch and not rules.rankings.enabled:
        raise HTTPException(409, "rankings are switched off for this tenant's rule set "
                                 f"{rules.version}")
    restrict = None if under is None else store.active_subtree(tenant, under)
    booked = await store.lines_by_rule(session, tenant, period, restrict)
    tallied = await store.tallies(session, tenant, period, restrict)
    units = await store.units_under(session, tenant, under)
    if under is None:  # every unit of the tree, and every unit with points or tasks due
        units = sorted({*units, *booked, *tallied})
    standings = [_standing(rules, u, tallied, booked) for u in units]
    if normalise:
        standings = domain.normalised(standings, rules.base_score)
    names = await store.unit_names(session, tenant, units)
    return RankingPublic(period=period.name, under=under, normalised=normalise, units=[
        StandingPublic(rank=s.rank, unit=s.unit, name=names.get(s.unit), total=s.total, score=s.score,
                       workload=s.workload, rates=rates_public(_rates(tallied, booked, s.unit)))
        for s in domain.ranked(standings)])


def _standing(rules: RuleSet, unit: str, tallied: dict[str, dict[str, domain.Tally]],
              booked: dict[str, dict[str, store.Lines]]) -> domain.Standing:
    total = rules.base_score + Decimal(sum(n.centipoints for n in booked.get(unit, {}).values())) / 100
    due = {urgency: t.due for urgency, t in tallied.get(unit, {}).items()}
    return domain.Standing(unit, total, domain.weighed(due, rules.rankings.workload_weights), total)


def _rates(tallied: dict[str, dict[str, domain.Tally]], booked: dict[str, dict[str, store.Lines]],
           unit: str) -> domain.Rates:
    lines = booked.get(unit, {})
    return domain.rates_of(sum(tallied.get(unit, {}).values(), domain.Tally()),
                           lines.get("overdue.lead", NONE).count, lines.get("report_missed.lead", NONE).count)
