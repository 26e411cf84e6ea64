"""scoring's HTTP routes: scores, rankings, bulletins and appeals.

The office's acts (a bulletin, an appeal and its decision) are events on scoring's stream: a route
stages the event and applies it with the same handler a replay uses, in one transaction.
"""

from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Query

from services.scoring import handlers, periods, reports, store
from services.scoring.access import require_in_scope, units_seen
from services.scoring.models import (
    Appeal, AppealCreate, AppealDecision, AppealPublic, Bulletin, BulletinCreate, BulletinPublic,
    RankingPublic, ScorePublic,
)
from shared.access import authorize, scoped_unit
from shared.auth import Principal
from shared.events import AppealDecided, AppealFiled, BulletinIssued, new_id
from shared.service import Runtime, runtime_of

router = APIRouter(tags=["scores"])
PeriodName = Query(None, description="2026, 2026-H2, 2026-Q4 or 2026-11 (default: this year)")


def period_or_422(name: str | None, runtime: Runtime) -> periods.Period:
    try:
        return periods.parse(name) if name else periods.year_of(runtime.clock.now())
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("/units/{unit}/score", response_model=ScorePublic)
async def unit_score(unit: str, period: str | None = PeriodName, caller: Principal = Depends(authorize),
                     runtime: Runtime = Depends(runtime_of)) -> ScorePublic:
    """A unit's total for the period, award eligibility, triggered actions, rates, and every entry
    with its rule, rule set version and the event (item, task) that caused it."""
    chosen = period_or_422(period, runtime)
    async with runtime.sessions() as session:
        return await reports.unit_score(session, caller.tenant, unit, chosen)


@router.get("/rankings", response_model=RankingPublic)
async def rankings(period: str | None = PeriodName,
                   under: str | None = Query(None, description="only this unit and the units below it"),
                   normalise: bool = Query(False, description="scale points to the average workload"),
                   caller: Principal = Depends(authorize),
                   runtime: Runtime = Depends(runtime_of)) -> RankingPublic:
    """Units in rank order with their totals and rates (409 if the tenant switched rankings off)."""
    chosen = period_or_422(period, runtime)
    async with runtime.sessions() as session:
        return await reports.ranking(session, caller.tenant, chosen, under=scoped_unit(caller, under),
                                     normalise=normalise)


@router.post("/bulletins", status_code=201, response_model=BulletinPublic)
async def issue_bulletin(body: BulletinCreate, caller: Principal = Depends(authorize),
                         runtime: Runtime = Depends(runtime_of)) -> BulletinPublic:
    """The office commends or criticises units (通报): ledger entries, and an event for notify."""
    data = BulletinIssued(bulletin_id=new_id(), issued_by=caller.subject, **body.model_dump())
    async with runtime.unit_of_work() as session:
        await require_in_scope(caller, session, body.units)  # an office limited to a subtree
        env = runtime.emit(session, data, tenant=caller.tenant, event_id=data.bulletin_id)
        await handlers.on_bulletin_issued(data, env, session)
        await session.flush()
        bulletin = await session.get(Bulletin, data.bulletin_id)
    return BulletinPublic.model_validate(bulletin, from_attributes=True)


@router.get("/bulletins", response_model=list[BulletinPublic])
async def list_bulletins(period: str | None = Query(None, description="issued in this period"),
                         unit: str | None = Query(None, description="naming this unit or one below it"),
                         kind: Literal["criticism", "commendation"] | None = None,
                         limit: int = Query(100, ge=1, le=500),
                         caller: Principal = Depends(authorize),
                         runtime: Runtime = Depends(runtime_of)) -> list[BulletinPublic]:
    """Bulletins newest first; a caller limited to a unit sees those naming its units only."""
    chosen = period_or_422(period, runtime) if period else None
    async with runtime.sessions() as session:
        found = await store.bulletins(session, caller.tenant, period=chosen, kind=kind, limit=limit,
                                      units=await units_seen(caller, session, unit))
    return [BulletinPublic.model_validate(b, from_attributes=True) for b in found]


