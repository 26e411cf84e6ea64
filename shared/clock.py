"""One clock for everything that depends on time.

Outside production the clock can be moved forward (like Stripe's test clocks): the offset lives in
a NATS key-value bucket, so every service (and every replica) sees the same simulated time.
Production refuses any offset.
"""

import asyncio
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError, KeyNotFoundError

log = logging.getLogger(__name__)

CLOCK_BUCKET = "duban_clock"
OFFSET_KEY = "offset_seconds"
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([wdhms])")


class ClockRefused(RuntimeError):
    """Raised when someone tries to move the clock in production."""


def parse_duration(text: str) -> timedelta:
    """'2d', '3h30m', '1w', '90s' → timedelta. Raises ValueError on anything else."""
    cleaned = text.strip().lower()
    parts = _DURATION.findall(cleaned)
    if not cleaned or "".join(n + u for n, u in parts) != cleaned:
        raise ValueError(f"bad duration {text!r}: use e.g. 2d, 3h30m, 1w, 90s")
    return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))


class Clock:
    """Real UTC time plus a simulated offset (always zero in production)."""

    def __init__(self, *, production: bool = False) -> None:
        self.production = production
        self._offset = timedelta(0)
        self._listeners: list[Callable[[], None]] = []
        self._watch_task: asyncio.Task | None = None

    @property
    def offset(self) -> timedelta:
        return self._offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def set_offset(self, offset: timedelta) -> None:
        if self.production and offset:
            raise ClockRefused("the simulated clock is refused in production")
        if offset != self._offset:
            self._offset = offset
            for listener in self._listeners:
                listener()

    async def follow(self, js: JetStreamContext, replicas: int = 1) -> None:
        """Keep the offset in step with the shared bucket (no-op in production); a bucket made
        here gets ``replicas`` (the streams' ``DUBAN_STREAM_REPLICAS``)."""
        if self.production or self._watch_task:
            return
        kv = await ensure_clock_bucket(js, replicas)
        watcher = await kv.watch(OFFSET_KEY)
        self._watch_task = asyncio.create_task(self._watch(watcher), name="clock-watch")

    async def _watch(self, watcher) -> None:
        async for entry in watcher:
            if entry is None or entry.value is None:
                continue
            try:
                self.set_offset(timedelta(seconds=float(entry.value.decode() or 0)))
            except ValueError:
                log.error("ignoring bad clock offset %r", entry.value)

    async def close(self) -> None:
        if self._watch_task:
            self._watch_task.cancel()
            await asyncio.gather(self._watch_task, return_exceptions=True)
            self._watch_task = None


async def ensure_clock_bucket(js: JetStreamContext, replicas: int = 1):
    """The clock's bucket, made if missing. In a cluster it needs the streams' replicas: on one
    node only, the clock stops for every service (and ``duban clock``) when that node is down."""
    try:
        return await js.key_value(CLOCK_BUCKET)
    except BucketNotFoundError:
        return await js.create_key_value(bucket=CLOCK_BUCKET, history=16, replicas=replicas)


async def read_offset(js: JetStreamContext) -> timedelta:
    kv = await ensure_clock_bucket(js)
    try:
        entry = await kv.get(OFFSET_KEY)
    except KeyNotFoundError:
        return timedelta(0)
    return timedelta(seconds=float(entry.value.decode() or 0))


async def write_offset(js: JetStreamContext, offset: timedelta, *, production: bool) -> None:
    if production:
        raise ClockRefused("the simulated clock is refused in production (DUBAN_ENV=production)")
    kv = await ensure_clock_bucket(js)
    await kv.put(OFFSET_KEY, str(offset.total_seconds()).encode())
