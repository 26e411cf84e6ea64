"""Changing a tenant's org tree: the commands behind the units API and the OA's org events.

Each command locks the tenant's tree, checks the domain rules, changes the units and returns the
org-unit-changed events to stage in the same transaction. Refusals are exceptions, so the caller
decides what they mean (an HTTP status for the API, a retry for an OA event that came too early).
"""

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake import domain, store
from services.intake.models import OrgUnit, OrgUnitCreate
from shared.events import OaOrgUnitUpdated, OrgUnitChanged

Changes = list[OrgUnitChanged]


class UnitNotFound(LookupError):
    pass


class UnitConflict(Exception):
    """The tree does not allow the change now (a cycle, active units below, a parent deactivated)."""


class BadParent(ValueError):
    """The named parent is unknown or deactivated; ``errors`` in FastAPI's 422 shape."""

    def __init__(self, errors: list[dict]):
        super().__init__("; ".join(e["msg"] for e in errors))
        self.errors = errors


async def existing(session: AsyncSession, tenant: str, unit_id: str) -> OrgUnit:
    unit = await store.get_unit(session, tenant, unit_id)
    if unit is None:
        raise UnitNotFound(f"no unit {unit_id}")
    return unit


async def _usable_parent(session: AsyncSession, tenant: str, parent_id: str | None) -> OrgUnit | None:
    parent = await store.get_unit(session, tenant, parent_id) if parent_id else None
    if errors := domain.parent_errors(parent_id, parent):
        raise BadParent(errors)
    return parent


async def create(session: AsyncSession, tenant: str, cmd: OrgUnitCreate) -> tuple[OrgUnit, Changes]:
    await store.lock_tree(session, tenant)
    if await store.get_unit(session, tenant, cmd.id):
        raise UnitConflict(f"unit {cmd.id} already exists")
    unit = domain.new_unit(tenant, cmd, await _usable_parent(session, tenant, cmd.parent_id))
    store.add_unit(session, unit)
    return unit, [domain.unit_changed(unit, "created")]


async def update(session: AsyncSession, tenant: str, unit_id: str, *, name: str | None = None,
                 moves: bool = False, parent_id: str | None = None) -> tuple[OrgUnit, Changes]:
    """Rename and/or move (``moves``) a unit with its subtree: "renamed", then "moved" for each."""
    await store.lock_tree(session, tenant)
    unit = await existing(session, tenant, unit_id)
    changes: Changes = []
    if domain.is_rename(unit, name):
        unit.name = name
        changes.append(domain.unit_changed(unit, "renamed"))
    if moves and domain.is_move(unit, parent_id):
        changes += await _move(session, unit, parent_id)
    return unit, changes


async def _move(session: AsyncSession, unit: OrgUnit, parent_id: str | None) -> Changes:
    parent = await _usable_parent(session, unit.tenant, parent_id)
    if conflict := domain.move_conflict(unit, parent):
        raise UnitConflict(conflict)
    moved = await store.move_subtree(session, unit, parent_id, domain.path_under(parent, unit.id))
    return [domain.unit_changed(u, "moved") for u in moved]


async def set_active(session: AsyncSession, tenant: str, unit_id: str,
                     active: bool) -> tuple[OrgUnit, Changes]:
    """Deactivate (refused while active units remain below) or reactivate (refused under a
    deactivated parent); no change and no event when the unit is already so."""
    await store.lock_tree(session, tenant)
    unit = await existing(session, tenant, unit_id)
    if unit.active == active:
        return unit, []
    if active:
        parent = await store.get_unit(session, tenant, unit.parent_id) if unit.parent_id else None
        conflict = domain.reactivate_conflict(unit, parent)
    else:
        conflict = domain.deactivate_conflict(unit, await store.active_children(session, unit))
    if conflict:
        raise UnitConflict(conflict)
    unit.active = active
    return unit, [domain.unit_changed(unit, "reactivated" if active else "deactivated")]


async def follow_oa(session: AsyncSession, tenant: str, event: OaOrgUnitUpdated,
                    at: datetime) -> Changes:
    """Bring a unit to the state the OA reported at ``at``: create, rename, move, (de)activate.

    A report older than the last one applied is ignored: a retried OA event must not undo a newer one.
    """
    await store.lock_tree(session, tenant)
    unit = await store.get_unit(session, tenant, event.unit_id)
    if unit is not None and unit.oa_reported_at is not None and at <= unit.oa_reported_at:
        return []
    if unit is None:
        cmd = OrgUnitCreate(id=event.unit_id, name=event.name, parent_id=event.parent_id)
        unit, changes = await create(session, tenant, cmd)
    else:
        unit, changes = await update(session, tenant, event.unit_id, name=event.name, moves=True,
                                     parent_id=event.parent_id)
    changes += (await set_active(session, tenant, event.unit_id, event.active))[1]
    unit.oa_reported_at = at
    return changes
