"""Who may call each of intake's routes (see shared/access.py for how a Rule is applied).

The office registers items and adds tasks; an item is seen by the units of all its tasks' lead
units and co-units (and the units above them). Everyone reads the org tree and the people
directory within their scope; only admins change them. Unit paths come from intake's own tree (it
is the org chart's master copy). The OA's webhook has no rule: its caller signs its requests
instead of bearing a token (services/intake/oa_webhook.py).
"""

from collections.abc import Iterable

from fastapi import HTTPException, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake import domain, store
from services.intake.models import Item, Task, TaskCreate
from shared.access import ADMIN, EVERYONE, OFFICE, Path, Policy, Rule, Target, in_scope, paths_of
from shared.auth import Principal


async def unit_paths(session: AsyncSession, tenant: str, units: list[str]) -> dict[str, Path]:
    return {u.id: domain.decode_path(u.path) for u in await store.units_by_id(session, tenant, units)}


async def item(request: Request, session: AsyncSession) -> Target | None:
    """An item, seen (and, by the office, acted on) by every unit one of its tasks names."""
    found = await store.find_item(session, request.path_params["item_id"])
    if found is None:
        return None  # the route answers 404
    item, tasks = found
    units = [u for t in tasks for u in (t.lead_unit, *t.co_units)]
    paths = paths_of(units, await unit_paths(session, item.tenant, units))
    return Target(tenant=item.tenant, seen_by=paths, acted_on_by=paths)


async def unit(request: Request, session: AsyncSession) -> Target | None:
    """A unit of the caller's tenant (units are named per tenant), seen from its subtree and above."""
    tenant = request.state.principal.tenant
    found = await store.get_unit(session, tenant, request.path_params["unit_id"])
    if found is None:
        return None
    path = domain.decode_path(found.path)
    return Target(tenant=tenant, seen_by=[path], acted_on_by=[path])


async def person(request: Request, session: AsyncSession) -> Target | None:
    """A person of the caller's tenant, seen from their unit's subtree and above; a person in no unit
    only by those who see the whole tenant."""
    tenant = request.state.principal.tenant
    found = await store.get_person(session, tenant, request.path_params["person_id"])
    if found is None:
        return None
    paths = paths_of([found.unit_id], await unit_paths(session, tenant, [found.unit_id])) \
        if found.unit_id else [[]]
    return Target(tenant=tenant, seen_by=paths, acted_on_by=paths)


async def require_in_scope(caller: Principal, session: AsyncSession,
                           units: Iterable[str | None]) -> None:
    """A caller limited to a subtree (an office or admin with a unit) may only name units in it;
    None is the root, outside every subtree."""
    if caller.unit is None:
        return
    named = list(dict.fromkeys(units))
    known = await unit_paths(session, caller.tenant, [u for u in named if u is not None])
    outside = [u or "the root" for u in named if u is None or not in_scope(caller, known.get(u, [u]))]
    if outside:
        raise HTTPException(403, f"outside your scope ({caller.unit}): {', '.join(outside)}")


async def visible_items(caller: Principal, session: AsyncSession,
                        found: list[tuple[Item, list[Task]]]) -> list[tuple[Item, list[Task]]]:
    """The items of a list a caller may see: all for a tenant-wide caller; for one limited to a
    subtree, those with a task whose lead unit or co-unit is in it (as ``item`` decides for one)."""
    if caller.unit is None:
        return found
    units = sorted({u for _, tasks in found for t in tasks for u in (t.lead_unit, *t.co_units)})
    known = await unit_paths(session, caller.tenant, units)
    return [(item, tasks) for item, tasks in found
            if any(in_scope(caller, known.get(u, [u])) for t in tasks for u in (t.lead_unit, *t.co_units))]


def task_units(tasks: list[TaskCreate]) -> list[str]:
    """The units new tasks name: their lead units and co-units."""
    return [u for t in tasks for u in (t.lead_unit, *t.co_units)]


POLICY = Policy(
    rules={
        # items: the supervision office registers, everyone in scope reads
        "POST /items": Rule(OFFICE),
        "GET /items/{item_id}": Rule(EVERYONE, item),
        "GET /items": Rule(EVERYONE),  # each item filtered by scope: visible_items
        "POST /items/{item_id}/tasks": Rule(OFFICE, item),
        "GET /items/import/template": Rule(OFFICE),
        "POST /items/import": Rule(OFFICE),
        # the org tree: configuration, so admins only change it
        "GET /units": Rule(EVERYONE, scope_param="under"),
        "GET /units/{unit_id}": Rule(EVERYONE, unit),
        "POST /units": Rule(ADMIN),
        "PATCH /units/{unit_id}": Rule(ADMIN, unit),
        "POST /units/{unit_id}/deactivate": Rule(ADMIN, unit),
        "POST /units/{unit_id}/reactivate": Rule(ADMIN, unit),
        # the people directory: configuration too (the OA keeps it by events); read like the tree
        "GET /people": Rule(EVERYONE, scope_param="unit"),
        "GET /people/{person_id}": Rule(EVERYONE, person),
        "POST /people": Rule(ADMIN),
        "PUT /people/{person_id}": Rule(ADMIN, person),
    },
    unit_paths=unit_paths,
)
