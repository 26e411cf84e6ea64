"""intake's bus subscriptions: its copy of task statuses, and closing items off the ledger."""

from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake import domain, store
from shared.consumer import Subscription
from shared.events import Envelope, ItemClosed, TaskStatusChanged, envelope
from shared.outbox import add_event


async def on_task_status_changed(event: TaskStatusChanged, env: Envelope, session: AsyncSession) -> None:
    found = await store.get_item(session, event.item_id, for_update=True)  # one closer per item
    if found is None:
        return
    item, tasks = found
    for task in tasks:
        # A closed task stays closed: an older event handled late by another replica can't reopen it.
        if task.id == event.task_id and task.status not in domain.CLOSED_TASK_STATUSES:
            task.status = event.to_status
    if item.closed_at is None and domain.closes_item([t.status for t in tasks]):
        item.closed_at = event.at
        closed = ItemClosed(item_id=item.id, number=item.number, title=item.title,
                            closed_at=event.at, tasks_total=len(tasks))
        add_event(session, envelope(closed, source="/duban/intake", tenant=env.tenant, time=event.at))


SUBSCRIPTIONS = [Subscription.to("tracking", {TaskStatusChanged.TYPE: on_task_status_changed})]
