"""tracking's bus subscriptions: a handler per event type, plain functions."""

from sqlmodel.ext.asyncio.session import AsyncSession

from services.tracking import domain, store
from services.tracking.models import OrgUnitCopy, TaskMilestone, TrackedTask
from shared.consumer import Subscription
from shared.org_copy import copy_handler
from shared.events import Envelope, OrgUnitChanged, TaskAssigned, TaskDeadlineChanged, envelope
from shared.outbox import add_event


async def on_task_assigned(event: TaskAssigned, env: Envelope, session: AsyncSession) -> None:
    calendar = await store.counting_calendar(session)
    due, fallback = domain.resolve_due(due=event.due, working_days=event.due_working_days,
                                       assigned_at=env.time, calendar=calendar)
    task = TrackedTask(
        id=event.task_id,
        tenant=env.tenant,
        item_id=event.item_id,
        item_number=event.item_number,
        title=event.title,
        lead_unit=event.lead_unit,
        co_units=event.co_units,
        responsible_person=event.responsible_person,
        source_kind=event.source_kind,
        regime=event.regime,
        urgency=event.urgency,
        supervisor=event.supervisor,
        reporting_cycle=event.reporting_cycle,
        report_due_day=event.report_due_day,
        due=due,
        due_working_days=event.due_working_days,
        calendar_fallback=fallback,
        assigned_at=env.time,
    )
    task.next_reminder_at = domain.next_reminder_for(task, after=env.time, calendar=calendar)
    task.yellow_at = domain.yellow_at(assigned_at=task.assigned_at, due=due, calendar=calendar)
    task.stagnant_at = domain.stagnant_at(last_activity=env.time, calendar=calendar)
    await store.add_task(session, task)
    await store.add_milestones(session, [
        TaskMilestone(task_id=task.id, position=i, title=m.title, due=m.due)
        for i, m in enumerate(event.milestones)
    ])
    if event.due is None:  # counted here: say when it falls, for those who only hear events
        counted = TaskDeadlineChanged(
            task_id=task.id, item_id=task.item_id, title=task.title, lead_unit=task.lead_unit, due=due,
            reason=f"counted: {event.due_working_days} working days from assignment")
        add_event(session, envelope(counted, source="/duban/tracking", tenant=env.tenant, time=env.time))


SUBSCRIPTIONS = [
    Subscription.to("intake", {TaskAssigned.TYPE: on_task_assigned,
                               OrgUnitChanged.TYPE: copy_handler(OrgUnitCopy)}),
]
