"""The daily digest: on each working day at ``digest_at`` (Beijing time), every unit head gets one
message listing their unit's open tasks that are late or due within a few working days.

Every replica runs it; the digest's notices and deliveries have ids made of the day and the
person, so a second replica (or a restart) adds nothing.
"""

import asyncio
import logging
from datetime import date, datetime

from services.notify import domain, store
from services.notify.config import DeliverySettings
from services.notify.handlers import tell
from shared.events import Envelope
from shared.service import Runtime, Worker

log = logging.getLogger(__name__)


class Digest(Worker):
    def __init__(self, runtime: Runtime, settings: DeliverySettings | None = None) -> None:
        self.runtime = runtime
        self.settings = settings or DeliverySettings()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self.runtime.clock.on_change(self._wakeup.set)
        self._task = asyncio.create_task(self._run(), name="digest")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("the daily digest failed; retrying")
            try:
                await asyncio.wait_for(self._wakeup.wait(), 30)
            except TimeoutError:
                pass
            self._wakeup.clear()

    async def run_once(self) -> int:
        """Send today's digests if it is a working day past ``digest_at``; returns how many."""
        now = self.runtime.clock.now()
        here = now.astimezone(domain.DISPLAY_ZONE)
        if here.time() < self.settings.digest_at:
            return 0
        async with self.runtime.sessions() as session:
            calendar = await store.calendar(session)
            heads = await store.unit_heads(session)
        if not calendar.is_workday(here.date()):
            return 0
        until = calendar.add_working_days(now, self.settings.digest_working_days_ahead).due
        sent = 0
        for head in heads:
            sent += await self._digest(head, here.date(), now, until)
        return sent

    async def _digest(self, head, day: date, now: datetime, until: datetime) -> int:
        async with self.runtime.unit_of_work() as session:
            if not await store.claim_digest(session, head.tenant, head.person_id, day):
                return 0  # another replica (or an earlier round) made it
            tasks = await store.digest_tasks(session, head.tenant, head.unit_id, until)
            if not tasks:
                return 0
            names = await store.unit_names(session, head.tenant, [head.unit_id])
            env = Envelope(id=f"digest-{day.isoformat()}-{head.person_id}", source="/duban/notify",
                           type="duban.notify.digest", time=now, tenant=head.tenant, data={})

            def values(language: str) -> dict[str, str]:
                late, soon, lines = domain.digest_lines(tasks, now, language)
                return {"date": day.isoformat(), "count_late": str(late), "count_due": str(soon),
                        "lines": lines, "unit": names.get(head.unit_id, head.unit_id)}
            await tell(session, env, "digest", values, units=[], people=[head])
            return 1
