"""notify's HTTP routes."""

from fastapi import APIRouter, Depends, Query

from services.notify import store
from services.notify.models import NoticePublic
from shared.access import authorize
from shared.auth import Principal
from shared.service import Runtime, runtime_of

router = APIRouter(tags=["inbox"])


@router.get("/inbox/{recipient}", response_model=list[NoticePublic])
async def inbox(
    recipient: str,
    limit: int = Query(100, ge=1, le=1000),
    caller: Principal = Depends(authorize),
    runtime: Runtime = Depends(runtime_of),
) -> list[NoticePublic]:
    """The recipient's in-app notices, newest first."""
    async with runtime.sessions() as session:
        notices = await store.inbox(session, caller.tenant, recipient, limit)
    return [NoticePublic(**n.model_dump(), read=n.read_at is not None) for n in notices]
