"""scoring's event handlers: the other services' events from the bus, and scoring's own (bulletins,
appeals, rule sets, period closes), which its API applies as it emits them. ``duban scoring replay``
applies all of them again, in time order, to rebuild the store."""

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from services.scoring import domain, periods, reports, store
from services.scoring.models import Appeal, Bulletin, OrgUnitCopy, PeriodClose, RuleSetSwitch, RuleSetVersion
from services.scoring.rules import RuleSet, to_json
from shared.consumer import PoisonMessage, Subscription
from shared.db import lock_until_commit
from shared.events import (
    ActionTriggered, AppealDecided, AppealFiled, BulletinIssued, Envelope, OrgUnitChanged, PeriodClosed,
    RuleSetPublished, RuleSetSwitched, TaskAssigned, TaskDeadlineChanged, TaskExtensionDecided,
    TaskOverdue, TaskReportMissed, TaskStatusChanged, envelope,
)
from shared.org_copy import copy_handler
from shared.outbox import add_event


def ledger_rows(entries: list[domain.Entry], env: Envelope, rules: RuleSet, *, item_id: str | None = None,
                task_id: str | None = None, persons: list[str] = ()) -> list[dict]:
    return [{"key": f"{env.id}:{e.unit}:{e.rule}", "tenant": env.tenant, "unit": e.unit,
             "centipoints": int(e.points * 100), "rule": e.rule, "rule_set_version": rules.version,
             "reason": e.reason[:500], "at": env.time, "cause_event_id": env.id,
             "cause_event_type": env.type, "item_id": item_id, "task_id": task_id,
             "persons": list(persons)} for e in entries]


async def _outcome(session: AsyncSession, event, env: Envelope):
    """The task's outcome row; an event naming another tenant's task changes nothing and is
    dead-lettered with the reason (task ids are unique across tenants)."""
    found = await store.outcome(session, env.tenant, event.task_id, event.lead_unit, event.item_id)
    if found.tenant != env.tenant:
        raise foreign_task(event.task_id, found.tenant, env.tenant)
    return found


def foreign_task(task_id: str, owner: str, tenant: str) -> PoisonMessage:
    return PoisonMessage(f"task {task_id} is on the ledger of tenant {owner!r}; "
                         f"an event of tenant {tenant!r} may not change it")


def _set_due(outcome, due, as_of) -> None:
    outcome.due, outcome.due_as_of = domain.later_due(outcome.due, outcome.due_as_of, due, as_of)


# ---- the other services' events ----------------------------------------------------------------

async def on_task_assigned(event: TaskAssigned, env: Envelope, session: AsyncSession) -> None:
    outcome = await _outcome(session, event, env)
    outcome.urgency = event.urgency or "normal"
    _set_due(outcome, event.due, env.time)


async def on_due_changed(event: TaskDeadlineChanged | TaskExtensionDecided, env: Envelope,
                         session: AsyncSession) -> None:
    _set_due(await _outcome(session, event, env), event.due, env.time)


async def on_task_status_changed(event: TaskStatusChanged, env: Envelope, session: AsyncSession) -> None:
    outcome = await _outcome(session, event, env)
    _set_due(outcome, event.due, env.time)
    rules = await store.rule_set_at(session, env.tenant, env.time)
    counter, entries = domain.status_change(
        rules, action=event.action, lead=event.lead_unit, co_units=event.co_units, title=event.title,
        at=event.at, due=event.due, working_days_late=event.working_days_late)
    if counter == "accepted":
        outcome.accepted_at = event.at
    elif counter is not None:
        setattr(outcome, counter, getattr(outcome, counter) + 1)
    await store.add_entries(session, ledger_rows(entries, env, rules, item_id=event.item_id,
                                                 task_id=event.task_id))


async def on_task_overdue(event: TaskOverdue, env: Envelope, session: AsyncSession) -> None:
    _set_due(await _outcome(session, event, env), event.due, env.time)
    rules = await store.rule_set_at(session, env.tenant, env.time)
    entries = domain.overdue(rules, lead=event.lead_unit, co_units=event.co_units, title=event.title)
    await store.add_entries(session, ledger_rows(entries, env, rules, item_id=event.item_id, task_id=event.task_id))
    await announce_actions(session, env, event.lead_unit)


async def on_report_missed(event: TaskReportMissed, env: Envelope, session: AsyncSession) -> None:
    await _outcome(session, event, env)
    rules = await store.rule_set_at(session, env.tenant, env.time)
    entries = domain.report_missed(rules, lead=event.lead_unit, title=event.title, period=event.period)
    await store.add_entries(session, ledger_rows(entries, env, rules, item_id=event.item_id, task_id=event.task_id))


# ---- scoring's own events ----------------------------------------------------------------------

async def on_bulletin_issued(event: BulletinIssued, env: Envelope, session: AsyncSession) -> None:
    session.add(Bulletin(id=event.bulletin_id, tenant=env.tenant, kind=event.kind, issuer=event.issuer,
                         units=event.units, persons=event.persons, reason=event.reason,
                         item_ids=event.item_ids, issued_by=event.issued_by, issued_at=env.time))
    rules = await store.rule_set_at(session, env.tenant, env.time)
    entries = domain.bulletin(rules, kind=event.kind, issuer=event.issuer, units=event.units,
                              reason=event.reason)
    item = event.item_ids[0] if event.item_ids else None
    await store.add_entries(session, ledger_rows(entries, env, rules, item_id=item, persons=event.persons))
    if event.kind == "criticism":
        for unit in dict.fromkeys(event.units):
            await announce_actions(session, env, unit)


