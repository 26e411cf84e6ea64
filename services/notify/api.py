"""notify's HTTP routes: inboxes, and the office's view of deliveries (list, look into, re-send)."""

from fastapi import APIRouter, Depends, HTTPException, Query

from services.notify import store
from services.notify.models import (
    AttemptPublic, Delivery, DeliveryDetail, DeliveryPublic, NoticePublic, ReadRequest,
)
from shared.access import authorize
from shared.auth import Principal
from shared.service import Runtime, runtime_of

router = APIRouter(tags=["inbox and deliveries"])


@router.get("/inbox/{recipient}", response_model=list[NoticePublic])
async def inbox(
    recipient: str,
    limit: int = Query(100, ge=1, le=1000),
    unread: bool = Query(False, description="only the notices not read yet"),
    caller: Principal = Depends(authorize),
    runtime: Runtime = Depends(runtime_of),
) -> list[NoticePublic]:
    """The recipient's (a unit's or a person's) in-app notices, newest first."""
    async with runtime.sessions() as session:
        notices = await store.inbox(session, caller.tenant, recipient, limit, unread_only=unread)
    return [NoticePublic(**n.model_dump(), read=n.read_at is not None) for n in notices]


@router.post("/inbox/{recipient}/read", response_model=dict)
async def mark_read(recipient: str, body: ReadRequest, caller: Principal = Depends(authorize),
                    runtime: Runtime = Depends(runtime_of)) -> dict:
    """Mark notices read (``ids``, or every unread one); answers how many were unread."""
    async with runtime.unit_of_work() as session:
        marked = await store.mark_read(session, caller.tenant, recipient, body.ids, runtime.clock.now())
    return {"marked": marked}


def _public(d: Delivery) -> DeliveryPublic:
    return DeliveryPublic(**d.model_dump(include=set(DeliveryPublic.model_fields)))


@router.get("/deliveries", response_model=list[DeliveryPublic])
async def deliveries(
    status: str | None = Query(None, pattern="^(pending|sent|dead)$", description="dead: the dead letters"),
    channel: str | None = None, recipient: str | None = None,
    cause: str | None = Query(None, description="the id of the event that caused them"),
    limit: int = Query(100, ge=1, le=1000),
    caller: Principal = Depends(authorize), runtime: Runtime = Depends(runtime_of),
) -> list[DeliveryPublic]:
    """Deliveries on every channel, newest first: ``status=dead`` lists the failed ones."""
    async with runtime.sessions() as session:
        found = await store.deliveries(session, caller.tenant, status=status, channel=channel,
                                       recipient=recipient, cause=cause, limit=limit)
    return [_public(d) for d in found]


async def _delivery(session, caller: Principal, delivery_id: str, *, lock: bool = False) -> Delivery:
    found = await session.get(Delivery, delivery_id, with_for_update=lock or None)
    if found is None or found.tenant != caller.tenant:
        raise HTTPException(404, f"no delivery {delivery_id}")
    return found


@router.get("/deliveries/{delivery_id}", response_model=DeliveryDetail)
async def delivery(delivery_id: str, caller: Principal = Depends(authorize),
                   runtime: Runtime = Depends(runtime_of)) -> DeliveryDetail:
    """A delivery with every attempt (when, outcome, error, duration)."""
    async with runtime.sessions() as session:
        found = await _delivery(session, caller, delivery_id)
        history = [AttemptPublic(**a.model_dump()) for a in await store.attempts(session, delivery_id)]
    return DeliveryDetail(**_public(found).model_dump(), body=found.body, link=found.link, history=history)


@router.post("/deliveries/{delivery_id}/resend", response_model=DeliveryPublic,
             responses={409: {"description": "only a dead delivery is re-sent"}})
async def resend(delivery_id: str, caller: Principal = Depends(authorize),
                 runtime: Runtime = Depends(runtime_of)) -> DeliveryPublic:
    """Send a dead delivery again, with a fresh round of attempts (its history stays)."""
    async with runtime.unit_of_work() as session:
        found = await _delivery(session, caller, delivery_id, lock=True)
        if found.status != "dead":
            raise HTTPException(409, f"delivery {delivery_id} is {found.status}; only a dead one is re-sent")
        found.status, found.attempts, found.next_attempt_at = "pending", 0, runtime.clock.now()
        found.deferred_reason = f"re-sent by {caller.subject}"
        return _public(found)
