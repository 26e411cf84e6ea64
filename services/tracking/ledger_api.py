"""The ledger (台账): every task, filtered and paged, fast at a million tasks (keyset paging)."""

import base64
import json
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import AwareDatetime

from services.tracking import domain, store
from services.tracking.models import LedgerFilter, LedgerPage, LedgerRow, TrackedTask, UnitLoad
from shared.access import authorize, scoped_unit
from shared.auth import Principal
from shared.service import Runtime, runtime_of
from shared.workdays import WorkCalendar

router = APIRouter(tags=["ledger"])
Many = Annotated[list[str] | None, Query()]


@router.get("/tasks", response_model=LedgerPage)
async def ledger(
    runtime: Runtime = Depends(runtime_of),
    caller: Principal = Depends(authorize),
    unit: str | None = Query(None, description="lead unit; with its sub-units unless "
                             "include_sub_units=false; left out, the caller's unit if it has one"),
    include_sub_units: bool = True,
    status: Many = None,
    light: Annotated[list[Literal["green", "yellow", "red"]] | None, Query()] = None,
    regime: Many = None,
    source_kind: Many = None,
    urgency: Many = None,
    supervisor: Many = None,
    due_from: AwareDatetime | None = None,
    due_to: AwareDatetime | None = None,
    q: str | None = Query(None, min_length=1, max_length=100, description="in title or item number"),
    sort: Literal["due", "-due"] = "due",
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = Query(None, description="next_cursor of the previous page"),
    with_total: bool = Query(False, description="also count every match (slower)"),
) -> LedgerPage:
    """The office's ledger: every filter at once, in deadline order, a page at a time. A caller
    limited to a unit sees that unit's subtree only (the total counts only that)."""
    filters = LedgerFilter(
        unit=scoped_unit(caller, unit), include_sub_units=include_sub_units, status=status or [],
        light=light or [], regime=regime or [], source_kind=source_kind or [],
        urgency=urgency or [], supervisor=supervisor or [], due_from=due_from, due_to=due_to, q=q,
        descending=sort == "-due",
    )
    now, tenant = runtime.clock.now(), caller.tenant
    async with runtime.sessions() as session:
        rows = await store.ledger_page(session, tenant, filters, now, _decode(cursor), limit + 1)
        total = await store.ledger_total(session, tenant, filters, now) if with_total else None
        calendar = await store.calendar(session)
    page, more = rows[:limit], len(rows) > limit
    return LedgerPage(
        items=[_row(task, now, calendar) for task in page],
        next_cursor=_encode(page[-1]) if more else None,
        total=total,
    )


@router.get("/tasks/by-unit", response_model=list[UnitLoad])
async def open_by_unit(
    runtime: Runtime = Depends(runtime_of),
    caller: Principal = Depends(authorize),
    unit: str | None = Query(None, description="this unit's subtree; left out, the caller's scope"),
) -> list[UnitLoad]:
    """Open tasks counted per lead unit, with how many are overdue (red) and stagnant — for the
    dashboards' "overdue and stagnant by unit"."""
    async with runtime.sessions() as session:
        rows = await store.open_by_unit(session, caller.tenant, scoped_unit(caller, unit),
                                        runtime.clock.now())
    return [UnitLoad(unit=u, open=n, overdue=red, stagnant=idle) for u, n, red, idle in rows]


def _row(task: TrackedTask, now: datetime, calendar: WorkCalendar) -> LedgerRow:
    light = domain.ledger_light(status=task.status, due=task.due, yellow=task.yellow_at,
                                extension_pending=task.extension_due is not None, now=now)
    return LedgerRow(**task.model_dump(), light=light.value,
                     overdue=domain.is_overdue(due=task.due, status=task.status, now=now),
                     working_days_left=domain.working_days_left(
                         due=task.due, status=task.status, now=now, calendar=calendar))


def _encode(task: TrackedTask) -> str:
    raw = json.dumps([task.due.isoformat(), task.id]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode(cursor: str | None) -> tuple[datetime, str] | None:
    if not cursor:
        return None
    try:
        due, ident = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(due), str(ident)
    except (ValueError, TypeError):
        raise HTTPException(422, "bad cursor: pass next_cursor from the previous page") from None
