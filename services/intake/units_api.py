"""intake's HTTP routes for the org-unit tree. Every change emits one org-unit-changed event per
unit whose state changed, in the transaction that changes it."""

from fastapi import APIRouter, Depends, HTTPException
from fastapi.exceptions import RequestValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake import domain, store
from services.intake.models import OrgUnit, OrgUnitCreate, OrgUnitPublic, OrgUnitUpdate
from shared.events import OrgUnitChanged
from shared.service import Runtime, runtime_of

router = APIRouter(tags=["units"])


def to_public(unit: OrgUnit) -> OrgUnitPublic:
    return OrgUnitPublic(id=unit.id, name=unit.name, parent_id=unit.parent_id, active=unit.active,
                         path=domain.decode_path(unit.path))


async def _existing(session: AsyncSession, tenant: str, unit_id: str) -> OrgUnit:
    unit = await store.get_unit(session, tenant, unit_id)
    if unit is None:
        raise HTTPException(404, f"no unit {unit_id}")
    return unit


async def _usable_parent(session: AsyncSession, tenant: str, parent_id: str | None) -> OrgUnit | None:
    parent = await store.get_unit(session, tenant, parent_id) if parent_id else None
    if errors := domain.parent_errors(parent_id, parent):
        raise RequestValidationError(errors)
    return parent


@router.post("/units", status_code=201, response_model=OrgUnitPublic)
async def create_unit(body: OrgUnitCreate, runtime: Runtime = Depends(runtime_of)) -> OrgUnitPublic:
    """Create a unit, at the root or under an active parent."""
    tenant = runtime.settings.tenant
    async with runtime.unit_of_work() as session:
        await store.lock_tree(session, tenant)
        if await store.get_unit(session, tenant, body.id):
            raise HTTPException(409, f"unit {body.id} already exists")
        unit = domain.new_unit(tenant, body, await _usable_parent(session, tenant, body.parent_id))
        store.add_unit(session, unit)
        runtime.emit(session, domain.unit_changed(unit, "created"))
    return to_public(unit)


@router.get("/units", response_model=list[OrgUnitPublic])
async def list_units(under: str | None = None, active: bool | None = None,
                     runtime: Runtime = Depends(runtime_of)) -> list[OrgUnitPublic]:
    """The tenant's units in tree order; ``under`` keeps one subtree (that unit included)."""
    tenant = runtime.settings.tenant
    async with runtime.sessions() as session:
        root = await _existing(session, tenant, under) if under else None
        units = await store.list_units(session, tenant, under=root, active=active)
    return [to_public(u) for u in units]


@router.get("/units/{unit_id}", response_model=OrgUnitPublic)
async def get_unit(unit_id: str, runtime: Runtime = Depends(runtime_of)) -> OrgUnitPublic:
    async with runtime.sessions() as session:
        return to_public(await _existing(session, runtime.settings.tenant, unit_id))


@router.patch("/units/{unit_id}", response_model=OrgUnitPublic)
async def update_unit(unit_id: str, body: OrgUnitUpdate,
                      runtime: Runtime = Depends(runtime_of)) -> OrgUnitPublic:
    """Rename and/or move a unit with its subtree (``"parent_id": null`` moves it to the root).

    Emits "renamed" for a new name, then "moved" for the unit and each unit under it.
    """
    tenant = runtime.settings.tenant
    async with runtime.unit_of_work() as session:
        await store.lock_tree(session, tenant)
        unit = await _existing(session, tenant, unit_id)
        changes: list[OrgUnitChanged] = []
        if domain.is_rename(unit, body.name):
            unit.name = body.name
            changes.append(domain.unit_changed(unit, "renamed"))
        if body.moves and domain.is_move(unit, body.parent_id):
            changes += await _move(session, unit, body.parent_id)
        for change in changes:
            runtime.emit(session, change)
    return to_public(unit)


async def _move(session: AsyncSession, unit: OrgUnit, parent_id: str | None) -> list[OrgUnitChanged]:
    parent = await _usable_parent(session, unit.tenant, parent_id)
    if conflict := domain.move_conflict(unit, parent):
        raise HTTPException(409, conflict)
    moved = await store.move_subtree(session, unit, parent_id, domain.path_under(parent, unit.id))
    return [domain.unit_changed(u, "moved") for u in moved]


@router.post("/units/{unit_id}/deactivate", response_model=OrgUnitPublic)
async def deactivate_unit(unit_id: str, runtime: Runtime = Depends(runtime_of)) -> OrgUnitPublic:
    """Deactivate a unit; refused (409) while active units remain under it."""
    tenant = runtime.settings.tenant
    async with runtime.unit_of_work() as session:
        await store.lock_tree(session, tenant)
        unit = await _existing(session, tenant, unit_id)
        if unit.active:
            if conflict := domain.deactivate_conflict(unit, await store.active_children(session, unit)):
                raise HTTPException(409, conflict)
            unit.active = False
            runtime.emit(session, domain.unit_changed(unit, "deactivated"))
    return to_public(unit)


@router.post("/units/{unit_id}/reactivate", response_model=OrgUnitPublic)
async def reactivate_unit(unit_id: str, runtime: Runtime = Depends(runtime_of)) -> OrgUnitPublic:
    """Reactivate a unit; refused (409) while its parent is deactivated."""
    tenant = runtime.settings.tenant
    async with runtime.unit_of_work() as session:
        await store.lock_tree(session, tenant)
        unit = await _existing(session, tenant, unit_id)
        if not unit.active:
            parent = await store.get_unit(session, tenant, unit.parent_id) if unit.parent_id else None
            if conflict := domain.reactivate_conflict(unit, parent):
                raise HTTPException(409, conflict)
            unit.active = True
            runtime.emit(session, domain.unit_changed(unit, "reactivated"))
    return to_public(unit)
