"""notify's bus subscriptions."""

from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify import domain, store
from services.notify.models import Notice, OrgUnitCopy
from shared.consumer import Subscription
from shared.events import (
    Envelope, OrgUnitChanged, TaskApproaching, TaskAssigned, TaskDispatched, TaskOverdue, TaskReminded,
    TaskMilestoneMissed, TaskReportMissed, TaskStagnant,
)
from shared.org_copy import copy_handler


def _notice(env: Envelope, recipient: str, task_id: str, message: domain.Message) -> Notice:
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


async def on_task_overdue(event: TaskOverdue, env: Envelope, session: AsyncSession) -> None:
    message = domain.overdue_message(event.title, event.due)
    store.add_notice(session, _notice(env, event.lead_unit, event.task_id, message))


async def on_task_reminded(event: TaskReminded, env: Envelope, session: AsyncSession) -> None:
    message = domain.reminder_message(event.title, event.due, overdue=event.overdue,
                                      comment=event.comment)
    store.add_notice(session, _notice(env, event.lead_unit, event.task_id, message))


async def on_task_approaching(event: TaskApproaching, env: Envelope, session: AsyncSession) -> None:
    message = domain.approaching_message(event.title, event.due)
    store.add_notice(session, _notice(env, event.lead_unit, event.task_id, message))


async def on_task_stagnant(event: TaskStagnant, env: Envelope, session: AsyncSession) -> None:
    message = domain.stagnant_message(event.title, event.idle_working_days)
    store.add_notice(session, _notice(env, event.lead_unit, event.task_id, message))


async def on_report_missed(event: TaskReportMissed, env: Envelope, session: AsyncSession) -> None:
    message = domain.report_missed_message(event.title, event.period, event.report_due)
    store.add_notice(session, _notice(env, event.lead_unit, event.task_id, message))


async def on_task_dispatched(event: TaskDispatched, env: Envelope, session: AsyncSession) -> None:
    message = domain.assigned_message(event.title, event.due)
    store.add_notice(session, _notice(env, event.lead_unit, event.task_id, message))


async def on_milestone_missed(event: TaskMilestoneMissed, env: Envelope, session: AsyncSession) -> None:
    message = domain.milestone_missed_message(event.title, event.milestone, event.due)
    store.add_notice(session, _notice(env, event.lead_unit, event.task_id, message))


SUBSCRIPTIONS = [
    Subscription.to("intake", {TaskAssigned.TYPE: on_task_assigned,
                               OrgUnitChanged.TYPE: copy_handler(OrgUnitCopy)}),
    Subscription.to("tracking", {TaskOverdue.TYPE: on_task_overdue,
                                 TaskReportMissed.TYPE: on_report_missed,
                                 TaskReminded.TYPE: on_task_reminded,
                                 TaskApproaching.TYPE: on_task_approaching,
                                 TaskStagnant.TYPE: on_task_stagnant,
                                 TaskDispatched.TYPE: on_task_dispatched,
                                 TaskMilestoneMissed.TYPE: on_milestone_missed}),
]
