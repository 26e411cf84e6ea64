"""scoring's bus subscriptions."""

from sqlmodel.ext.asyncio.session import AsyncSession

from services.scoring import domain, store
from services.scoring.models import LedgerEntry, OrgUnitCopy
from shared.consumer import Subscription
from shared.events import Envelope, OrgUnitChanged, TaskAssigned, TaskOverdue
from shared.org_copy import copy_handler


async def on_task_assigned(event: TaskAssigned, env: Envelope, session: AsyncSession) -> None:
    await store.count(session, env.tenant, event.lead_unit, assigned=1)


async def on_task_overdue(event: TaskOverdue, env: Envelope, session: AsyncSession) -> None:
    await store.count(session, env.tenant, event.lead_unit, overdue=1)
    points = domain.points_for_overdue()
    store.add_entry(
        session,
        LedgerEntry(
            tenant=env.tenant,
            unit=event.lead_unit,
            points=points.points,
            rule=points.rule,
            reason=points.reason,
            task_id=event.task_id,
            cause_event_id=env.id,
            recorded_at=env.time,
        ),
    )


SUBSCRIPTIONS = [
    Subscription.to("intake", {TaskAssigned.TYPE: on_task_assigned,
                               OrgUnitChanged.TYPE: copy_handler(OrgUnitCopy)}),
    Subscription.to("tracking", {TaskOverdue.TYPE: on_task_overdue}),
]
