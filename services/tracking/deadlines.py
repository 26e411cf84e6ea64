"""The deadline watch: flags overdue tasks and fires scheduled reminders, each exactly once.

Every replica runs it; the conditional UPDATEs in ``store`` (claim_overdue, advance_reminder, …)
make each thing fire exactly once. After each scan it asks the database when the next thing falls
due (``store.next_moment``: index lookups, nothing held in memory) and sleeps until then, at most
``scan_interval`` seconds (to see deadlines another replica registered meanwhile), and wakes at
once when the simulated clock moves. bench/deadlines.py measures it against APScheduler.
"""

import asyncio
import logging
from datetime import datetime

from services.tracking import domain, store
from services.tracking.lifecycle import HistoryEntry
from services.tracking.report_watch import flag_missed
from shared.events import (
    TaskApproaching, TaskMilestoneMissed, TaskOverdue, TaskReminded, TaskStagnant,
)
from shared.service import Runtime, Worker

log = logging.getLogger(__name__)


class DeadlineWatch(Worker):
    def __init__(self, runtime: Runtime, scan_interval: float = 1.0, batch: int = 500) -> None:
        self.runtime = runtime
        self.scan_interval = scan_interval
        self.batch = batch
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self.runtime.clock.on_change(self._wakeup.set)
        self._task = asyncio.create_task(self._run(), name="deadline-watch")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            self._wakeup.clear()  # a clock move from here on wakes the sleep below
            upcoming = None
            try:
                flagged = await self.scan_once()
                upcoming = await self.next_moment()
            except Exception:
                log.exception("deadline scan failed; retrying")
                flagged = 0
            if flagged < self.batch:
                try:
                    await asyncio.wait_for(self._wakeup.wait(), self._pause(upcoming))
                except TimeoutError:
                    pass

    async def next_moment(self) -> datetime | None:
        async with self.runtime.sessions() as session:
            return await store.next_moment(session, self.runtime.clock.now())

    def _pause(self, upcoming: datetime | None) -> float:
        """Seconds to sleep: until the next thing falls due, at most ``scan_interval``."""
        if upcoming is None:
            return self.scan_interval
        return min(self.scan_interval, max(0.0, (upcoming - self.runtime.clock.now()).total_seconds()))

    async def scan_once(self) -> int:
        """Flag newly overdue tasks and fire due reminders; returns how many things fired."""
        now = self.runtime.clock.now()
        async with self.runtime.unit_of_work() as session:
            overdue = await store.claim_overdue(session, now, self.batch)
            for task in overdue:
                self.runtime.emit(session, TaskOverdue(
                    task_id=task.id, item_id=task.item_id, title=task.title,
                    lead_unit=task.lead_unit, due=task.due, overdue_at=now,
                    co_units=list(task.co_units),
                ), tenant=task.tenant)
            reminded = await self._fire_reminders(session, now)
            await flag_missed(self.runtime, session, now, self.batch)
            warned = await self._fire_warnings(session, now)
        if overdue or reminded or warned:
            log.info("flagged %d overdue task(s), sent %d reminder(s), %d warning(s)",
                     len(overdue), reminded, warned)
        return max(len(overdue), reminded, warned)

    async def _fire_warnings(self, session, now) -> int:
        """Approaching (the light turned yellow) and stagnant (no report or move): once each."""
        approaching = await store.claim_approaching(session, now, self.batch)
        for task in approaching:
            self.runtime.emit(session, TaskApproaching(
                task_id=task.id, item_id=task.item_id, title=task.title, lead_unit=task.lead_unit,
                due=task.due), tenant=task.tenant)
        stagnant = await store.claim_stagnant(session, now, self.batch)
        for task in stagnant:
            self.runtime.emit(session, TaskStagnant(
                task_id=task.id, item_id=task.item_id, title=task.title, lead_unit=task.lead_unit,
                due=task.due, last_activity_at=task.last_activity_at or task.assigned_at,
                idle_working_days=domain.DEFAULT_POLICY.stagnant_after_working_days),
                tenant=task.tenant)
        missed = await store.claim_missed_milestones(session, now, self.batch)
        tasks = {m.task_id: await store.get_task(session, m.task_id) for m in missed}
        for milestone in missed:
            task = tasks[milestone.task_id]
            self.runtime.emit(session, TaskMilestoneMissed(
                task_id=task.id, item_id=task.item_id, title=task.title, lead_unit=task.lead_unit,
                position=milestone.position, milestone=milestone.title, due=milestone.due),
                tenant=task.tenant)
        return max(len(approaching), len(stagnant), len(missed))

    async def _fire_reminders(self, session, now) -> int:
        """Each scheduled reminder fires once: the conditional move of ``next_reminder_at`` decides
        which replica sends it. Several passed at once (a clock jump) are sent as one."""
        tasks = await store.due_reminders(session, now, self.batch)
        calendar = await store.calendar(session) if tasks else None
        won = []
        for task in tasks:  # claim them all first: no pending rows to flush before each UPDATE
            scheduled = task.next_reminder_at
            following = domain.next_reminder_for(task, after=now, calendar=calendar)
            if await store.advance_reminder(session, task.id, scheduled, following):
                won.append((task, scheduled))
        for task, scheduled in won:
            store.add_history(session, task.id, HistoryEntry(now, "system", "reminder", task.status,
                                                             task.status, ""))
            self.runtime.emit(session, TaskReminded(
                task_id=task.id, item_id=task.item_id, title=task.title, lead_unit=task.lead_unit,
                due=task.due, kind="auto", scheduled_at=scheduled, overdue=scheduled >= task.due,
            ), tenant=task.tenant, event_id=domain.reminder_event_id(task.id, scheduled))
        return len(won)
