"""The deadline watch: flags tasks whose deadline has passed and emits task-overdue once each.

Every replica runs it; the claim in ``store.claim_overdue`` makes each task fire exactly once.
It looks every ``scan_interval`` seconds, and at once when the simulated clock moves.
"""

import asyncio
import logging

from services.tracking import store
from shared.events import TaskOverdue
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
            try:
                flagged = await self.scan_once()
            except Exception:
                log.exception("deadline scan failed; retrying")
                flagged = 0
            if flagged < self.batch:
                try:
                    await asyncio.wait_for(self._wakeup.wait(), self.scan_interval)
                except TimeoutError:
                    pass
                self._wakeup.clear()

    async def scan_once(self) -> int:
        now = self.runtime.clock.now()
        async with self.runtime.unit_of_work() as session:
            tasks = await store.claim_overdue(session, now, self.batch)
            for task in tasks:
                self.runtime.emit(
                    session,
                    TaskOverdue(
                        task_id=task.id,
                        item_id=task.item_id,
                        title=task.title,
                        lead_unit=task.lead_unit,
                        due=task.due,
                        overdue_at=now,
                    ),
                )
        if tasks:
            log.info("flagged %d overdue task(s)", len(tasks))
        return len(tasks)
