"""intake's HTTP routes."""

from fastapi import APIRouter, Depends, HTTPException
from fastapi.exceptions import RequestValidationError

from services.intake import domain, store
from services.intake.models import Item, ItemCreate, ItemPublic, SourceIn, Task, TaskPublic
from shared.service import Runtime, runtime_of

router = APIRouter(tags=["items"])


def to_public(item: Item, tasks: list[Task]) -> ItemPublic:
    return ItemPublic(
        id=item.id,
        tenant=item.tenant,
        title=item.title,
        source=SourceIn(kind=item.source_kind, ref=item.source_ref),
        registered_at=item.registered_at,
        tasks=[TaskPublic.model_validate(t, from_attributes=True) for t in tasks],
    )


@router.post("/items", status_code=201, response_model=ItemPublic)
async def register_item(body: ItemCreate, runtime: Runtime = Depends(runtime_of)) -> ItemPublic:
    """Register (立项) an item with its tasks; emits item-registered and one task-assigned each."""
    now = runtime.clock.now()
    if errors := domain.deadline_errors(body, now):
        raise RequestValidationError(errors)
    item, tasks = domain.plan_item(body, tenant=runtime.settings.tenant, now=now)
    async with runtime.unit_of_work() as session:
        store.add_item(session, item, tasks)
        for event in domain.registration_events(item, tasks):
            runtime.emit(session, event)
    return to_public(item, tasks)


@router.get("/items/{item_id}", response_model=ItemPublic)
async def get_item(item_id: str, runtime: Runtime = Depends(runtime_of)) -> ItemPublic:
    async with runtime.sessions() as session:
        found = await store.get_item(session, item_id)
    if found is None:
        raise HTTPException(404, f"no item {item_id}")
    return to_public(*found)
