"""The deadline watch: flags overdue tasks and fires reminders and warnings, each exactly once.

Every replica runs it; the conditional UPDATEs in ``store`` (claim_overdue, advance_reminder, …)
make each thing fire exactly once. The database's indexes are its queue: each scan ends by asking
when each kind of thing next falls due (``store.next_moments``, nothing held in memory), and the
watch sleeps until the first of them, then runs only the kinds that fell due. At least every
``scan_interval`` seconds, and at once when the simulated clock moves, it runs them all (to see
what another replica registered meanwhile). bench/deadlines.py measures it against APScheduler.
"""

import asyncio
import logging
import time
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
        self._steps = {
            "overdue": self._flag_overdue, "reminder": self._fire_reminders,
            "report": self._flag_missed_reports, "approaching": self._warn_approaching,
            "stagnant": self._warn_stagnant, "milestone": self._flag_missed_milestones,
        }

    async def start(self) -> None:
        self.runtime.clock.on_change(self._wakeup.set)
        self._task = asyncio.create_task(self._run(), name="deadline-watch")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        kinds, last_full = set(self._steps), time.monotonic()
        while True:
            self._wakeup.clear()  # a clock move from here on wakes the sleep below
            if kinds == set(self._steps):
                last_full = time.monotonic()
            moments: dict[str, datetime] = {}
            try:
                flagged, moments = await self.scan(kinds)
            except Exception:
                log.exception("deadline scan failed; retrying")
                flagged = 0
            if flagged >= self.batch:
                continue  # more of the same are due
            full_in = last_full + self.scan_interval - time.monotonic()
            try:
                await asyncio.wait_for(self._wakeup.wait(), self._pause(moments, full_in))
                kinds = set(self._steps)  # the clock moved
            except TimeoutError:
                now = self.runtime.clock.now()
                due = {kind for kind, at in moments.items() if at <= now}
                kinds = due if due and time.monotonic() < last_full + self.scan_interval else set(self._steps)

    def _pause(self, moments: dict[str, datetime], full_in: float) -> float:
        """Seconds to sleep: until the next thing falls due, or the next full scan if sooner."""
        pause = max(0.0, full_in)
        if moments:
            until = (min(moments.values()) - self.runtime.clock.now()).total_seconds()
            pause = min(pause, max(0.0, until))
        return pause

    async def scan(self, kinds: set[str]) -> tuple[int, dict[str, datetime]]:
        """Fire what is due of ``kinds``; returns the most fired of one kind, and when each kind
        next falls due."""
        now = self.runtime.clock.now()
        async with self.runtime.unit_of_work() as session:
            fired = {kind: await step(session, now) for kind, step in self._steps.items() if kind in kinds}
            moments = await store.next_moments(session, now)
        if any(fired.values()):
            log.info("deadline watch fired %s", ", ".join(f"{n} {k}" for k, n in fired.items() if n))
        return max(fired.values(), default=0), moments

    async def _flag_overdue(self, session, now) -> int:
        overdue = await store.claim_overdue(session, now, self.batch)
        for task in overdue:
            self.runtime.emit(session, TaskOverdue(
                task_id=task.id, item_id=task.item_id, title=task.title,
                lead_unit=task.lead_unit, due=task.due, overdue_at=now,
                co_units=list(task.co_units),
            ), tenant=task.tenant)
        return len(overdue)

    async def _flag_missed_reports(self, session, now) -> int:
        return await flag_missed(self.runtime, session, now, self.batch)

    async def _warn_approaching(self, session, now) -> int:
        """The light turned yellow: once per deadline."""
        approaching = await store.claim_approaching(session, now, self.batch)
        for task in approaching:
            self.runtime.emit(session, TaskApproaching(
                task_id=task.id, item_id=task.item_id, title=task.title, lead_unit=task.lead_unit,
                due=task.due), tenant=task.tenant)
        return len(approaching)

    async def _warn_stagnant(self, session, now) -> int:
        """No report or move for a whole spell: once a spell."""
        stagnant = await store.claim_stagnant(session, now, self.batch)
        for task in stagnant:
            self.runtime.emit(session, TaskStagnant(
                task_id=task.id, item_id=task.item_id, title=task.title, lead_unit=task.lead_unit,
                due=task.due, last_activity_at=task.last_activity_at or task.assigned_at,
                idle_working_days=domain.DEFAULT_POLICY.stagnant_after_working_days),
                tenant=task.tenant)
        return len(stagnant)

    async def _flag_missed_milestones(self, session, now) -> int:
        missed = await store.claim_missed_milestones(session, now, self.batch)
        tasks = {m.task_id: await store.get_task(session, m.task_id) for m in missed}
        for milestone in missed:
            task = tasks[milestone.task_id]
            self.runtime.emit(session, TaskMilestoneMissed(
                task_id=task.id, item_id=task.item_id, title=task.title, lead_unit=task.lead_unit,
                position=milestone.position, milestone=milestone.title, due=milestone.due),
                tenant=task.tenant)
        return len(missed)

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
