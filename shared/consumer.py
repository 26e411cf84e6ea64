"""Idempotent, batching JetStream consumers with retry and dead-lettering.

Each consuming service has one durable pull consumer per producing stream it reads. Replicas of
the service share that durable, so the stream's work is split between them.

A fetched batch is handled in ONE database transaction: the event ids are first inserted into
``processed_event`` with ON CONFLICT DO NOTHING, and only the newly inserted ones are applied, so a
redelivered or republished event has no second effect. If the batch fails, each message is retried
on its own, so one bad message cannot hold back the rest. A failing message is NAKed with a
growing delay; at ``max_deliver`` it is published to the dead-letter subject and terminated.

Why not FastStream's batch subscriber: it keeps fetching until the batch is full or its timeout
expires, so a lone event waits for the whole timeout; nats-py's ``fetch`` returns what is there.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagate import extract
from prometheus_client import Counter, Histogram
from pydantic import ValidationError
from sqlalchemy import Column
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import Field
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import PlumbingBase, UTCDateTime, insert_ignoring_duplicates
from shared.events import CATALOGUE, Envelope, EventData
from shared.streams import dead_letter_subject, stream_of

log = logging.getLogger(__name__)
tracer = trace.get_tracer("duban.consumer")

CONSUMED = Counter(
    "duban_events_consumed_total", "Events taken from the bus", ["service", "consumer", "outcome"]
)
BATCH_SECONDS = Histogram(
    "duban_consumer_batch_seconds", "Time to apply one fetched batch", ["service", "consumer"]
)

Handler = Callable[[EventData, Envelope, AsyncSession], Awaitable[None]]


class ProcessedEvent(PlumbingBase, table=True):
    __tablename__ = "processed_event"

    consumer: str = Field(primary_key=True, max_length=128)
    event_id: str = Field(primary_key=True, max_length=128)
    processed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


@dataclass
class Subscription:
    """What one consumer reads: a producing stream, a subject filter, a handler per event type."""

    stream: str
    subject: str
    handlers: dict[str, Handler]
    name: str = ""
    # Strict: every event on the stream is meant for us, so one of a type we don't know is
    # dead-lettered (with the reason) instead of skipped. For streams fed by outside systems.
    strict: bool = False

    @classmethod
    def to(cls, producer: str, handlers: dict[str, Handler], strict: bool = False) -> "Subscription":
        """Read the events of ``producer``'s stream, applying ``handlers`` by event type."""
        stream = stream_of(producer)
        return cls(stream=stream.name, subject=stream.events_subject, handlers=handlers, strict=strict)

    def durable(self, service: str) -> str:
        return f"{service}__{self.name or self.stream.lower()}"


@dataclass
class ConsumerOptions:
    batch_size: int = 256
    max_deliver: int = 5
    retry_delay: float = 0.5
    ack_wait: float = 30.0
    fetch_timeout: float = 5.0
    graceful_timeout: float = 15.0


class PoisonMessage(Exception):
    """A message that can never be applied (malformed): dead-letter it at once."""


