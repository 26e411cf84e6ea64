"""scoring's routes for rule sets and periods: publish and switch rule sets, close a period, and
its report as JSON or an Excel sheet."""

import io
import json
from decimal import Decimal

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from openpyxl import Workbook

from services.scoring import handlers, periods, reports, rules, store
from services.scoring.access import require_tenant_wide
from services.scoring.api import period_or_422
from services.scoring.models import RankingPublic, RuleSetPublic, RuleSetSwitchRequest, RuleSetVersion
from shared.access import authorize
from shared.auth import Principal
from shared.events import PeriodClosed, RuleSetPublished, RuleSetSwitched
from shared.service import Runtime, runtime_of

router = APIRouter(tags=["rule sets and periods"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _plain(value):
    """A rule set as JSON shows it: points as numbers (1, -0.5), not the decimal strings it is kept as."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _rules(parsed: rules.RuleSet) -> dict:
    return _plain(parsed.model_dump())


def _public(row: RuleSetVersion) -> RuleSetPublic:
    parsed = rules.RuleSet.model_validate(json.loads(row.body))
    return RuleSetPublic(version=row.version, name=parsed.name, published_by=row.published_by,
                         published_at=row.published_at, rules=_rules(parsed))


@router.post("/rule-sets", status_code=201, response_model=RuleSetPublic,
             responses={409: {"description": "that version exists with other rules"},
                        422: {"description": "the rule set is invalid: every bad field named"}},
             openapi_extra={"requestBody": {"content": {"application/yaml": {}, "application/json": {}}}})
async def publish_rule_set(request: Request, caller: Principal = Depends(authorize),
                           runtime: Runtime = Depends(runtime_of)) -> RuleSetPublic:
    """Publish a rule set (the body, YAML or JSON). A version once published never changes:
    the same version again with the same rules is answered as the first time, with other rules 409."""
    require_tenant_wide(caller, "a rule set")
    try:
        parsed = rules.parse((await request.body()).decode("utf-8", errors="replace"))
    except rules.RuleSetError as exc:
        raise HTTPException(422, {"message": "invalid rule set", "errors": [
            {"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors]}) from None
    async with runtime.unit_of_work() as session:
        existing = await store.get_version(session, caller.tenant, parsed.version)
        if parsed.version == rules.DEFAULT.version:
            if parsed == rules.DEFAULT:
                return _default()
            raise HTTPException(409, f"rule set version {parsed.version} is Duban's default; "
                                     "publish your rules under a version of your own")
        if existing is not None:
            if rules.RuleSet.model_validate(json.loads(existing.body)) == parsed:  # 1 == 1.0
                return _public(existing)
            raise HTTPException(409, f"rule set version {parsed.version} exists with other rules; "
                                     "publish a new version")
        data = RuleSetPublished(version=parsed.version, rules=parsed.model_dump(mode="json"),
                                published_by=caller.subject)
        env = runtime.emit(session, data, tenant=caller.tenant)
        await handlers.on_rule_set_published(data, env, session)
        await session.flush()
        row = await store.get_version(session, caller.tenant, parsed.version)
    return _public(row)


@router.get("/rule-sets", response_model=list[RuleSetPublic])
async def list_rule_sets(caller: Principal = Depends(authorize),
                         runtime: Runtime = Depends(runtime_of)) -> list[RuleSetPublic]:
    """The default rule set and every version the tenant published."""
    async with runtime.sessions() as session:
        published = [_public(r) for r in await store.list_versions(session, caller.tenant)]
    return [_default(), *published]


def _default() -> RuleSetPublic:
    default = rules.DEFAULT
    return RuleSetPublic(version=default.version, name=default.name, published_by="duban",
                         published_at="2026-01-01T00:00:00Z", rules=_rules(default))


@router.post("/rule-sets/switch", response_model=dict,
             responses={404: {"description": "no such version"},
                        409: {"description": "the period is closed or has begun"}})
async def switch_rule_set(body: RuleSetSwitchRequest, caller: Principal = Depends(authorize),
                          runtime: Runtime = Depends(runtime_of)) -> dict:
    """Score the tenant's facts from the start of ``from_period`` on by ``version``; the period
    must not have begun."""
    require_tenant_wide(caller, "the rule set in force")
    period = period_or_422(body.from_period, runtime)
    async with runtime.unit_of_work() as session:
        if body.version != rules.DEFAULT.version and not await store.get_version(session, caller.tenant, body.version):
            raise HTTPException(404, f"no rule set version {body.version}")
        if await store.closed(session, caller.tenant, period.name):
            raise HTTPException(409, f"period {period.name} is closed")
        if period.start <= periods.local_day(runtime.clock.now()):
            # Every fact of a period is scored by one rule set, live and in a replay alike.
            raise HTTPException(409, f"period {period.name} has begun: a rule set can be switched "
                                     "only from a period that has not begun")
        data = RuleSetSwitched(version=body.version, from_period=period.name, switched_by=caller.subject)
        env = runtime.emit(session, data, tenant=caller.tenant)
        await handlers.on_rule_set_switched(data, env, session)
    return {"version": body.version, "from": period.start.isoformat()}


@router.post("/periods/{period}/close", status_code=201, response_model=RankingPublic,
             responses={409: {"description": "already closed"}, 422: {"description": "bad period"}})
async def close_period(period: str, caller: Principal = Depends(authorize),
                       runtime: Runtime = Depends(runtime_of)) -> RankingPublic:
    """Close (freeze) a period: its report (every unit's score, rates and rank) is kept as it is now."""
    require_tenant_wide(caller, "a period's report")
    chosen = period_or_422(period, runtime)
    async with runtime.unit_of_work() as session:
        if await store.closed(session, caller.tenant, chosen.name):
            raise HTTPException(409, f"period {chosen.name} is already closed")
        data = PeriodClosed(period=chosen.name, closed_by=caller.subject)
        env = runtime.emit(session, data, tenant=caller.tenant)
        await handlers.on_period_closed(data, env, session)
        await session.flush()
        kept = await store.closed(session, caller.tenant, chosen.name)
    return RankingPublic.model_validate(kept.report)


@router.get("/periods/{period}/report", response_model=RankingPublic)
async def period_report(period: str, caller: Principal = Depends(authorize),
                        runtime: Runtime = Depends(runtime_of)) -> RankingPublic:
    """A closed period's kept report; an open period's report as of now."""
    return await _report(caller, runtime, period)


@router.get("/periods/{period}/export", response_class=Response,
            responses={200: {"content": {XLSX: {}}, "description": "the report as an Excel sheet"}})
async def export_period(period: str, caller: Principal = Depends(authorize),
                        runtime: Runtime = Depends(runtime_of)) -> Response:
    """The period's scores, rates and ranking as an Excel (.xlsx) sheet."""
    report = await _report(caller, runtime, period)
    return Response(to_xlsx(report), media_type=XLSX, headers={
        "Content-Disposition": f'attachment; filename="duban-scores-{report.period}.xlsx"'})


async def _report(caller: Principal, runtime: Runtime, name: str) -> RankingPublic:
    if caller.unit is not None:
        raise HTTPException(403, "a period's report covers the whole tenant; ask for /rankings?under=")
    chosen = period_or_422(name, runtime)
    async with runtime.sessions() as session:
        if kept := await store.closed(session, caller.tenant, chosen.name):
            return RankingPublic.model_validate(kept.report)
        return await reports.ranking(session, caller.tenant, chosen, under=None, normalise=False,
                                     enforce_switch=False)


COLUMNS = ["名次", "单位", "单位编号", "总分", "任务数", "办结率", "按期办结率", "退回率", "复查复议率",
           "逾期数", "漏报数"]


def to_xlsx(report: RankingPublic) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = f"考核 {report.period}"
    sheet.append(COLUMNS)
    for s in report.units:
        r = s.rates
        sheet.append([s.rank, s.name or s.unit, s.unit, float(s.total), r.tasks_due,
                      *(None if v is None else float(v) for v in
                        (r.completion_rate, r.on_time_rate, r.return_rate, r.reverification_rate)),
                      r.overdue_count, r.missed_report_count])
    for column in "FGHI":
        for cell in sheet[column][1:]:
            cell.number_format = "0.00%"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