@router.get("/appeals", response_model=list[AppealPublic])
async def list_appeals(period: str | None = Query(None, description="filed in this period"),
                       unit: str | None = Query(None, description="filed by this unit or one below it"),
                       status: Literal["pending", "upheld", "reversed"] | None = None,
                       limit: int = Query(100, ge=1, le=500),
                       caller: Principal = Depends(authorize),
                       runtime: Runtime = Depends(runtime_of)) -> list[AppealPublic]:
    """Appeals newest first (the office's queue: ``status=pending``); a caller limited to a unit
    sees its units' appeals only."""
    chosen = period_or_422(period, runtime) if period else None
    async with runtime.sessions() as session:
        found = await store.appeals(session, caller.tenant, period=chosen, status=status, limit=limit,
                                    units=await units_seen(caller, session, unit))
        entries = {a.id: await store.entry_by_key(session, a.entry_key) for a in found}
    return [appeal_public(a, entries[a.id].id if entries[a.id] else None) for a in found]


@router.post("/appeals", status_code=201, response_model=AppealPublic)
async def file_appeal(body: AppealCreate, caller: Principal = Depends(authorize),
                      runtime: Runtime = Depends(runtime_of)) -> AppealPublic:
    """A unit contests one of its ledger entries, with a reason. An entry is contested once: while
    its appeal is pending, and after the office decided it, another appeal is 409 (a second
    reversal would compensate the entry twice)."""
    async with runtime.unit_of_work() as session:
        entry = await store.entry_by_id(session, body.entry_id)
        if entry is None or entry.tenant != caller.tenant:
            raise HTTPException(404, f"no ledger entry {body.entry_id}")
        if earlier := await store.appeal_of(session, entry.key):
            state = "pending" if earlier.status == "pending" else f"decided ({earlier.status})"
            raise HTTPException(409, f"entry {body.entry_id} already has an appeal {state}: "
                                     f"{earlier.id}")
        if entry.rule == "appeal.reversal":
            raise HTTPException(409, f"entry {body.entry_id} is itself the outcome of an appeal")
        data = AppealFiled(appeal_id=new_id(), entry_key=entry.key, unit=entry.unit, reason=body.reason,
                           filed_by=caller.subject)
        env = runtime.emit(session, data, tenant=caller.tenant, event_id=data.appeal_id)
        await handlers.on_appeal_filed(data, env, session)
        await session.flush()
        appeal = await session.get(Appeal, data.appeal_id)
    return appeal_public(appeal, entry.id)


@router.post("/appeals/{appeal_id}/decide", response_model=AppealPublic)
async def decide_appeal(appeal_id: str, body: AppealDecision, caller: Principal = Depends(authorize),
                        runtime: Runtime = Depends(runtime_of)) -> AppealPublic:
    """The office upholds the entry, or reverses it with a compensating entry (never an edit)."""
    async with runtime.unit_of_work() as session:
        appeal = await _existing(session, appeal_id)
        if appeal.status != "pending":
            raise HTTPException(409, f"appeal {appeal_id} is already decided ({appeal.status})")
        data = AppealDecided(appeal_id=appeal_id, decision=body.decision, comment=body.comment,
                             decided_by=caller.subject)
        env = runtime.emit(session, data, tenant=caller.tenant)
        await handlers.on_appeal_decided(data, env, session)
        await session.flush()
        entry = await store.entry_by_key(session, appeal.entry_key)
    return appeal_public(appeal, entry.id)


@router.get("/appeals/{appeal_id}", response_model=AppealPublic)
async def get_appeal(appeal_id: str, caller: Principal = Depends(authorize),
                     runtime: Runtime = Depends(runtime_of)) -> AppealPublic:
    async with runtime.sessions() as session:
        appeal = await _existing(session, appeal_id)
        entry = await store.entry_by_key(session, appeal.entry_key)
    return appeal_public(appeal, entry.id if entry else None)


async def _existing(session, appeal_id: str) -> Appeal:
    appeal = await session.get(Appeal, appeal_id)
    if appeal is None:
        raise HTTPException(404, f"no appeal {appeal_id}")
    return appeal


def appeal_public(appeal: Appeal, entry_id: int | None) -> AppealPublic:
    return AppealPublic(**appeal.model_dump(exclude={"tenant", "entry_key"}), entry_id=entry_id)
