"""notify's bus subscriptions."""

from collections.abc import Callable
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify import domain, store
from services.notify.models import Notice, OrgUnitCopy
from shared.consumer import Subscription
from shared.events import (
    ActionTriggered, BulletinIssued, Envelope, OrgUnitChanged, TaskApproaching, TaskAssigned, TaskDispatched, TaskOverdue, TaskReminded,
    TaskMilestoneMissed, TaskReportMissed, TaskStagnant,
)
from shared.org_copy import copy_handler


def _notice(env: Envelope, recipient: str, task_id: str | None, message: domain.Message) -> Notice:
    return Notice(
        tenant=env.tenant,
        recipient=recipient,
        kind=message.kind,
        task_id=task_id,
        title=message.title,
        body=message.body,
        cause_event_id=env.id,
        created_at=env.time,
    )


async def on_task_assigned(event: TaskAssigned, env: Envelope, session: AsyncSession) -> None:
    message = domain.assigned_message(event.title, event.due, event.due_working_days)
    for unit in domain.assignment_recipients(event.lead_unit, event.co_units):
        store.add_notice(session, _notice(env, unit, event.task_id, message))


def to_lead_unit(compose: Callable[[Any], domain.Message]):
    """A handler that puts ``compose(event)`` in the inbox of the task's lead unit."""

    async def handle(event: Any, env: Envelope, session: AsyncSession) -> None:
        store.add_notice(session, _notice(env, event.lead_unit, event.task_id, compose(event)))

    return handle


FROM_TRACKING = {
    TaskOverdue.TYPE: to_lead_unit(lambda e: domain.overdue_message(e.title, e.due)),
    TaskReminded.TYPE: to_lead_unit(
        lambda e: domain.reminder_message(e.title, e.due, overdue=e.overdue, comment=e.comment)),
    TaskApproaching.TYPE: to_lead_unit(lambda e: domain.approaching_message(e.title, e.due)),
    TaskStagnant.TYPE: to_lead_unit(lambda e: domain.stagnant_message(e.title, e.idle_working_days)),
    TaskReportMissed.TYPE: to_lead_unit(
        lambda e: domain.report_missed_message(e.title, e.period, e.report_due)),
    TaskDispatched.TYPE: to_lead_unit(lambda e: domain.assigned_message(e.title, e.due)),
    TaskMilestoneMissed.TYPE: to_lead_unit(
        lambda e: domain.milestone_missed_message(e.title, e.milestone, e.due)),
}


async def on_bulletin(event: BulletinIssued, env: Envelope, session: AsyncSession) -> None:
    message = domain.bulletin_message(event.kind, event.issuer, event.reason, event.persons)
    for unit in dict.fromkeys(event.units):
        store.add_notice(session, _notice(env, unit, None, message))


async def on_action(event: ActionTriggered, env: Envelope, session: AsyncSession) -> None:
    message = domain.action_message(event.kind, event.reason, event.persons)
    store.add_notice(session, _notice(env, event.unit, None, message))


SUBSCRIPTIONS = [
    Subscription.to("intake", {TaskAssigned.TYPE: on_task_assigned,
                               OrgUnitChanged.TYPE: copy_handler(OrgUnitCopy)}),
    Subscription.to("tracking", FROM_TRACKING),
    Subscription.to("scoring", {BulletinIssued.TYPE: on_bulletin, ActionTriggered.TYPE: on_action}),
]
