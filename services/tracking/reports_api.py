"""Progress reports on a task's cycle, with evidence files, and the periods flagged as missed."""

from datetime import datetime

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse
from sqlmodel.ext.asyncio.session import AsyncSession

from services.tracking import domain, reporting, store
from services.tracking.access import unit_paths
from services.tracking.evidence import EvidenceRefused, EvidenceStore, is_sha256
from services.tracking.lifecycle import Action, TransitionRefused, record
from services.tracking.models import (
    ConsolidatedPublic, Evidence, EvidencePublic, MissedReportPublic, ProgressReport, ReportPublic,
    ReportRequest, TrackedTask, UnitPart,
)
from services.tracking.reporting import Period
from shared.access import authorize, in_scope, paths_of
from shared.auth import Principal
from shared.events import TaskProgressReported, TaskStatusChanged
from shared.service import Runtime, runtime_of

router = APIRouter(tags=["reports"])
EVENT_TEXT_LIMIT = 2000
_NO_TASK = {404: {"description": "no such task"}}
_BINARY_BODY = {"requestBody": {"required": True, "content": {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}


@router.post("/tasks/{task_id}/evidence", status_code=201, response_model=EvidencePublic,
             openapi_extra=_BINARY_BODY,
             responses={**_NO_TASK, 413: {"description": "the file is too large"},
                        415: {"description": "not an allowed type, or not the declared one"}})
async def upload_evidence(task_id: str, request: Request,
                          filename: str = Query("", max_length=255),
                          runtime: Runtime = Depends(runtime_of),
                          caller: Principal = Depends(authorize)) -> EvidencePublic:
    """Attach a file (the raw body; Content-Type: its media type) to the task as evidence."""
    async with runtime.sessions() as session:
        await _task(session, task_id)
    length = request.headers.get("content-length")
    try:
        stored = await EvidenceStore.from_settings(runtime.settings).receive(
            request.stream(), request.headers.get("content-type"),
            int(length) if length and length.isdigit() else None)
    except EvidenceRefused as refused:
        raise HTTPException(refused.status, refused.reason) from None
    async with runtime.unit_of_work() as session:
        row = await store.add_evidence(session, Evidence(
            task_id=task_id, sha256=stored.sha256, size=stored.size, media_type=stored.media_type,
            filename=filename, uploaded_at=runtime.clock.now(), uploaded_by=caller.subject))
    return EvidencePublic.model_validate(row, from_attributes=True)


@router.get("/tasks/{task_id}/evidence/{sha256}", response_class=FileResponse,
            responses={404: {"description": "no such file attached to the task"}})
async def get_evidence(task_id: str, sha256: str,
                       runtime: Runtime = Depends(runtime_of)) -> FileResponse:
    """An evidence file of the task, with its media type."""
    async with runtime.sessions() as session:
        row = await store.evidence(session, task_id, sha256) if is_sha256(sha256) else None
    path = EvidenceStore.from_settings(runtime.settings).path(sha256) if row else None
    if path is None or not path.is_file():
        raise HTTPException(404, f"no evidence {sha256} on task {task_id}")
    return FileResponse(path, media_type=row.media_type, filename=row.filename or None,
                        content_disposition_type="inline",
                        headers={"X-Content-Type-Options": "nosniff"})


@router.post("/tasks/{task_id}/reports", status_code=201, response_model=ReportPublic,
             responses={**_NO_TASK,
                        403: {"description": "the unit is not on the task, or not the caller's"},
                        409: {"description": "the task's state does not allow a report"},
                        422: {"description": "a bad period or an evidence file not uploaded"}})
async def add_report(task_id: str, body: ReportRequest, runtime: Runtime = Depends(runtime_of),
                     caller: Principal = Depends(authorize)) -> ReportPublic:
    """A unit reports progress for a period (default: the current one); a report on a signed task
    moves it to in progress. The unit is the caller's on the task (its lead unit first); a unit
    named in the body must be one of the task's within the caller's scope."""
    now = runtime.clock.now()
    async with runtime.unit_of_work() as session:
        task = await _task(session, task_id, for_update=True)
        unit = await _reporting_unit(session, caller, task, body.unit)
        period = _period(task, body.period, now)
        if period and period.start > now:
            raise HTTPException(422, f"{period.key} has not begun: a report is for a period begun")
        await _check_evidence(session, task.id, body.evidence)
        await _progress(runtime, session, task, caller, body.text, now)
        report = ProgressReport(task_id=task.id, unit=unit, period_key=period.key if period else "",
                                text=body.text, evidence=body.evidence, at=now, actor=caller.subject)
        store.add_report(session, report)
        await session.flush()
        runtime.emit(session, TaskProgressReported(
            task_id=task.id, item_id=task.item_id, title=task.title, lead_unit=task.lead_unit,
            unit=unit, period=period.key if period else None,
            text=body.text[:EVENT_TEXT_LIMIT], evidence=body.evidence, at=now, actor=caller.subject,
        ), tenant=task.tenant)
        return _public(report)


@router.get("/tasks/{task_id}/reports", response_model=list[ReportPublic], responses=_NO_TASK)
async def list_reports(task_id: str, period: str | None = Query(None, max_length=16),
                       runtime: Runtime = Depends(runtime_of)) -> list[ReportPublic]:
    """The task's reports in order, of one period if given."""
    async with runtime.sessions() as session:
        await _task(session, task_id)
        return [_public(r) for r in await store.reports(session, task_id, period)]


@router.get("/tasks/{task_id}/reports/consolidated", response_model=ConsolidatedPublic,
            responses={**_NO_TASK, 422: {"description": "not a period of the task's cycle"}})
async def consolidated(task_id: str, period: str | None = Query(None, max_length=16),
                       runtime: Runtime = Depends(runtime_of)) -> ConsolidatedPublic:
    """A period's reports (default: the latest period reported, else the current one): the lead
    unit's and each co-unit's part, or "missing"."""
    async with runtime.sessions() as session:
        task = await _task(session, task_id)
        reports = await store.reports(session, task_id)
    key = _period_key(task, period, reports, runtime.clock.now())
    latest = reporting.latest_by_unit(r for r in reports if r.period_key == key)
    lead = latest.get(task.lead_unit)
    return ConsolidatedPublic(
        task_id=task.id, period=key or None, lead_unit=task.lead_unit,
        lead=_public(lead) if lead else None,
        parts=[_part(unit, latest.get(unit)) for unit in task.co_units if unit != task.lead_unit],
    )


@router.get("/tasks/{task_id}/reports/missing", response_model=list[MissedReportPublic],
            responses=_NO_TASK)
async def missing_reports(task_id: str,
                          runtime: Runtime = Depends(runtime_of)) -> list[MissedReportPublic]:
    """The periods flagged because their report fell due without the lead unit's."""
    async with runtime.sessions() as session:
        await _task(session, task_id)
        return [MissedReportPublic(period=m.period_key, report_due=m.report_due,
                                   flagged_at=m.flagged_at)
                for m in await store.missed_reports(session, task_id)]


async def _task(session: AsyncSession, task_id: str, *, for_update: bool = False) -> TrackedTask:
    task = await store.get_task(session, task_id, for_update=for_update)
    if task is None:
        raise HTTPException(404, f"no task {task_id}")
    return task


async def _reporting_unit(session: AsyncSession, caller: Principal, task: TrackedTask,
                          asked: str | None) -> str:
    units = list(dict.fromkeys([task.lead_unit, *task.co_units]))
    if asked is not None and asked not in units:
        raise HTTPException(403, f"{asked} is neither the lead unit nor a co-unit of task {task.id}")
    paths = paths_of(units, await unit_paths(session, task.tenant, units))
    mine = [unit for unit, path in zip(units, paths, strict=True) if in_scope(caller, path)]
    if asked is not None and asked not in mine:
        raise HTTPException(403, f"{asked} is outside your scope ({caller.unit})")
    if not mine:
        raise HTTPException(403, f"no unit of task {task.id} is yours ({caller.unit})")
    return asked or mine[0]


def _period(task: TrackedTask, key: str | None, now: datetime) -> Period | None:
    """The period a report is for: ``key``, or the current one; None for a task with no cycle."""
    if task.reporting_cycle == "none":
        if key:
            raise HTTPException(422, f"task {task.id} has no reporting cycle: give no period")
        return None
    if key is None:
        return reporting.period_of(task.reporting_cycle, now, report_due_day=task.report_due_day)
    try:
        period = reporting.parse_key(task.reporting_cycle, key, report_due_day=task.report_due_day)
    except ValueError as error:
        example = reporting.period_of(task.reporting_cycle, now).key
        raise HTTPException(422, f"{error} (e.g. {example})") from None
    if period.end <= task.assigned_at:
        raise HTTPException(422, f"{key} ended before the task was assigned")
    return period


def _period_key(task: TrackedTask, key: str | None, reports: list[ProgressReport],
                now: datetime) -> str:
    if task.reporting_cycle == "none":
        return ""
    if key is not None:
        return _period(task, key, now).key
    return reports[-1].period_key if reports else _period(task, None, now).key


async def _check_evidence(session: AsyncSession, task_id: str, hashes: list[str]) -> None:
    if bad := await store.unattached(session, task_id, hashes):
        raise HTTPException(422, f"evidence {', '.join(bad)} was not uploaded to task {task_id}")


async def _progress(runtime: Runtime, session: AsyncSession, task: TrackedTask, caller: Principal,
                    text: str, now: datetime) -> None:
    """A report is the lifecycle's progress action: 409 unless the task is signed or in progress."""
    try:
        new, entry = record(task.status, Action.PROGRESS, at=now, actor=caller.subject,
                            comment=text[:EVENT_TEXT_LIMIT])
    except TransitionRefused as refused:
        raise HTTPException(409, refused.reason) from None
    task.status = new.value
    domain.mark_activity(task, now=now, calendar=await store.calendar(session))
    store.add_history(session, task.id, entry)
    runtime.emit(session, TaskStatusChanged(
        task_id=task.id, item_id=task.item_id, title=task.title, lead_unit=task.lead_unit,
        action=entry.action, from_status=entry.from_status, to_status=entry.to_status,
        actor=entry.actor, comment=entry.comment, at=now, due=task.due,
        co_units=list(task.co_units),
    ), tenant=task.tenant)


def _public(report: ProgressReport) -> ReportPublic:
    return ReportPublic(id=report.id, task_id=report.task_id, unit=report.unit,
                        period=report.period_key or None, text=report.text,
                        evidence=report.evidence, at=report.at, actor=report.actor)


def _part(unit: str, report: ProgressReport | None) -> UnitPart:
    return UnitPart(unit=unit, status="reported" if report else "missing",
                    report=_public(report) if report else None)
