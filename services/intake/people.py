"""Changing a tenant's people directory: the commands behind the people API and the OA's person events.

Each command takes the person's lock, checks the person's unit against the org tree, changes the
row and returns the person-changed events to stage in the same transaction (none when nothing
changed). Refusals are exceptions, so the caller decides what they mean (an HTTP status for the API,
a retry for an OA event whose unit has not arrived yet).
"""

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake import domain, store
from services.intake.models import Person
from shared.events import OaPersonUpdated, PersonChanged, PersonFields

Changes = list[PersonChanged]


class PersonNotFound(LookupError):
    pass


class PersonExists(Exception):
    pass


class BadUnit(ValueError):
    """The person's unit is not in the tenant's tree; ``errors`` in FastAPI's 422 shape."""

    def __init__(self, errors: list[dict]):
        super().__init__("; ".join(e["msg"] for e in errors))
        self.errors = errors


async def _check_unit(session: AsyncSession, tenant: str, unit_id: str | None) -> None:
    unit = await store.get_unit(session, tenant, unit_id) if unit_id else None
    if errors := domain.person_unit_errors(unit_id, unit):
        raise BadUnit(errors)


async def _put(session: AsyncSession, tenant: str, person: Person | None,
               fields: PersonFields) -> tuple[Person, Changes]:
    """Bring the person (None: a new one) to ``fields``; the change it makes, if any."""
    fields = domain.person_fields(fields)
    before = domain.person_state(person) if person is not None else None
    change = domain.person_change(before, fields)
    if change is None:
        return person, []
    if before is None or fields.unit_id != before.unit_id:
        await _check_unit(session, tenant, fields.unit_id)
    if person is None:
        person = domain.new_person(tenant, fields)
        session.add(person)
    else:
        domain.apply_person(person, fields)
    return person, [domain.person_changed(fields, change)]


async def existing(session: AsyncSession, tenant: str, person_id: str) -> Person:
    person = await store.get_person(session, tenant, person_id)
    if person is None:
        raise PersonNotFound(f"no person {person_id}")
    return person


async def create(session: AsyncSession, tenant: str, fields: PersonFields) -> tuple[Person, Changes]:
    await store.lock_person(session, tenant, fields.person_id)
    if await store.get_person(session, tenant, fields.person_id) is not None:
        raise PersonExists(f"person {fields.person_id} already exists")
    return await _put(session, tenant, None, fields)


async def replace(session: AsyncSession, tenant: str, fields: PersonFields) -> tuple[Person, Changes]:
    """Give an existing person a whole new state (no event when it is the same)."""
    await store.lock_person(session, tenant, fields.person_id)
    return await _put(session, tenant, await existing(session, tenant, fields.person_id), fields)


async def follow_oa(session: AsyncSession, tenant: str, event: OaPersonUpdated, at: datetime) -> Changes:
    """Bring a person to the state the OA reported at ``at``, creating them if new.

    A report older than the last one applied is ignored (a retried OA event must not undo a newer
    one); a unit the tree does not know yet raises BadUnit, so the event is retried later.
    """
    await store.lock_person(session, tenant, event.person_id)
    person = await store.get_person(session, tenant, event.person_id)
    if person is not None and person.oa_reported_at is not None and at <= person.oa_reported_at:
        return []
    person, changes = await _put(session, tenant, person, event)
    person.oa_reported_at = at
    return changes
