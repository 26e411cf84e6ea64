"""The official calendar's administration: load a year's holidays and 调休 working days.

Saving a year counts the open deadlines given in working days again in the same transaction.
"""

from collections.abc import Iterable
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path
from sqlmodel.ext.asyncio.session import AsyncSession

from services.tracking import domain, store
from services.tracking.lifecycle import HistoryEntry
from services.tracking.models import (
    CalendarYearPublic, CalendarYearRequest, CalendarYearRow, CalendarYearSummary,
)
from shared.workdays import CalendarError, WorkCalendar, YearCalendar, builtin_calendar
from shared.access import authorize
from shared.auth import Principal
from shared.events import CalendarChanged, TaskDeadlineChanged
from shared.service import Runtime, runtime_of

router = APIRouter(tags=["calendar"])
Year = Annotated[int, Path(ge=2000, le=2100)]


@router.put("/calendar/{year}", response_model=CalendarYearPublic,
            responses={422: {"description": "the data names a bad date or conflicting days"}})
async def load_year(year: Year, body: CalendarYearRequest, runtime: Runtime = Depends(runtime_of),
                    caller: Principal = Depends(authorize)) -> CalendarYearPublic:
    """Load (or replace) a year; open deadlines in working days that span it move with it. The
    calendar is the deployment's (national holidays): every tenant's deadlines follow it."""
    try:
        loaded = YearCalendar.parse(year, {"holidays": body.holidays, "workdays": body.workdays})
    except CalendarError as error:
        raise HTTPException(422, str(error)) from None
    now = runtime.clock.now()
    async with runtime.unit_of_work() as session:
        await store.lock_calendar(session, exclusive=True)
        previous = await store.calendar(session)
        row = await store.save_year(session, loaded, at=now, by=caller.subject)
        await _recount_deadlines(runtime, session, loaded, previous, caller.subject, now)
        runtime.emit(session, CalendarChanged(
            year=year, holiday_count=len(loaded.holidays), workday_count=len(loaded.workdays),
            actor=caller.subject, holidays=sorted(loaded.holidays), workdays=sorted(loaded.workdays)),
            tenant=caller.tenant)
    return _public(year, {year: row})


async def _recount_deadlines(runtime: Runtime, session: AsyncSession, loaded: YearCalendar,
                             previous: WorkCalendar, actor: str, now: datetime) -> None:
    calendar = domain.effective_calendar(previous, [loaded])
    reason = f"calendar {loaded.year} loaded"
    for task in await store.open_working_day_tasks(session):
        if not domain.affected_by_year(task, loaded.year, previous=previous):
            continue
        previous_due, recount = task.due, domain.recount(task, calendar=calendar, now=now)
        task.due, task.calendar_fallback = recount.due, recount.calendar_fallback
        task.next_reminder_at = recount.next_reminder_at
        task.yellow_at = domain.yellow_at(assigned_at=task.assigned_at, due=recount.due,
                                          calendar=calendar)
        if recount.due == previous_due:
            continue
        store.add_history(session, task.id, HistoryEntry(now, actor, "deadline_changed",
                                                         task.status, task.status, reason))
        runtime.emit(session, TaskDeadlineChanged(
            task_id=task.id, item_id=task.item_id, title=task.title, lead_unit=task.lead_unit,
            previous_due=previous_due, due=recount.due, reason=reason,
        ), tenant=task.tenant)


@router.get("/calendar/{year}", response_model=CalendarYearPublic)
async def get_year(year: Year, runtime: Runtime = Depends(runtime_of)) -> CalendarYearPublic:
    """The year's calendar in effect and where it comes from ("none": plain weekends)."""
    return _public(year, await _loaded(runtime))


@router.get("/calendar", response_model=list[CalendarYearSummary])
async def list_years(runtime: Runtime = Depends(runtime_of)) -> list[CalendarYearSummary]:
    """Every year with data, built in or loaded; other years count plain weekends."""
    loaded = await _loaded(runtime)
    years = sorted(set(loaded) | set(builtin_calendar().years))
    return [CalendarYearSummary(**_public(year, loaded).model_dump()) for year in years]


async def _loaded(runtime: Runtime) -> dict[int, CalendarYearRow]:
    async with runtime.sessions() as session:
        return {row.year: row for row in await store.loaded_years(session)}


def _public(year: int, loaded: dict[int, CalendarYearRow]) -> CalendarYearPublic:
    builtin = builtin_calendar()
    origin = domain.calendar_origin(year, loaded_years=loaded, builtin=builtin)
    if row := loaded.get(year):
        return CalendarYearPublic(year=year, origin=origin, holidays=row.holidays,
                                  workdays=row.workdays, updated_at=row.updated_at,
                                  updated_by=row.updated_by)
    cal = builtin.years.get(year, YearCalendar(year))
    return CalendarYearPublic(year=year, origin=origin, holidays=_iso(cal.holidays),
                              workdays=_iso(cal.workdays))


def _iso(days: Iterable[date]) -> list[str]:
    return sorted(d.isoformat() for d in days)
