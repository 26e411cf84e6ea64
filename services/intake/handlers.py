"""intake's bus subscriptions: its copy of task statuses, closing items off the ledger, the OA's
org chart, and follow-up items for assessment actions."""

from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake import domain, org, store
from shared.consumer import PoisonMessage, Subscription
from shared.events import (
    ActionTriggered,
    Envelope,
    ItemClosed,
    OaOrgUnitUpdated,
    TaskStatusChanged,
    envelope,
)
from shared.outbox import add_event


async def on_task_status_changed(event: TaskStatusChanged, env: Envelope, session: AsyncSession) -> None:
    found = await store.find_item(session, event.item_id, for_update=True)  # one closer per item
    if found is None:
        return
    item, tasks = found
    if item.tenant != env.tenant:  # never apply one tenant's event to another's data: report it
        raise PoisonMessage(f"event of tenant {env.tenant} names item {item.id} of another tenant")
    for task in tasks:
        # A closed task stays closed: an older event handled late by another replica can't reopen it.
        if task.id == event.task_id and task.status not in domain.CLOSED_TASK_STATUSES:
            task.status = event.to_status
    if item.closed_at is None and domain.closes_item([t.status for t in tasks]):
        item.closed_at = event.at
        closed = ItemClosed(item_id=item.id, number=item.number, title=item.title,
                            closed_at=event.at, tasks_total=len(tasks))
        add_event(session, envelope(closed, source="/duban/intake", tenant=env.tenant, time=event.at))


async def on_oa_org_unit_updated(event: OaOrgUnitUpdated, env: Envelope, session: AsyncSession) -> None:
    """Follow the OA's org chart. A change the tree can't take yet (e.g. a parent the OA has not
    reported) raises, so the event is retried later and dead-lettered with the reason if it never fits."""
    for change in await org.follow_oa(session, env.tenant, event, env.time):
        add_event(session, envelope(change, source="/duban/intake", tenant=env.tenant, time=env.time))


async def on_action_triggered(event: ActionTriggered, env: Envelope, session: AsyncSession) -> None:
    """Open the follow-up item the rule set calls for (e.g. a written answer to a 函询), counted
    from when the action was triggered. The action's event id is unique, so it opens one item."""
    if event.follow_up_working_days is None:
        return
    body = domain.follow_up_item(event, event_id=env.id)
    item, tasks = await store.open_item(session, body, tenant=env.tenant, now=env.time)
    for data in domain.registration_events(item, tasks):
        add_event(session, envelope(data, source="/duban/intake", tenant=env.tenant, time=env.time))


SUBSCRIPTIONS = [
    Subscription.to("tracking", {TaskStatusChanged.TYPE: on_task_status_changed}),
    Subscription.to("oa", {OaOrgUnitUpdated.TYPE: on_oa_org_unit_updated}, strict=True),
    Subscription.to("scoring", {ActionTriggered.TYPE: on_action_triggered}),
]
