"""Missed progress reports: each owed period without the lead unit's report is flagged once.

A ``report_watch`` row per open task with a reporting cycle holds when its next report falls due.
The deadline watch calls ``flag_missed`` on each scan: it starts watching new tasks, takes the
watches whose moment has passed (locked on PostgreSQL, skipped by other replicas), settles the
periods that fell due and moves each watch on. A missed period goes into ``missed_report`` (one row
per task and period) and its event is emitted only when that insert took, with an id derived from
the task and period: one flag per period whatever the number of replicas or scans.
"""

import logging
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.tracking import reporting, store
from services.tracking.lifecycle import CLOSED_STATUSES, Status
from services.tracking.models import TrackedTask
from shared.events import TaskReportMissed
from shared.service import Runtime

log = logging.getLogger(__name__)


async def flag_missed(runtime: Runtime, session: AsyncSession, now: datetime, limit: int) -> int:
    """Flag the periods whose report fell due unmade; returns how many were flagged."""
    await _watch_new_tasks(session, limit)
    flagged = 0
    for task, since in await store.due_report_watches(session, now, limit):
        flagged += await _settle(runtime, session, task, since, now)
    if flagged:
        log.info("flagged %d missed report(s)", flagged)
    return flagged


async def _watch_new_tasks(session: AsyncSession, limit: int) -> None:
    for task in await store.unwatched_reporting_tasks(session, reporting.CYCLES, limit):
        first = reporting.period_of(task.reporting_cycle, task.assigned_at,
                                    report_due_day=task.report_due_day)
        await store.watch_reports(session, task.id, first.report_due)


async def _settle(runtime: Runtime, session: AsyncSession, task: TrackedTask, since: datetime,
                  now: datetime) -> int:
    fallen, next_due = reporting.came_due(task.reporting_cycle, assigned_at=task.assigned_at,
                                          since=since, now=now, report_due_day=task.report_due_day)
    following = None if Status(task.status) in CLOSED_STATUSES else next_due
    if not await store.move_report_watch(session, task.id, since, following):
        return 0
    changes = [(h.at, h.to_status) for h in await store.history(session, task.id)]
    reported = await store.reported_periods(session, task.id, task.lead_unit)
    flagged = 0
    for period in reporting.missing(reporting.owed(fallen, changes), reported, now):
        if await store.flag_missed_report(session, task.id, period.key, period.report_due, now):
            runtime.emit(session, TaskReportMissed(
                task_id=task.id, item_id=task.item_id, title=task.title, lead_unit=task.lead_unit,
                period=period.key, report_due=period.report_due,
            ), tenant=task.tenant, event_id=reporting.missed_event_id(task.id, period.key))
            flagged += 1
    return flagged
