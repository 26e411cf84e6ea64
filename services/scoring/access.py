"""Who may call scoring's routes (see shared/access.py for how a Rule is applied).

A unit's score is read by everyone whose scope holds the unit (the unit itself or a unit above it
in scoring's copy of the org tree). The office issues bulletins, decides appeals, closes periods;
administrators publish and switch rule sets; a unit head contests an entry of its own unit.
"""

import json

from fastapi import HTTPException, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from services.scoring import store
from services.scoring.models import Appeal, OrgUnitCopy
from shared.access import (
    ADMIN, EVERYONE, OFFICE, Policy, Rule, Target, in_scope, paths_of, scoped_unit, unit_in_path,
)
from shared.auth import Principal
from shared.org_copy import path_lookup

unit_paths = path_lookup(OrgUnitCopy)
TENANT_WIDE_READERS = frozenset({"admin", "office", "leader", "viewer"})


async def _unit_target(session: AsyncSession, tenant: str, unit: str) -> Target:
    path = paths_of([unit], await unit_paths(session, tenant, [unit]))
    return Target(tenant=tenant, seen_by=path, acted_on_by=path)


async def contested_entry(request: Request, session: AsyncSession) -> Target | None:
    """The ledger entry an appeal names (in the request body; a body that is not a JSON object
    names none, and the route's own validation answers it with 422)."""
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        return None
    entry_id = body.get("entry_id") if isinstance(body, dict) else None
    if not isinstance(entry_id, int) or isinstance(entry_id, bool):
        return None
    entry = await store.entry_by_id(session, entry_id)
    return None if entry is None else await _unit_target(session, entry.tenant, entry.unit)


async def require_in_scope(caller: Principal, session: AsyncSession, units: list[str]) -> None:
    """A caller limited to a subtree (an office with a unit) may only name units in it (403)."""
    if caller.unit is None:
        return
    named = list(dict.fromkeys(units))
    known = await unit_paths(session, caller.tenant, named)
    outside = [u for u in named if not in_scope(caller, known.get(u, [u]))]
    if outside:
        raise HTTPException(403, f"outside your scope ({caller.unit}): {', '.join(outside)}")


def require_tenant_wide(caller: Principal, what: str) -> None:
    """Rule sets and periods are the whole tenant's: a caller limited to a subtree may not touch them."""
    if caller.unit is not None:
        raise HTTPException(403, f"{what} covers the whole tenant; your scope is {caller.unit}")


async def appeal(request: Request, session: AsyncSession) -> Target | None:
    found = await session.get(Appeal, request.path_params["appeal_id"])
    return None if found is None else await _unit_target(session, found.tenant, found.unit)


async def units_seen(caller: Principal, session: AsyncSession, asked: str | None) -> set[str] | None:
    """The units a list of bulletins or appeals is narrowed to: the unit asked for (its scope
    already checked by the rule's scope_param) or the caller's own, with the units below it; None
    for a tenant-wide caller who asked for no unit (the whole tenant)."""
    unit = scoped_unit(caller, asked)
    return None if unit is None else await store.subtree(session, caller.tenant, unit)


POLICY = Policy(
    rules={
        "GET /units/{unit}/score": Rule(EVERYONE, unit_in_path("unit", unit_paths)),
        "GET /rankings": Rule(EVERYONE, scope_param="under"),
        "POST /bulletins": Rule(OFFICE),
        "GET /bulletins": Rule(EVERYONE, scope_param="unit"),  # narrowed by units_seen
        "GET /appeals": Rule(EVERYONE, scope_param="unit"),  # narrowed by units_seen
        "POST /appeals": Rule(frozenset({"unit_head"}), contested_entry),
        "GET /appeals/{appeal_id}": Rule(EVERYONE, appeal),
        "POST /appeals/{appeal_id}/decide": Rule(OFFICE, appeal),
        "POST /rule-sets": Rule(ADMIN),
        "GET /rule-sets": Rule(EVERYONE),
        "POST /rule-sets/switch": Rule(ADMIN),
        "POST /periods/{period}/close": Rule(OFFICE),
        # a period's report names every unit: the tenant's office, leaders and viewers
        "GET /periods/{period}/report": Rule(TENANT_WIDE_READERS),
        "GET /periods/{period}/export": Rule(TENANT_WIDE_READERS),
    },
    unit_paths=unit_paths,
)