async def on_appeal_filed(event: AppealFiled, env: Envelope, session: AsyncSession) -> None:
    session.add(Appeal(id=event.appeal_id, tenant=env.tenant, entry_key=event.entry_key, unit=event.unit,
                       reason=event.reason, filed_by=event.filed_by, filed_at=env.time))


async def on_appeal_decided(event: AppealDecided, env: Envelope, session: AsyncSession) -> None:
    appeal = await session.get(Appeal, event.appeal_id)
    appeal.status = "upheld" if event.decision == "uphold" else "reversed"
    appeal.decided_by, appeal.decided_at, appeal.comment = event.decided_by, env.time, event.comment
    contested = await store.entry_by_key(session, appeal.entry_key)
    if event.decision == "reverse" and (undo := domain.reversal(contested.points, contested.rule, appeal.reason)):
        rules = await store.rule_set_at(session, env.tenant, env.time)
        undo = domain.Entry(contested.unit, undo.points, undo.rule, undo.reason)
        await store.add_entries(session, ledger_rows([undo], env, rules, item_id=contested.item_id,
                                                     task_id=contested.task_id))


async def on_rule_set_published(event: RuleSetPublished, env: Envelope, session: AsyncSession) -> None:
    rules = RuleSet.model_validate(event.rules)
    store.forget_rule_sets(session)
    session.add(RuleSetVersion(tenant=env.tenant, version=rules.version, body=to_json(rules),
                               published_by=event.published_by, published_at=env.time))


async def on_rule_set_switched(event: RuleSetSwitched, env: Envelope, session: AsyncSession) -> None:
    starts = periods.parse(event.from_period).start
    store.forget_rule_sets(session)
    await session.merge(RuleSetSwitch(tenant=env.tenant, starts=starts, version=event.version,
                                      switched_by=event.switched_by))


async def on_period_closed(event: PeriodClosed, env: Envelope, session: AsyncSession) -> None:
    report = await reports.ranking(session, env.tenant, periods.parse(event.period), under=None,
                                   normalise=False, enforce_switch=False)
    session.add(PeriodClose(tenant=env.tenant, period=event.period, closed_by=event.closed_by,
                            closed_at=env.time, report=report.model_dump(mode="json")))


async def announce_actions(session: AsyncSession, env: Envelope, unit: str) -> None:
    """Announce, once each, the actions a unit's year has triggered so far."""
    year = periods.year_of(env.time)
    # Two facts about one unit committed at once must not each see only itself and both miss a threshold.
    await lock_until_commit(session, f"scoring.actions:{env.tenant}:{unit}")
    rules = await store.rule_set_at(session, env.tenant, env.time)
    criticisms, late = await store.threshold_facts(session, env.tenant, unit, year)
    for action in domain.actions(rules, unit, year.year, criticisms, late):
        if await store.mark_action_sent(session, env.tenant, action):
            add_event(session, action_event(rules, env, action))


def action_event(rules: RuleSet, env: Envelope, action: domain.Triggered) -> Envelope:
    """The announcement of a triggered action, with an id of its own (the same action announced
    twice is one event on the stream)."""
    data = ActionTriggered(unit=action.unit, kind=action.kind, year=action.year, persons=list(action.persons),
                           reason=action.reason, cause_event_id=action.cause_event_id,
                           follow_up_working_days=rules.follow_up.get(action.kind))
    key = f"{env.tenant}/{action.unit}/{action.year}/{action.kind}"
    return envelope(data, source="/duban/scoring", tenant=env.tenant, time=env.time,
                    id=uuid.uuid5(uuid.NAMESPACE_URL, key).hex)


FROM_INTAKE = {TaskAssigned.TYPE: on_task_assigned, OrgUnitChanged.TYPE: copy_handler(OrgUnitCopy)}
FROM_TRACKING = {
    TaskStatusChanged.TYPE: on_task_status_changed,
    TaskOverdue.TYPE: on_task_overdue,
    TaskReportMissed.TYPE: on_report_missed,
    TaskDeadlineChanged.TYPE: on_due_changed,
    TaskExtensionDecided.TYPE: on_due_changed,
}
OWN = {
    BulletinIssued.TYPE: on_bulletin_issued,
    AppealFiled.TYPE: on_appeal_filed,
    AppealDecided.TYPE: on_appeal_decided,
    RuleSetPublished.TYPE: on_rule_set_published,
    RuleSetSwitched.TYPE: on_rule_set_switched,
    PeriodClosed.TYPE: on_period_closed,
}
ALL = {**FROM_INTAKE, **FROM_TRACKING, **OWN}  # what a replay applies

SUBSCRIPTIONS = [
    Subscription.to("intake", FROM_INTAKE),
    Subscription.to("tracking", FROM_TRACKING),
]
