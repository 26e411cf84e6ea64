"""intake's HTTP routes for the org-unit tree. Every change emits one org-unit-changed event per
unit whose state changed, in the transaction that changes it."""

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import APIRouter, Depends, HTTPException
from fastapi.exceptions import RequestValidationError

from services.intake import domain, org, store
from services.intake.access import require_in_scope
from services.intake.models import OrgUnit, OrgUnitCreate, OrgUnitPublic, OrgUnitUpdate
from shared.access import authorize
from shared.auth import Principal
from shared.service import Runtime, runtime_of

router = APIRouter(tags=["units"])


def to_public(unit: OrgUnit) -> OrgUnitPublic:
    return OrgUnitPublic(id=unit.id, name=unit.name, parent_id=unit.parent_id, active=unit.active,
                         path=domain.decode_path(unit.path))


@contextmanager
def refusals_as_http() -> Iterator[None]:
    try:
        yield
    except org.UnitNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except org.UnitConflict as exc:
        raise HTTPException(409, str(exc)) from None
    except org.BadParent as exc:
        raise RequestValidationError(exc.errors) from None


@router.post("/units", status_code=201, response_model=OrgUnitPublic)
async def create_unit(body: OrgUnitCreate, runtime: Runtime = Depends(runtime_of),
                      caller: Principal = Depends(authorize)) -> OrgUnitPublic:
    """Create a unit, at the root or under an active parent."""
    with refusals_as_http():
        async with runtime.unit_of_work() as session:
            await require_in_scope(caller, session, [body.parent_id])
            unit, changes = await org.create(session, caller.tenant, body)
            runtime.emit_all(session, changes, tenant=caller.tenant)
    return to_public(unit)


@router.get("/units", response_model=list[OrgUnitPublic])
async def list_units(under: str | None = None, active: bool | None = None,
                     runtime: Runtime = Depends(runtime_of),
                     caller: Principal = Depends(authorize)) -> list[OrgUnitPublic]:
    """The tenant's units in tree order; ``under`` keeps one subtree (that unit included). A caller
    limited to a subtree who leaves ``under`` out gets its own subtree."""
    with refusals_as_http():
        async with runtime.sessions() as session:
            if under:
                root = await org.existing(session, caller.tenant, under)
            elif caller.unit:
                root = await store.get_unit(session, caller.tenant, caller.unit)
                if root is None:
                    return []  # a unit the tree does not know (yet) has nothing under it
            else:
                root = None
            units = await store.list_units(session, caller.tenant, under=root, active=active)
    return [to_public(u) for u in units]


@router.get("/units/{unit_id}", response_model=OrgUnitPublic)
async def get_unit(unit_id: str, runtime: Runtime = Depends(runtime_of),
                   caller: Principal = Depends(authorize)) -> OrgUnitPublic:
    with refusals_as_http():
        async with runtime.sessions() as session:
            return to_public(await org.existing(session, caller.tenant, unit_id))


@router.patch("/units/{unit_id}", response_model=OrgUnitPublic)
async def update_unit(unit_id: str, body: OrgUnitUpdate, runtime: Runtime = Depends(runtime_of),
                      caller: Principal = Depends(authorize)) -> OrgUnitPublic:
    """Rename and/or move a unit with its subtree (``"parent_id": null`` moves it to the root).

    Emits "renamed" for a new name, then "moved" for the unit and each unit under it.
    """
    with refusals_as_http():
        async with runtime.unit_of_work() as session:
            if body.moves:
                await require_in_scope(caller, session, [body.parent_id])
            unit, changes = await org.update(session, caller.tenant, unit_id, name=body.name,
                                             moves=body.moves, parent_id=body.parent_id)
            runtime.emit_all(session, changes, tenant=caller.tenant)
    return to_public(unit)


@router.post("/units/{unit_id}/deactivate", response_model=OrgUnitPublic)
async def deactivate_unit(unit_id: str, runtime: Runtime = Depends(runtime_of),
                          caller: Principal = Depends(authorize)) -> OrgUnitPublic:
    """Deactivate a unit; refused (409) while active units remain under it."""
    return await _set_active(runtime, caller.tenant, unit_id, False)


@router.post("/units/{unit_id}/reactivate", response_model=OrgUnitPublic)
async def reactivate_unit(unit_id: str, runtime: Runtime = Depends(runtime_of),
                          caller: Principal = Depends(authorize)) -> OrgUnitPublic:
    """Reactivate a unit; refused (409) while its parent is deactivated."""
    return await _set_active(runtime, caller.tenant, unit_id, True)


async def _set_active(runtime: Runtime, tenant: str, unit_id: str, active: bool) -> OrgUnitPublic:
    with refusals_as_http():
        async with runtime.unit_of_work() as session:
            unit, changes = await org.set_active(session, tenant, unit_id, active)
            runtime.emit_all(session, changes, tenant=tenant)
    return to_public(unit)
