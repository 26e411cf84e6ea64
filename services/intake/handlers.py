"""intake's bus subscriptions: its copy of task statuses, closing items off the ledger, the OA's
org chart, people and leaders' instructions, and follow-up items for assessment actions."""

from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake import domain, org, people, store
from services.intake.models import IdempotencyKey
from shared.consumer import PoisonMessage, Subscription
from shared.events import (
    ActionTriggered,
    Envelope,
    ItemClosed,
    OaInstructionIssued,
    OaOrgUnitUpdated,
    OaPersonUpdated,
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


async def on_oa_person_updated(event: OaPersonUpdated, env: Envelope, session: AsyncSession) -> None:
    """Follow the OA's people. A person in a unit the tree does not know yet raises, so the event is
    retried later (the unit's own event may be on its way) and dead-lettered if it never comes."""
    for change in await people.follow_oa(session, env.tenant, event, env.time):
        add_event(session, envelope(change, source="/duban/intake", tenant=env.tenant, time=env.time))


async def on_oa_instruction_issued(event: OaInstructionIssued, env: Envelope, session: AsyncSession) -> None:
    """Register a leader's instruction as an item with its tasks, as of the instruction's time.

    One item per tenant and instruction id, whatever the number of deliveries, message ids, event
    ids or replicas: the instruction's idempotency key and fingerprint are stored with the item
    (under a lock), so the same instruction again changes nothing and the same id with other content
    is dead-lettered with the reason, as is an instruction the API would refuse (two deadlines or
    none on a task, a deadline not after the instruction's time)."""
    key = domain.instruction_key(event.instruction_id)
    fingerprint = domain.instruction_fingerprint(event)
    await store.lock_key(session, env.tenant, key)
    if (earlier := await store.find_key(session, env.tenant, key)) is not None:
        if earlier.request_hash == fingerprint:
            return
        found = await store.get_item(session, env.tenant, earlier.item_id)
        number = found[0].number if found else earlier.item_id
        raise PoisonMessage(f"instruction {event.instruction_id} was already registered as item "
                            f"{number} with other content")
    try:
        body = domain.instruction_item(event)
    except domain.BadInstruction as exc:
        raise PoisonMessage(str(exc)) from None
    if problems := domain.instruction_deadline_problems(body, env.time):
        raise PoisonMessage(f"instruction {event.instruction_id}: {problems}")
    item, tasks = await store.open_item(session, body, tenant=env.tenant, now=env.time)
    store.add_key(session, IdempotencyKey(tenant=env.tenant, key=key, request_hash=fingerprint,
                                          item_id=item.id, created_at=env.time))
    for data in domain.registration_events(item, tasks):
        add_event(session, envelope(data, source="/duban/intake", tenant=env.tenant, time=env.time))


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
    Subscription.to("oa", {OaOrgUnitUpdated.TYPE: on_oa_org_unit_updated,
                           OaPersonUpdated.TYPE: on_oa_person_updated,
                           OaInstructionIssued.TYPE: on_oa_instruction_issued}, strict=True),
    Subscription.to("scoring", {ActionTriggered.TYPE: on_action_triggered}),
]
