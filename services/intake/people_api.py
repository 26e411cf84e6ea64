"""intake's HTTP routes for the people directory (the OA keeps it in step too, by events). Every
change emits one person-changed event with the person's whole state, in the transaction that makes it."""

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import APIRouter, Depends, HTTPException
from fastapi.exceptions import RequestValidationError

from services.intake import domain, org, people, store
from services.intake.access import require_in_scope
from services.intake.models import Person, PersonCreate, PersonPublic, PersonReplace
from shared.access import authorize
from shared.auth import Principal
from shared.events import PersonRole
from shared.service import Runtime, runtime_of

router = APIRouter(tags=["people"])


def to_public(person: Person) -> PersonPublic:
    return PersonPublic(**domain.person_state(person).model_dump())


@contextmanager
def refusals_as_http() -> Iterator[None]:
    try:
        yield
    except (people.PersonNotFound, org.UnitNotFound) as exc:
        raise HTTPException(404, str(exc)) from None
    except people.PersonExists as exc:
        raise HTTPException(409, str(exc)) from None
    except people.BadUnit as exc:
        raise RequestValidationError(exc.errors) from None


@router.post("/people", status_code=201, response_model=PersonPublic,
             responses={409: {"description": "the person exists"}})
async def create_person(body: PersonCreate, runtime: Runtime = Depends(runtime_of),
                        caller: Principal = Depends(authorize)) -> PersonPublic:
    """Add a person (in a unit of the tenant's tree, or none); emits person-changed "created"."""
    with refusals_as_http():
        async with runtime.unit_of_work() as session:
            await require_in_scope(caller, session, [body.unit_id])
            person, changes = await people.create(session, caller.tenant, body)
            runtime.emit_all(session, changes, tenant=caller.tenant)
    return to_public(person)


@router.put("/people/{person_id}", response_model=PersonPublic,
            responses={404: {"description": "no such person"}})
async def replace_person(person_id: str, body: PersonReplace, runtime: Runtime = Depends(runtime_of),
                         caller: Principal = Depends(authorize)) -> PersonPublic:
    """Replace a person's whole state (a field left out takes its default); emits person-changed
    ("updated", "deactivated" or "reactivated") unless nothing changed."""
    if body.person_id not in (None, person_id):
        raise RequestValidationError([{"loc": ["body", "person_id"], "type": "value_error.id_mismatch",
                                       "msg": f"the body names person {body.person_id}, the path {person_id}",
                                       "input": body.person_id}])
    fields = PersonCreate(**{**body.model_dump(), "person_id": person_id})
    with refusals_as_http():
        async with runtime.unit_of_work() as session:
            await require_in_scope(caller, session, [body.unit_id])
            person, changes = await people.replace(session, caller.tenant, fields)
            runtime.emit_all(session, changes, tenant=caller.tenant)
    return to_public(person)


@router.get("/people", response_model=list[PersonPublic])
async def list_people(unit: str | None = None, include_sub_units: bool = True, active: bool | None = None,
                      role: PersonRole | None = None, runtime: Runtime = Depends(runtime_of),
                      caller: Principal = Depends(authorize)) -> list[PersonPublic]:
    """The tenant's people by id. ``unit`` keeps those of a unit and the units below it
    (``include_sub_units=false``: the unit alone); a caller limited to a subtree who leaves it out
    gets the people of its subtree. ``active`` and ``role`` filter further."""
    with refusals_as_http():
        async with runtime.sessions() as session:
            if unit:
                under = await org.existing(session, caller.tenant, unit)
            elif caller.unit:
                under = await store.get_unit(session, caller.tenant, caller.unit)
                if under is None:
                    return []  # a unit the tree does not know (yet) has nobody in it
            else:
                under = None
            found = await store.list_people(session, caller.tenant, under=under,
                                            sub_units=include_sub_units or not unit, active=active)
    return [to_public(p) for p in found if role is None or role in p.roles]


@router.get("/people/{person_id}", response_model=PersonPublic)
async def get_person(person_id: str, runtime: Runtime = Depends(runtime_of),
                     caller: Principal = Depends(authorize)) -> PersonPublic:
    with refusals_as_http():
        async with runtime.sessions() as session:
            return to_public(await people.existing(session, caller.tenant, person_id))
