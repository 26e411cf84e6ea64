"""Transactional outbox and its relay.

A state change and the events it causes are written in one transaction (``add_event``). The relay
publishes pending rows to JetStream with ``Nats-Msg-Id`` = event id, so the stream drops a
duplicate, and marks a row published only after its PubAck. The trace context of the writer is
kept on the row and restored when relaying, so the trace goes on across the bus.
"""

import asyncio
import json
import logging
from datetime import UTC, datetime

from faststream.nats import NatsBroker
from opentelemetry import context as otel_context
from opentelemetry.propagate import extract, inject
from prometheus_client import Counter
from sqlalchemy import Column, Index, Text, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import Field, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import PlumbingBase, UTCDateTime
from shared.events import Envelope

log = logging.getLogger(__name__)

RELAYED = Counter("duban_outbox_relayed_total", "Events published from the outbox", ["service"])
RELAY_ERRORS = Counter("duban_outbox_errors_total", "Failed outbox publishes", ["service"])


class OutboxRow(PlumbingBase, table=True):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "published_at", "seq"),)

    seq: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=128, unique=True)
    subject: str = Field(max_length=255)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    trace_headers: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    published_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


def add_event(session: AsyncSession, event: Envelope) -> None:
    """Stage an event in the caller's transaction; it is published after commit."""
    session.add(OutboxRow(**outbox_values(event)))


def outbox_values(event: Envelope) -> dict:
    """The outbox row of ``event``, as column values (for bulk writes)."""
    carrier: dict[str, str] = {}
    inject(carrier)
    return {"event_id": event.id, "subject": event.type, "payload": event.model_dump_json(),
            "trace_headers": json.dumps(carrier), "created_at": datetime.now(UTC)}


class OutboxRelay:
    """Publishes pending outbox rows; woken after each commit, and polls as a safety net."""

    def __init__(
        self,
        *,
        service: str,
        broker: NatsBroker,
        sessions: async_sessionmaker[AsyncSession],
        stream: str,
        publish_timeout: float,
        batch_size: int = 500,
        poll_interval: float = 1.0,
    ) -> None:
        self.service = service
        self.broker = broker
        self.sessions = sessions
        self.stream = stream
        self.publish_timeout = publish_timeout
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._running = False

    def wake(self) -> None:
        self._wakeup.set()

    def start(self) -> None:
        self._running = True
        self._task = asyncio.create_task(self._run(), name=f"{self.service}-outbox-relay")

    async def stop(self) -> None:
        self._running = False
        self.wake()
        if self._task:
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while self._running:
            try:
                published = await self.relay_once()
            except Exception:
                log.exception("outbox relay round failed; retrying")
                published = 0
            if published < self.batch_size:
                await self._sleep()

    async def _sleep(self) -> None:
        try:
            await asyncio.wait_for(self._wakeup.wait(), self.poll_interval)
        except TimeoutError:
            pass
        self._wakeup.clear()

    async def relay_once(self) -> int:
        """Publish one batch of pending rows; returns how many were confirmed."""
        async with self.sessions() as session:
            if session.bind.dialect.name == "sqlite":
                # SQLite locks the whole file: never hold it while waiting for PubAcks. Two
                # relays may then send a row twice; the stream's duplicate window drops it.
                async with session.begin():
                    rows = await self._pending(session, lock=False)
                done = await self._publish_all(rows)
                async with session.begin():
                    await self._mark(session, done)
            else:
                # Row locks: replicas skip each other's rows while they wait for PubAcks.
                async with session.begin():
                    rows = await self._pending(session, lock=True)
                    done = await self._publish_all(rows)
                    await self._mark(session, done)
        RELAYED.labels(self.service).inc(len(done))
        if failed := len(rows) - len(done):
            RELAY_ERRORS.labels(self.service).inc(failed)
            log.warning("outbox: %d of %d publishes failed; will retry", failed, len(rows))
        return len(done)

    async def _pending(self, session: AsyncSession, *, lock: bool) -> list[OutboxRow]:
        query = (
            select(OutboxRow)
            .where(col(OutboxRow.published_at).is_(None))
            .order_by(col(OutboxRow.seq))
            .limit(self.batch_size)
        )
        if lock:
            query = query.with_for_update(skip_locked=True)
        return list((await session.exec(query)).all())

    async def _publish_all(self, rows: list[OutboxRow]) -> list[int]:
        # One connection keeps the order of these concurrent publishes on the wire.
        results = await asyncio.gather(*(self._publish(r) for r in rows), return_exceptions=True)
        return [row.seq for row, result in zip(rows, results, strict=True) if result is True]

    async def _mark(self, session: AsyncSession, done: list[int]) -> None:
        if done:
            await session.exec(
                update(OutboxRow).where(col(OutboxRow.seq).in_(done)).values(published_at=datetime.now(UTC))
            )

    async def _publish(self, row: OutboxRow) -> bool:
        token = otel_context.attach(extract(json.loads(row.trace_headers)))
        try:
            await self.broker.publish(
                row.payload.encode(),
                row.subject,
                headers={"Nats-Msg-Id": row.event_id, "content-type": "application/cloudevents+json"},
                stream=self.stream,
                timeout=self.publish_timeout,
            )
        finally:
            otel_context.detach(token)
        # A PubAck (duplicate or not) means the stream holds the event.
        return True
