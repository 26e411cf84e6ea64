"""notify's bus subscriptions: every notice a unit or person should get, on every channel they
use, and every Duban event the tenant's OA wants pushed to its webhook.

A handler only writes rows in the consumer's transaction (in-app notices and pending deliveries);
the dispatcher (dispatch.py) sends the deliveries, so no channel slows the bus down.
"""

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify import domain, store
from services.notify.channels import ChannelSettings, build_channels
from services.notify.config import DeliverySettings
from services.notify.models import CalendarYearCopy, Delivery, ItemLeader, Notice, OrgUnitCopy, PersonCopy, TaskCopy
from shared.consumer import Subscription
from shared.events import (
    CATALOGUE, ActionTriggered, BulletinIssued, CalendarChanged, Envelope, ItemRegistered, OrgUnitChanged,
    PersonChanged, TaskApproaching, TaskAssigned, TaskDeadlineChanged, TaskDispatched, TaskExtensionDecided,
    TaskMilestoneMissed, TaskOverdue, TaskReminded, TaskReportMissed, TaskStagnant, TaskStatusChanged,
)
from shared.org_copy import copy_handler
from shared.streams import stream_of

SETTINGS = DeliverySettings()
AVAILABLE = frozenset(build_channels(ChannelSettings()))  # e-mail and SMS only when configured
Values = Callable[[str], dict[str, str]]  # the template's fields, in a language


