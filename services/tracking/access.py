"""Who may call each of tracking's routes (see shared/access.py for how a Rule is applied).

A task is seen by the units of its lead unit and co-units (and the units above them); only the
lead unit acts on it, except evidence and progress reports, which co-units post for their part.
The calendar is deployment-wide (national holidays): everyone reads it, only admins load a year.
"""

from fastapi import Request
from sqlmodel.ext.asyncio.session import AsyncSession

from services.tracking import store
from services.tracking.models import OrgUnitCopy
from shared.access import ADMIN, EVERYONE, OFFICE, UNIT_PEOPLE, Policy, Rule, Target, paths_of
from shared.org_copy import path_lookup

unit_paths = path_lookup(OrgUnitCopy)


async def _task_target(request: Request, session: AsyncSession, *,
                       co_units_act: bool) -> Target | None:
    task = await store.get_task(session, request.path_params["task_id"])
    if task is None:
        return None  # the route answers 404
    units = [task.lead_unit, *task.co_units]
    known = await unit_paths(session, task.tenant, units)
    everyone = paths_of(units, known)
    lead = paths_of([task.lead_unit], known)
    return Target(tenant=task.tenant, seen_by=everyone, acted_on_by=everyone if co_units_act else lead)


async def task(request: Request, session: AsyncSession) -> Target | None:
    """A task, acted on by its lead unit."""
    return await _task_target(request, session, co_units_act=False)


async def task_shared(request: Request, session: AsyncSession) -> Target | None:
    """A task, acted on by its lead unit and its co-units (evidence, progress reports)."""
    return await _task_target(request, session, co_units_act=True)


HEAD = frozenset({"unit_head"})
URGERS = OFFICE | {"leader"}

POLICY = Policy(
    rules={
        "GET /tasks": Rule(EVERYONE, scope_param="unit"),
        "GET /tasks/by-unit": Rule(EVERYONE, scope_param="unit"),
        "GET /tasks/{task_id}": Rule(EVERYONE, task),
        # the lead unit's work
        "POST /tasks/{task_id}/sign": Rule(UNIT_PEOPLE, task),
        "POST /tasks/{task_id}/progress": Rule(UNIT_PEOPLE, task),
        "POST /tasks/{task_id}/milestones/{position}/reach": Rule(UNIT_PEOPLE, task),
        "POST /tasks/{task_id}/submit": Rule(HEAD, task),
        "POST /tasks/{task_id}/extension": Rule(HEAD, task),
        "POST /tasks/{task_id}/dispatch": Rule(HEAD, task),
        # the lead unit's and the co-units' parts
        "POST /tasks/{task_id}/evidence": Rule(UNIT_PEOPLE, task_shared),
        "POST /tasks/{task_id}/reports": Rule(UNIT_PEOPLE, task_shared),
        "GET /tasks/{task_id}/evidence/{sha256}": Rule(EVERYONE, task),
        "GET /tasks/{task_id}/reports": Rule(EVERYONE, task),
        "GET /tasks/{task_id}/reports/consolidated": Rule(EVERYONE, task),
        "GET /tasks/{task_id}/reports/missing": Rule(EVERYONE, task),
        # the supervision office's decisions (and a leader's urging, 领导督办)
        "POST /tasks/{task_id}/review": Rule(OFFICE, task),
        "POST /tasks/{task_id}/extension/decide": Rule(OFFICE, task),
        "POST /tasks/{task_id}/cancel": Rule(OFFICE, task),
        "POST /tasks/{task_id}/suspend": Rule(OFFICE, task),
        "POST /tasks/{task_id}/resume": Rule(OFFICE, task),
        "POST /tasks/{task_id}/urge": Rule(URGERS, task),
        # the official calendar
        "GET /calendar": Rule(EVERYONE),
        "GET /calendar/{year}": Rule(EVERYONE),
        "PUT /calendar/{year}": Rule(ADMIN),
    },
    unit_paths=unit_paths,
)
