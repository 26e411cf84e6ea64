"""intake's HTTP routes."""

from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Response
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import IntegrityError

from services.intake import domain, store
from services.intake.access import require_in_scope, task_units, visible_items
from services.intake.models import (
    IdempotencyKey, Item, ItemCreate, ItemPublic, Progress, SourceIn, Task, TaskPublic, TasksAdd,
)
from shared.access import authorize
from shared.auth import Principal
from shared.service import Runtime, runtime_of
from shared.telemetry import current_trace_id

router = APIRouter(tags=["items"])


def to_public(item: Item, tasks: list[Task], trace_id: str | None = None) -> ItemPublic:
    return ItemPublic(
        id=item.id,
        number=item.number,
        tenant=item.tenant,
        title=item.title,
        source=SourceIn(kind=item.source_kind, ref=item.source_ref),
        regime=item.regime,
        urgency=item.urgency,
        supervising_leader=item.supervising_leader,
        supervisor=item.supervisor,
        requirements=item.requirements,
        attachments=item.attachments,
        registered_at=item.registered_at,
        status="closed" if item.closed_at else "open",
        progress=Progress(**dict(zip(("closed", "total"), domain.progress([t.status for t in tasks]),
                                     strict=True))),
        closed_at=item.closed_at,
        tasks=[TaskPublic.model_validate(t, from_attributes=True) for t in tasks],
        trace_id=trace_id,
    )


@router.post("/items", status_code=201, response_model=ItemPublic)
async def register_item(
    body: ItemCreate,
    response: Response,
    runtime: Runtime = Depends(runtime_of),
    caller: Principal = Depends(authorize),
    idempotency_key: str | None = Header(None, min_length=1, max_length=255),
) -> ItemPublic:
    """Register (立项) an item with its tasks; emits item-registered and one task-assigned each.

    With an ``Idempotency-Key`` header the same request again returns the first item
    (``Idempotent-Replayed: true``) instead of creating another. Numbers and keys are per tenant.
    """
    tenant = caller.tenant
    if idempotency_key and idempotency_key.startswith(domain.INSTRUCTION_KEY_PREFIX):
        raise HTTPException(422, f"Idempotency-Keys starting with {domain.INSTRUCTION_KEY_PREFIX!r} "
                                 "are the OA's instructions'")
    async with runtime.sessions() as session:
        await require_in_scope(caller, session, task_units(body.tasks))
    fingerprint = domain.request_fingerprint(body)
    if idempotency_key and (earlier := await _replay(runtime, tenant, idempotency_key, fingerprint)):
        response.headers["Idempotent-Replayed"] = "true"
        return earlier
    now = runtime.clock.now()
    if errors := domain.deadline_errors(body.tasks, now):
        raise RequestValidationError(errors)
    try:
        item, tasks = await _register(runtime, caller, body, now, idempotency_key, fingerprint)
    except IntegrityError:
        # A concurrent request with the same key committed first: answer with its item.
        if idempotency_key and (earlier := await _replay(runtime, tenant, idempotency_key, fingerprint)):
            response.headers["Idempotent-Replayed"] = "true"
            return earlier
        raise
    return to_public(item, tasks, current_trace_id())


async def _register(runtime: Runtime, caller: Principal, body: ItemCreate, now, key: str | None,
                    fingerprint: str) -> tuple[Item, list[Task]]:
    tenant = caller.tenant
    async with runtime.unit_of_work() as session:
        item, tasks = await store.open_item(session, body, tenant=tenant, now=now)
        if key:
            store.add_key(session, IdempotencyKey(tenant=tenant, key=key, request_hash=fingerprint,
                                                  item_id=item.id, created_at=now))
        runtime.emit_all(session, domain.registration_events(item, tasks), tenant=tenant)
    return item, tasks


@router.post("/items/{item_id}/tasks", status_code=201, response_model=ItemPublic,
             responses={404: {"description": "no such item"},
                        409: {"description": "the item is closed off the ledger"}})
async def add_tasks(item_id: str, body: TasksAdd, runtime: Runtime = Depends(runtime_of),
                    caller: Principal = Depends(authorize)) -> ItemPublic:
    """Add tasks to a registered item (a later decomposition); one task-assigned each."""
    now = runtime.clock.now()
    if errors := domain.deadline_errors(body.tasks, now):
        raise RequestValidationError(errors)
    async with runtime.unit_of_work() as session:
        found = await store.get_item(session, caller.tenant, item_id, for_update=True)
        if found is None:
            raise HTTPException(404, f"no item {item_id}")
        item, tasks = found
        await require_in_scope(caller, session, task_units(body.tasks))
        if item.closed_at is not None:
            raise HTTPException(409, f"item {item.number} is closed off the ledger (销号)")
        added = domain.plan_tasks(item, body.tasks, first_position=len(tasks))
        session.add_all(added)
        runtime.emit_all(session, domain.assignment_events(item, added), tenant=caller.tenant)
    return to_public(item, [*tasks, *added])


async def _replay(runtime: Runtime, tenant: str, key: str, fingerprint: str) -> ItemPublic | None:
    async with runtime.sessions() as session:
        earlier = await store.find_key(session, tenant, key)
        if earlier is None:
            return None
        if earlier.request_hash != fingerprint:
            raise HTTPException(422, f"Idempotency-Key {key!r} was already used for a different request")
        traces = await store.traces_of(session, [earlier.item_id])
        return to_public(*await store.get_item(session, tenant, earlier.item_id),
                         traces.get(earlier.item_id))


@router.get("/items", response_model=list[ItemPublic])
async def items_supervised(
    supervising_leader: Annotated[list[str], Query(min_length=1, description=(
        "the supervising leader (督办领导) as the items name them: a person id or a name; "
        "several: any of them"))],
    open_only: bool = Query(False, alias="open", description="only items not closed off the ledger"),
    limit: int = Query(100, ge=1, le=500),
    runtime: Runtime = Depends(runtime_of),
    caller: Principal = Depends(authorize),
) -> list[ItemPublic]:
    """The items a leader supervises, newest first (a caller limited to a unit: those of its scope)."""
    leaders = [name.strip() for name in supervising_leader if name.strip()]
    if not leaders:
        raise HTTPException(422, "name the supervising leader")
    async with runtime.sessions() as session:
        found = await store.items_supervised_by(session, caller.tenant, leaders,
                                                open_only=open_only, limit=limit)
        found = await visible_items(caller, session, found)
        traces = await store.traces_of(session, [item.id for item, _ in found])
    return [to_public(item, tasks, traces.get(item.id)) for item, tasks in found]


@router.get("/items/{item_id}", response_model=ItemPublic)
async def get_item(item_id: str, runtime: Runtime = Depends(runtime_of),
                   caller: Principal = Depends(authorize)) -> ItemPublic:
    async with runtime.sessions() as session:
        found = await store.get_item(session, caller.tenant, item_id)
        if found is not None:
            traces = await store.traces_of(session, [item_id])
    if found is None:
        raise HTTPException(404, f"no item {item_id}")
    return to_public(*found, traces.get(item_id))