@dataclass
class EventConsumer:
    service: str
    subscription: Subscription
    js: JetStreamContext
    sessions: async_sessionmaker[AsyncSession]
    options: ConsumerOptions = field(default_factory=ConsumerOptions)
    after_commit: Callable[[], None] = lambda: None

    def __post_init__(self) -> None:
        self.durable = self.subscription.durable(self.service)
        self.dlq_subject = dead_letter_subject(self.service, self.durable)
        self._task: asyncio.Task | None = None
        self._running = False
        self._busy = False

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        config = ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_deliver=self.options.max_deliver,
            ack_wait=self.options.ack_wait,
            max_ack_pending=max(1000, self.options.batch_size * 4),
            filter_subject=self.subscription.subject,
        )
        # Creating with the same name applies a changed config (nats-py's bind alone would not).
        await self.js.add_consumer(self.subscription.stream, config=config)
        self._sub = await self.js.pull_subscribe_bind(
            durable=self.durable, stream=self.subscription.stream
        )
        self._running = True
        self._task = asyncio.create_task(self._run(), name=f"consumer-{self.durable}")

    async def stop(self) -> None:
        self._running = False
        if not self._task:
            return
        if not self._busy:
            self._task.cancel()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self.options.graceful_timeout)
        except (TimeoutError, asyncio.CancelledError):
            self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self._sub.unsubscribe()

    async def _run(self) -> None:
        while self._running:
            try:
                msgs = await self._sub.fetch(self.options.batch_size, timeout=self.options.fetch_timeout)
            except TimeoutError:
                continue
            except Exception as exc:  # connection trouble: nats-py reconnects; back off a little
                log.warning("%s: fetch failed (%s); retrying", self.durable, exc)
                await asyncio.sleep(1)
                continue
            self._busy = True
            try:
                await self.handle_batch(msgs)
            finally:
                self._busy = False

    # ---- processing ------------------------------------------------------------------------

    async def handle_batch(self, msgs: list[Msg]) -> None:
        started = time.perf_counter()
        try:
            await self._apply(msgs)
        except Exception as exc:
            if len(msgs) == 1:
                await self._retry_or_dead_letter(msgs[0], exc)
            else:  # find the bad one(s) without holding back the rest
                for msg in msgs:
                    await self._handle_one(msg)
        else:
            await asyncio.gather(*(m.ack() for m in msgs))
            CONSUMED.labels(self.service, self.durable, "ok").inc(len(msgs))
        BATCH_SECONDS.labels(self.service, self.durable).observe(time.perf_counter() - started)

    async def _handle_one(self, msg: Msg) -> None:
        try:
            await self._apply([msg])
        except Exception as exc:
            await self._retry_or_dead_letter(msg, exc)
        else:
            await msg.ack()
            CONSUMED.labels(self.service, self.durable, "ok").inc()

    async def _apply(self, msgs: list[Msg]) -> None:
        events = [(msg, *self._parse(msg)) for msg in msgs]
        wanted = [(m, e, d, extract(m.headers or {}))  # the producer's trace context
                  for m, e, d in events if e.type in self.subscription.handlers]
        if not wanted:
            return
        contexts = (trace.get_current_span(c).get_span_context() for *_, c in wanted)
        links = [trace.Link(sc) for sc in contexts if sc.is_valid]
        with tracer.start_as_current_span(f"consume {self.durable}", links=links[:128]):
            async with self.sessions() as session, session.begin():
                fresh = await self._claim(session, [e.id for _, e, _, _ in wanted])
                for _, env, data, context in wanted:
                    if env.id in fresh:
                        fresh.discard(env.id)  # the same id twice in one batch applies once
                        await self._dispatch(session, env, data, context)
        self.after_commit()

    def _parse(self, msg: Msg) -> tuple[Envelope, EventData | None]:
        """The envelope, and its data validated when this subscription handles its type."""
        try:
            env = Envelope.model_validate_json(msg.data)
        except ValidationError as exc:
            raise PoisonMessage(f"not a valid event envelope: {exc}") from exc
        model = CATALOGUE.get(env.type)
        if self.subscription.strict and env.type not in self.subscription.handlers:
            raise PoisonMessage(f"unknown event type {env.type!r} on {msg.subject}")
        if model is None or env.type not in self.subscription.handlers:
            return env, None
        try:
            return env, model.model_validate(env.data)
        except ValidationError as exc:
            raise PoisonMessage(f"bad data for {env.type}: {exc}") from exc

    async def _claim(self, session: AsyncSession, event_ids: list[str]) -> set[str]:
        """Record the ids as processed; returns those not processed before."""
        table = ProcessedEvent.__table__
        now = datetime.now(UTC)
        rows = [{"consumer": self.durable, "event_id": i, "processed_at": now} for i in set(event_ids)]
        stmt = insert_ignoring_duplicates(session, table).returning(table.c.event_id)
        result = await session.exec(stmt, params=rows)
        return set(result.scalars().all())

    async def _dispatch(self, session: AsyncSession, env: Envelope, data: EventData | None,
                        context: Context) -> None:
        handler = self.subscription.handlers[env.type]
        with tracer.start_as_current_span(
            f"handle {env.type}",
            context=context,
            kind=trace.SpanKind.CONSUMER,
            attributes={"messaging.message.id": env.id, "duban.consumer": self.durable},
        ):
            await handler(data, env, session)
            await session.flush()  # write inside this event's span, so its trace shows the write

    async def _retry_or_dead_letter(self, msg: Msg, error: Exception) -> None:
        delivered = msg.metadata.num_delivered
        if isinstance(error, PoisonMessage) or delivered >= self.options.max_deliver:
            await self._dead_letter(msg, error)
            return
        delay = self.options.retry_delay * 2 ** (delivered - 1)
        log.warning("%s: attempt %d failed (%r); retry in %.1fs", self.durable, delivered, error, delay)
        CONSUMED.labels(self.service, self.durable, "retried").inc()
        await msg.nak(delay=delay)

    async def _dead_letter(self, msg: Msg, error: Exception) -> None:
        # Not the original's publish conditions: its id (the dead letter is a message of its own) nor
        # Nats-Expected-* (a publish with ``stream=`` expects the producer's stream, not ours).
        headers = {k: v for k, v in (msg.headers or {}).items()
                   if k != "Nats-Msg-Id" and not k.startswith("Nats-Expected-")}
        headers.update(
            {
                "Duban-Error": f"{type(error).__name__}: {error}"[:1000],
                "Duban-Original-Subject": msg.subject,
                "Duban-Consumer": self.durable,
                "Duban-Deliveries": str(msg.metadata.num_delivered),
            }
        )
        await self.js.publish(self.dlq_subject, msg.data, headers=headers)
        await msg.term()
        CONSUMED.labels(self.service, self.durable, "dead_lettered").inc()
        log.error("%s: dead-lettered %s after %d deliveries: %r", self.durable, msg.subject,
                  msg.metadata.num_delivered, error)


