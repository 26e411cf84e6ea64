"""The dispatcher: sends pending deliveries, logs every attempt, retries with backoff, and marks
a delivery dead after its last attempt (the office lists and re-sends those).

One loop, in one short transaction per round, records the outcomes of the sends that finished
and claims the due deliveries of every channel with a free slot (at most ``CONCURRENCY`` sends
in flight per channel); each send runs as its own task. So a slow or dead channel (an SMTP server
that hangs, a robot that answers 500) only fills its own slots and never holds back the others,
and the database sees one writer here however many sends are in flight. A claimed delivery is
leased for longer than one attempt can take, so another replica does not send it meanwhile.
"""

import asyncio
import logging
import time
from datetime import timedelta

from services.notify import domain, store
from services.notify.channels import Channel, DeliveryError, Outgoing, build_channels
from services.notify.config import DeliverySettings
from services.notify.models import Delivery
from shared.service import Runtime, Worker

log = logging.getLogger(__name__)
CONCURRENCY = 8  # sends in flight per channel


class Dispatcher(Worker):
    def __init__(self, runtime: Runtime, settings: DeliverySettings | None = None,
                 channels: dict[str, Channel] | None = None) -> None:
        self.runtime = runtime
        self.settings = settings or DeliverySettings()
        self.channels = channels if channels is not None else build_channels()
        self._in_flight: dict[str, dict[str, asyncio.Task]] = {name: {} for name in self.channels}
        self._finished: list[tuple[str, str, int]] = []  # (delivery id, error, ms), to record
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self.runtime.clock.on_change(self._wakeup.set)
        self._task = asyncio.create_task(self._run(), name="dispatcher")

    async def stop(self) -> None:
        tasks = [self._task, *(t for flying in self._in_flight.values() for t in flying.values())]
        for task in filter(None, tasks):
            task.cancel()
        await asyncio.gather(*filter(None, tasks), return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await self.dispatch_once()
            except Exception:
                log.exception("dispatching failed; retrying")
            try:
                await asyncio.wait_for(self._wakeup.wait(), self.settings.dispatch_interval_s)
            except TimeoutError:
                pass
            self._wakeup.clear()

    async def dispatch_once(self) -> int:
        """Record what finished; claim what is due on every channel with free slots and send it."""
        now = self.runtime.clock.now()
        finished, self._finished = self._finished, []
        started = []
        async with self.runtime.unit_of_work() as session:
            for delivery_id, error, ms in finished:
                await self._record(session, delivery_id, error, ms, now)
            for name, channel in self.channels.items():
                flying = self._in_flight[name]
                if (free := CONCURRENCY - len(flying)) <= 0:
                    continue
                lease = timedelta(seconds=getattr(channel, "timeout", 10) * 2 + 30)
                for d in await store.claim(session, name, now, lease, free, not_in=list(flying)):
                    started.append((name, d.id, await self._outgoing(session, d)))
        for name, delivery_id, out in started:
            self._in_flight[name][delivery_id] = asyncio.create_task(
                self._deliver(name, delivery_id, out), name=f"send-{delivery_id}")
        return len(started)

    async def _deliver(self, name: str, delivery_id: str, out: Outgoing | str) -> None:
        error, ms = await self._send(self.channels[name], out)
        self._finished.append((delivery_id, error, ms))
        del self._in_flight[name][delivery_id]
        self._wakeup.set()

    async def _outgoing(self, session, d: Delivery) -> Outgoing | str:
        """What to send; for robots and the webhook the current URL and secret (a string: why not)."""
        base = dict(channel=d.channel, title=d.title, body=d.body, link=d.link, mentions=tuple(d.mentions), key=d.id)
        if d.channel in domain.ROBOT_CHANNELS:
            robot = next((r for r in await store.robots(session, d.tenant, [d.recipient]) if r.channel == d.channel),
                         None)
            if robot is None:
                return f"no {d.channel} robot is configured for unit {d.recipient} any more"
            return Outgoing(address=robot.url, secret=robot.secret, **base)
        if d.channel == "webhook":
            hook = await store.oa_webhook(session, d.tenant)
            if hook is None:
                return "no OA webhook is configured any more"
            return Outgoing(address=hook.url, secret=hook.secret, cloudevent=d.cloudevent.encode(), **base)
        return Outgoing(address=d.address, **base)

    @staticmethod
    async def _send(channel: Channel, out: Outgoing | str) -> tuple[str, int]:
        """("", ms) on success, (error, ms) otherwise; a non-retryable error starts with "!"."""
        if isinstance(out, str):
            return "!" + out, 0
        started = time.monotonic()
        try:
            await channel.send(out)
            error = ""
        except DeliveryError as exc:
            error = ("" if exc.retryable else "!") + str(exc)
        except Exception as exc:  # a bug in a channel must not stop its loop
            log.exception("channel %s failed", out.channel)
            error = f"{type(exc).__name__}: {exc}"
        return error, int((time.monotonic() - started) * 1000)

    async def _record(self, session, delivery_id: str, error: str, ms: int, now) -> None:
        d = await session.get(Delivery, delivery_id)
        if d is None or d.status != "pending":  # re-sent or changed meanwhile
            return
        final = error.startswith("!")
        error = error.removeprefix("!")
        store.record_attempt(session, d, at=now, error=error, duration_ms=ms)
        d.attempts += 1
        d.last_error = error[:1000]
        if not error:
            d.status, d.sent_at, d.next_attempt_at = "sent", now, None
        elif final or d.attempts >= self.settings.max_attempts:
            d.status, d.next_attempt_at = "dead", None
            log.warning("delivery %s on %s is dead after %d attempt(s): %s", d.id, d.channel, d.attempts, error)
        else:
            d.next_attempt_at = now + domain.backoff(d.attempts, self.settings.retry_base_s,
                                                     self.settings.retry_cap_s)