def delivery_id(cause: str, channel: str, recipient: str) -> str:
    """One delivery per cause (event), channel and recipient, however often the event comes."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"duban-notify/{cause}/{channel}/{recipient}").hex


def _notice(env: Envelope, recipient: str, task_id: str | None, message: domain.Message) -> Notice:
    return Notice(tenant=env.tenant, recipient=recipient, kind=message.kind, task_id=task_id,
                  title=message.title, body=message.body, cause_event_id=env.id, created_at=env.time)


def _delivery(env: Envelope, message: domain.Message, *, channel: str, recipient: str, address: str = "",
              task_id: str | None = None, mentions: list[str] = (), at=None) -> Delivery:
    return Delivery(id=delivery_id(env.id, channel, recipient), tenant=env.tenant, kind=message.kind,
                    channel=channel, recipient=recipient, address=address, title=message.title,
                    body=message.body, link=SETTINGS.task_link(task_id), mentions=list(mentions),
                    cause_event_id=env.id, task_id=task_id, created_at=env.time,
                    next_attempt_at=at or env.time,
                    deferred_reason="quiet hours" if at and at > env.time else "")


async def once_per_batch(session: AsyncSession, key: tuple, load: Callable[[], Awaitable[Any]]) -> Any:
    """What ``load`` gives, read once per transaction (a consumer's batch) rather than per event.
    Only for what the handlers never change — templates, robots and the OA webhook change through
    the admin API, in transactions of their own — and the calendar, which ``on_calendar_changed``
    drops from here when it changes it."""
    cache = session.info.setdefault(_BATCH_CACHE, {})
    if key not in cache:
        cache[key] = await load()
    return cache[key]


_BATCH_CACHE = "duban_notify_batch_cache"


def _calendar(session: AsyncSession):
    return once_per_batch(session, ("calendar",), lambda: store.calendar(session))


async def tell(session: AsyncSession, env: Envelope, kind: str, values: Values, *, units: list[str],
               task_id: str | None = None, also: list[str] = (), people: list[PersonCopy] = ()) -> None:
    """Tell ``units`` (their inboxes and group robots) and their heads and handlers, the people
    named in ``also`` (a leader, a supervisor) and ``people``, each on their own channels and language."""
    tenant, units = env.tenant, list(dict.fromkeys(units))
    overrides = await once_per_batch(session, ("templates", tenant), lambda: store.templates(session, tenant))

    def message(language: str) -> domain.Message:
        template = overrides.get((kind, language))
        return domain.compose(kind, values(language), template and (template.title, template.body), language)

    zh = message("zh-CN")
    for unit in units:
        store.add_notice(session, _notice(env, unit, task_id, zh))
    told = {p.person_id: p for p in [*await store.people_of_units(session, tenant, units, domain.UNIT_ROLES),
                                     *await store.people_named(session, tenant, list(also)), *people]}
    deliveries = await _to_people(session, env, message, list(told.values()), task_id)
    deliveries += await _to_robots(session, env, zh, units, told.values(), task_id)
    await store.add_deliveries(session, deliveries)


async def _to_people(session, env, message, people: list[PersonCopy], task_id) -> list[Delivery]:
    preferences = await store.preferences(session, env.tenant, [p.person_id for p in people])
    calendar = await _calendar(session) if people else None
    available = AVAILABLE
    out = []
    for person in people:
        preference = preferences.get(person.person_id)
        text = message(preference.language if preference else "zh-CN")
        store.add_notice(session, _notice(env, person.person_id, task_id, text))
        for channel in domain.channels_of(preference.channels if preference else None, email=person.email,
                                          mobile=person.mobile, available=available):
            address = person.email if channel == "email" else person.mobile
            at = domain.send_at(env.time, channel, SETTINGS.quiet, calendar)
            out.append(_delivery(env, text, channel=channel, recipient=person.person_id, address=address,
                                 task_id=task_id, at=at))
    return out


async def _to_robots(session, env, message, units, people, task_id) -> list[Delivery]:
    out = []
    robots = await once_per_batch(session, ("robots", env.tenant),
                                  lambda: store.all_robots(session, env.tenant, None))
    for robot in sorted((r for r in robots if r.unit_id in units), key=lambda r: (r.unit_id, r.channel)):
        mentioned = [p for p in people if p.unit_id == robot.unit_id]
        handles = [p.feishu_user if robot.channel == "feishu" else p.mobile for p in mentioned]
        at = domain.send_at(env.time, robot.channel, SETTINGS.quiet, await _calendar(session))
        out.append(_delivery(env, message, channel=robot.channel, recipient=robot.unit_id, task_id=task_id,
                             mentions=[h for h in handles if h], at=at))
    return out


# ---- the events --------------------------------------------------------------------------------

async def _leaders(session: AsyncSession, item_id: str) -> list[str]:
    found = await store.item_leader(session, item_id)
    return [found.leader, found.supervisor] if found else []


async def on_item_registered(event: ItemRegistered, env: Envelope, session: AsyncSession) -> None:
    await session.merge(ItemLeader(item_id=event.item_id, leader=event.supervising_leader,
                                   supervisor=event.supervisor))


async def on_task_assigned(event: TaskAssigned, env: Envelope, session: AsyncSession) -> None:
    await session.merge(TaskCopy(task_id=event.task_id, tenant=env.tenant, item_id=event.item_id,
                                 item_number=event.item_number, title=event.title, lead_unit=event.lead_unit,
                                 due=event.due))

    def values(language: str) -> dict[str, str]:
        return {"task_title": event.title, "item_number": event.item_number, "due": domain.local(event.due),
                "deadline": domain.deadline(event.due, event.due_working_days, language)}
    await tell(session, env, "assigned", values, units=domain.assignment_recipients(event.lead_unit, event.co_units),
               task_id=event.task_id)


async def _follow_due(event: Any, session: AsyncSession, open_: bool | None = None) -> None:
    copy = await store.task(session, event.task_id)
    if copy is not None:
        copy.due = getattr(event, "due", None) or copy.due
        if open_ is not None:
            copy.open = open_


def to_lead_unit(kind: str, fields: Callable[[Any, str], dict[str, str]], *, leaders: bool = False):
    """A handler telling the task's lead unit (and, with ``leaders``, the item's leader and
    supervisor) ``kind``, with ``fields(event, language)``."""

    async def handle(event: Any, env: Envelope, session: AsyncSession) -> None:
        await _follow_due(event, session)
        also = await _leaders(session, event.item_id) if leaders else []
        await tell(session, env, kind, lambda language: {"task_title": event.title, **fields(event, language)},
                   units=[event.lead_unit], task_id=event.task_id, also=also)

    return handle


async def on_status_changed(event: TaskStatusChanged, env: Envelope, session: AsyncSession) -> None:
    await _follow_due(event, session, open_=event.to_status not in ("accepted", "cancelled"))
    kind = {"return": "returned", "accept": "accepted"}.get(event.action)
    if kind:
        await tell(session, env, kind, lambda language: {
            "task_title": event.title, "comment": domain.comment(event.comment, language)},
            units=[event.lead_unit], task_id=event.task_id)


async def on_calendar_changed(event: CalendarChanged, env: Envelope, session: AsyncSession) -> None:
    session.info.get(_BATCH_CACHE, {}).pop(("calendar",), None)
    await session.merge(CalendarYearCopy(year=event.year, holidays=[d.isoformat() for d in event.holidays],
                                         workdays=[d.isoformat() for d in event.workdays]))


async def on_bulletin(event: BulletinIssued, env: Envelope, session: AsyncSession) -> None:
    await tell(session, env, "bulletin", lambda language: {
        "word": domain.bulletin_word(event.kind, event.issuer, language), "reason": event.reason,
        "persons": domain.persons(event.persons, language)}, units=event.units)


async def on_action(event: ActionTriggered, env: Envelope, session: AsyncSession) -> None:
    await tell(session, env, domain.action_kind(event.kind), lambda language: {
        "word": domain.action_word(event.kind, language), "reason": event.reason,
        "persons": domain.persons(event.persons, language, "responsible")}, units=[event.unit])


async def on_person_changed(event: PersonChanged, env: Envelope, session: AsyncSession) -> None:
    fields = event.model_dump(exclude={"change"})
    await session.merge(PersonCopy(tenant=env.tenant, **fields))


FROM_INTAKE = {
    ItemRegistered.TYPE: on_item_registered,
    TaskAssigned.TYPE: on_task_assigned,
    OrgUnitChanged.TYPE: copy_handler(OrgUnitCopy),
    PersonChanged.TYPE: on_person_changed,
}
FROM_TRACKING = {
    TaskOverdue.TYPE: to_lead_unit("overdue", lambda e, lang: {"due": domain.local(e.due)}, leaders=True),
    TaskReminded.TYPE: to_lead_unit("reminder", lambda e, lang: {
        "due": domain.local(e.due), "deadline": domain.reminder_deadline(e.due, e.overdue, lang),
        "comment": domain.comment(e.comment, lang)}),
    TaskApproaching.TYPE: to_lead_unit("approaching", lambda e, lang: {"due": domain.local(e.due)}),
    TaskStagnant.TYPE: to_lead_unit("stagnant", lambda e, lang: {"idle_days": str(e.idle_working_days)}),
    TaskReportMissed.TYPE: to_lead_unit("report_missed", lambda e, lang: {
        "period": e.period, "report_due": domain.local(e.report_due)}),
    TaskDispatched.TYPE: to_lead_unit("assigned", lambda e, lang: {
        "due": domain.local(e.due), "deadline": domain.deadline(e.due, None, lang)}),
    TaskMilestoneMissed.TYPE: to_lead_unit("milestone_missed", lambda e, lang: {
        "milestone": e.milestone, "due": domain.local(e.due)}),
    TaskExtensionDecided.TYPE: to_lead_unit("extension_decided", lambda e, lang: {
        "due": domain.local(e.due), "decision": domain.decision(e.granted, e.due, lang),
        "comment": domain.comment(e.comment, lang)}),
    TaskDeadlineChanged.TYPE: lambda event, env, session: _follow_due(event, session),
    TaskStatusChanged.TYPE: on_status_changed,
    CalendarChanged.TYPE: on_calendar_changed,
}
FROM_SCORING = {BulletinIssued.TYPE: on_bulletin, ActionTriggered.TYPE: on_action}


# ---- every event, pushed to the tenant's OA webhook -------------------------------------------

async def push_to_oa(env: Envelope, session: AsyncSession) -> None:
    hook = await once_per_batch(session, ("oa_webhook", env.tenant), lambda: store.oa_webhook(session, env.tenant))
    if hook is None or (hook.types and not any(env.type.startswith(p) for p in hook.types)):
        return
    await store.add_deliveries(session, [Delivery(
        id=delivery_id(env.id, "webhook", "oa"), tenant=env.tenant, kind="event", channel="webhook",
        recipient="oa", address="", title=env.type, body="", cloudevent=env.model_dump_json(),
        cause_event_id=env.id, created_at=env.time, next_attempt_at=env.time)])


def with_oa_push(producer: str, handlers: dict[str, Any]) -> dict[str, Any]:
    """``handlers``, and for every event type of ``producer`` a push to the OA after them."""
    prefix = f"{stream_of(producer).events_subject.removesuffix('>')}"

    def pushing(handler):
        async def handle(event, env: Envelope, session: AsyncSession) -> None:
            if handler is not None:
                await handler(event, env, session)
            await push_to_oa(env, session)
        return handle

    return {t: pushing(handlers.get(t)) for t in CATALOGUE if t.startswith(prefix)}


SUBSCRIPTIONS = [
    Subscription.to("intake", with_oa_push("intake", FROM_INTAKE)),
    Subscription.to("tracking", with_oa_push("tracking", FROM_TRACKING)),
    Subscription.to("scoring", with_oa_push("scoring", FROM_SCORING)),
]
