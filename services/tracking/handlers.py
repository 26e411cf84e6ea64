"""tracking's bus subscriptions: a handler per event type, plain functions."""

from sqlmodel.ext.asyncio.session import AsyncSession

from services.tracking import store
from services.tracking.models import TrackedTask
from shared.consumer import Subscription
from shared.events import Envelope, TaskAssigned


async def on_task_assigned(event: TaskAssigned, env: Envelope, session: AsyncSession) -> None:
    await store.add_task(
        session,
        TrackedTask(
            id=event.task_id,
            tenant=env.tenant,
            item_id=event.item_id,
            title=event.title,
            lead_unit=event.lead_unit,
            co_units=event.co_units,
            due=event.due,
            assigned_at=env.time,
        ),
    )


SUBSCRIPTIONS = [Subscription.to("intake", {TaskAssigned.TYPE: on_task_assigned})]
