"""`duban scoring replay`: rebuild scoring's whole store from the streams.

Every row of scoring is a fact taken from an event (models.py), so reading every event scoring
applies — intake's task assignments and org-unit changes, tracking's task events, and scoring's
own commands (bulletins, appeals, rule sets, period closes) — from the first message of
DUBAN_INTAKE, DUBAN_TRACKING and DUBAN_SCORING, and applying each with the handler the service
uses (``handlers.ALL``), rebuilds the same store. Scoring's own output (``action.triggered``) is
not read: the replay triggers the same actions again.

Order: each stream is read in its own order (as the live consumers apply it) and the streams are
merged by the events' CloudEvents ``time`` (then stream, then stream sequence: a stable merge), so
an office act (a rule-set switch, a bulletin, an appeal decision) falls among the other services'
facts where it happened. An event id seen before is skipped (the live consumers' inbox does the
same); a message that is not a valid event is counted and reported, not fatal; an event its handler
refuses (as the live consumer would have dead-lettered it, e.g. a task event of another tenant's
task) has no effect and is reported.

The target must be empty. The events are folded in memory by the rules the handlers apply
(fold.py: each task's outcome, the ledger's keys, each unit's threshold facts, the rule sets in
force) and the rows written many at a time, all in one transaction, so a replay that fails leaves
the target's tables empty; an event a handler would refuse is left out alone. ``by_handlers``
applies each event with the service's own handlers instead, in transactions of ``batch`` events,
each event in a savepoint: about a thousand events a second, the reference the fold is tested
against.

The NATS user needs to create consumers on the three streams (the operator, or no auth).

The triggered actions the replay announces again go to the outbox marked as published: the
stream has them already. processed_event gets the intake and tracking events, as scoring's
consumers record them, so the rebuilt store can take over from the live one.
"""

import asyncio
import contextlib
import gc
import json
import sys
import time
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from heapq import heapify, heappop, heapreplace
from typing import TextIO

from pydantic import ValidationError, create_model
from sqlalchemy import func, inspect, select, update
from sqlalchemy.engine import make_url
from sqlmodel import Session, col
from sqlmodel.ext.asyncio.session import AsyncSession

from services.scoring import fold, handlers, periods, reports, store
from services.scoring.models import (
    ActionSent, LedgerEntry, ScoringBase, TaskOutcome,
)
from shared.consumer import ProcessedEvent
from shared.db import (
    PlumbingBase, create_tables, insert_ignoring_duplicates, make_engine, session_factory,
)
from shared.events import CATALOGUE, Envelope, EventData
from shared.outbox import OutboxRow
from shared.streams import stream_of

SERVICE = "scoring"
STREAMS = tuple(stream_of(s).name for s in ("intake", "tracking", "scoring"))  # merge ties: this order
OWN_STREAM = stream_of(SERVICE).name


def wanted_subjects() -> dict[str, list[str]]:
    """The subjects to read from each stream: the event types ``handlers.ALL`` applies (an event's
    subject is its type)."""
    by_stream: dict[str, list[str]] = {name: [] for name in STREAMS}
    for event_type in handlers.ALL:
        by_stream[stream_of(event_type.split(".")[1]).name].append(event_type)
    return {name: sorted(subjects) for name, subjects in by_stream.items()}


# ---- reading the streams ------------------------------------------------------------------------


class StreamReader:
    """Every message of ``subjects`` in ``stream`` from the first, as (stream sequence, subject,
    payload) batches, up to the stream's last message when ``open`` was called: an ephemeral pull consumer
    with no acks (nothing on the server changes). It speaks the pull protocol itself (a request
    for a batch, the next one asked for as soon as a batch is in) with a subscription callback:
    nats-py's ``fetch`` waits for each message with a timeout of its own, at a third of the speed."""

    def __init__(self, js, stream: str, subjects: list[str], batch: int = 5000) -> None:
        self.js, self.stream, self.subjects, self.batch = js, stream, subjects, batch
        self.total = 0  # wanted messages in the stream when opened
        self.last_seq = 0
        self.missing = False
        self.consumer: str | None = None

    async def open(self) -> int:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
        from nats.js.errors import NotFoundError

        try:
            info = await self.js.stream_info(self.stream)
        except NotFoundError:
            self.missing = True
            return 0
        if not self.subjects or info.state.messages == 0:
            return 0
        nc = self.js._nc
        config = ConsumerConfig(
            name=f"replay_{nc._nuid.next().decode()}", deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.NONE, filter_subjects=self.subjects, inactive_threshold=600.0,
            mem_storage=True, num_replicas=1,
        )
        consumer = await self.js.add_consumer(self.stream, config=config)
        self.consumer = consumer.name
        self.last_seq = (await self.js.stream_info(self.stream)).state.last_seq
        self.total = consumer.num_pending or 0
        return self.total

    async def batches(self) -> AsyncIterator[list[tuple[int, str, bytes]]]:
        if self.consumer is None or self.total == 0:
            return
        nc = self.js._nc
        inbox = nc.new_inbox()
        request_subject = f"{self.js._prefix}.CONSUMER.MSG.NEXT.{self.stream}.{self.consumer}"
        request = json.dumps({"batch": self.batch, "no_wait": True}).encode()
        state = {"got": [], "count": 0, "end": False, "error": None}
        ready = asyncio.Event()
        batch_size = self.batch

        def on_message(subject: bytes, reply: bytes, data: bytes, headers: bytes | None) -> None:
            if headers and headers.startswith(b"NATS/1.0 "):  # a status, not a message
                status, _, description = headers[9:].split(b"\r\n", 1)[0].decode().partition(" ")
                if status == "100":  # a heartbeat
                    return
                if status not in ("404", "408"):  # 404/408: nothing more for this request now
                    state["error"] = f"{status} {description}".strip()
                state["end"] = True
                ready.set()
                return
            state["got"].append((reply, subject, data))
            state["count"] += 1
            if state["count"] >= batch_size:
                ready.set()

        sub = await nc.subscribe(inbox)
        _RawDelivery.take(nc, sub._id, on_message)
        read, last = 0, 0
        try:
            await nc.publish(request_subject, request, reply=inbox)
            finished = False
            while not finished:
                try:
                    await asyncio.wait_for(ready.wait(), timeout=60)
                except TimeoutError:
                    raise RuntimeError(f"reading {self.stream}: no answer from the server for 60 s "
                                       f"after message {last}") from None
                ready.clear()
                if state["error"]:
                    raise RuntimeError(f"reading {self.stream}: {state['error']} after message {last}")
                got, ended = state["got"], state["end"]
                state.update(got=[], count=0, end=False)
                out = []
                for reply, subject, payload in got:
                    seq = _sequence(reply)
                    if seq > self.last_seq:  # came in after the replay began
                        finished = True
                        break
                    out.append((seq, subject.decode(), payload))
                    finished = seq == self.last_seq
                if ended and not out and not finished:
                    # A request with nothing for it: the end, if the server agrees nothing is left.
                    finished = (await self.js.consumer_info(self.stream, self.consumer)).num_pending == 0
                if not finished:  # ask for the next batch before handing this one over
                    await nc.publish(request_subject, request, reply=inbox)
                if out:
                    read, last = read + len(out), out[-1][0]
                    yield out
        finally:
            _RawDelivery.release(nc, sub._id)
            await sub.unsubscribe()
        if read < self.total:
            raise RuntimeError(f"reading {self.stream}: {read:,} of its {self.total:,} messages came, "
                               f"the last #{last} (were messages removed while the replay ran?)")

    async def close(self) -> None:
        if self.consumer is not None:
            with contextlib.suppress(Exception):
                await self.js.delete_consumer(self.stream, self.consumer)
            self.consumer = None


class _RawDelivery:
    """Hands the messages of chosen subscriptions of a connection to a function as the protocol
    parser reads them — subject, reply, payload and raw headers — where nats-py would build a
    message object, parse its headers into a dict and queue it for the subscription's task: most
    of the time a replay spends reading. Messages of the connection's other subscriptions go
    nats-py's way."""

    _of: "weakref.WeakKeyDictionary[object, _RawDelivery]" = weakref.WeakKeyDictionary()

    @classmethod
    def take(cls, nc, sid: int, taker: Callable[[bytes, bytes, bytes, bytes | None], None]) -> None:
        delivery = cls._of.get(nc) or cls(nc)
        delivery.takers[sid] = taker

    @classmethod
    def release(cls, nc, sid: int) -> None:
        delivery = cls._of.get(nc)
        if delivery is not None:
            delivery.takers.pop(sid, None)
            if not delivery.takers:
                delivery.uninstall()

    def __init__(self, nc) -> None:
        self.nc, self.takers = nc, {}
        self.process = nc._process_msg
        self.patched_before = "_process_msg" in vars(nc)
        nc._process_msg = self.process_msg
        self._of[nc] = self

    async def process_msg(self, sid, subject, reply, data, headers) -> None:
        taker = self.takers.get(sid)
        if taker is None:
            return await self.process(sid, subject, reply, data, headers)
        taker(subject, reply, data, headers)

    def uninstall(self) -> None:
        del self._of[self.nc]
        if self.patched_before:
            self.nc._process_msg = self.process
        else:
            del self.nc._process_msg  # the class's method again


def _sequence(reply: bytes) -> int:
    """The stream sequence from a JetStream reply subject
    (``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>``, or the form with a
    domain and an account hash)."""
    tokens = reply.split(b".")
    return int(tokens[5]) if len(tokens) == 9 else int(tokens[7])


class Malformed(ValueError):
    pass


def _typed_envelope(event_type: str) -> type[Envelope]:
    data = CATALOGUE[event_type]
    return create_model(f"{data.__name__}Envelope", __base__=Envelope, data=(data, ...))


# An envelope with its data's model, for each type scoring applies: one validation per message.
_TYPED = {event_type: _typed_envelope(event_type).__pydantic_validator__ for event_type in handlers.ALL}


def parse(payload: bytes, subject: str | None = None) -> tuple[Envelope, EventData | None]:
    """The envelope and, for a type scoring applies, its data; Malformed says what is wrong.
    ``subject``, the subject the message came on, is the type it most likely has (an event's
    subject is its type): the envelope and the data are then validated in one pass."""
    typed = _TYPED.get(subject)
    if typed is not None:
        try:
            env = typed.validate_json(payload)
        except ValidationError:
            pass  # told below, the envelope's faults apart from the data's
        else:
            if env.type == subject:
                return env, env.data
    try:
        env = Envelope.model_validate_json(payload)
    except ValidationError as exc:
        raise Malformed(f"not a valid event envelope: {_first_error(exc)}") from None
    if env.type not in handlers.ALL:
        return env, None
    try:
        return env, CATALOGUE[env.type].model_validate(env.data)
    except ValidationError as exc:
        raise Malformed(f"bad data for {env.type}: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": str(exc)}
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{'.'.join(map(str, first['loc'])) or 'document'}: {first['msg']}{more}"


@dataclass
class StreamStats:
    total: int = 0  # wanted messages found when the replay began
    read: int = 0
    malformed: int = 0
    missing: bool = False


# An event to apply: (time, stream rank, stream sequence, envelope, data), so the tuples order
# themselves by the merge's key (the rank and sequence tell any two apart).
Event = tuple[datetime, int, int, Envelope, EventData | None]
RANK, SEQ, ENV, DATA = 1, 2, 3, 4


class _Cursor:
    """One stream's events in stream order, parsed, read a batch at a time."""

    def __init__(self, reader: StreamReader, rank: int, stats: StreamStats, problems: list[str]) -> None:
        self.reader, self.rank, self.stats, self.problems = reader, rank, stats, problems
        self._batches = reader.batches()
        self._buffer: list[Event] = []
        self._next = 0

    def take(self) -> Event | None:
        """The next event read already, if any."""
        if self._next < len(self._buffer):
            self._next += 1
            return self._buffer[self._next - 1]
        return None

    async def next(self) -> Event | None:
        while (found := self.take()) is None:
            batch = await anext(self._batches, None)
            if batch is None:
                return None
            self._buffer, self._next = self._parse(batch), 0
        return found

    def _parse(self, batch: list[tuple[int, str, bytes]]) -> list[Event]:
        out = []
        stream, rank = self.reader.stream, self.rank
        self.stats.read += len(batch)
        for seq, subject, payload in batch:
            try:
                env, data = parse(payload, subject)
            except Malformed as exc:
                self.stats.malformed += 1
                if len(self.problems) < 20:
                    self.problems.append(f"malformed: {stream} #{seq}: {exc}")
                continue
            out.append((env.time, rank, seq, env, data))
        return out


async def merged(cursors: list[_Cursor], size: int = 4096) -> AsyncIterator[list[Event]]:
    """The streams' events merged by time (then stream, then sequence), each stream in its order,
    ``size`` at a time."""
    heads: list[Event] = [first for cursor in cursors if (first := await cursor.next()) is not None]
    heapify(heads)
    out: list[Event] = []
    while heads:
        head = heads[0]
        cursor = cursors[head[RANK]]
        following = cursor.take()
        if following is None:
            following = await cursor.next()
        if following is None:
            heappop(heads)
        else:
            heapreplace(heads, following)
        out.append(head)
        if len(out) >= size:
            yield out
            out = []
    if out:
        yield out


# ---- the progress bar ---------------------------------------------------------------------------


class Progress:
    """A progress bar on ``out``: redrawn in place at most ``per_second`` times a second on a
    terminal; elsewhere (a log, a pipe) a plain line at every tenth of the way."""

    WIDTH = 30

    def __init__(self, total: int, label: str = "replay", out: TextIO | None = None,
                 tty: bool | None = None, per_second: float = 10.0) -> None:
        self.total, self.label = total, label
        self.out = out if out is not None else sys.stderr
        self.tty = self.out.isatty() if tty is None else tty
        self.interval = 1.0 / per_second
        self.started = time.perf_counter()
        self._drawn_at = 0.0
        self._tenth = -1
        self.done = 0

    def update(self, done: int) -> None:
        self.done = done
        now = time.perf_counter()
        if self.tty:
            if now - self._drawn_at >= self.interval:
                self._drawn_at = now
                self.out.write("\r" + self.line(now) + "\x1b[K")
                self.out.flush()
        else:
            tenth = min(10, 10 * done // self.total) if self.total else 10
            if tenth > self._tenth:
                self._tenth = tenth
                self.out.write(self.line(now) + "\n")
                self.out.flush()

    def finish(self) -> None:
        self.total = max(self.total, self.done)
        now = time.perf_counter()
        if self.tty:
            self.out.write("\r" + self.line(now) + "\x1b[K\n")
        elif self._tenth < 10:
            self.out.write(self.line(now) + "\n")
        self.out.flush()

    def line(self, now: float) -> str:
        total = max(self.total, self.done)
        share = self.done / total if total else 1.0
        filled = int(share * self.WIDTH)
        rate = self.done / max(now - self.started, 1e-9)
        return (f"{self.label} {share * 100:5.1f}% [{'#' * filled}{'.' * (self.WIDTH - filled)}] "
                f"{self.done:,}/{total:,} {rate:,.0f} events/s")


# ---- applying -------------------------------------------------------------------------------------


class TargetNotEmpty(RuntimeError):
    pass


def display_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


@dataclass
class ReplayReport:
    into: str
    streams: dict[str, StreamStats]
    applied: int = 0
    duplicates: int = 0
    foreign: int = 0  # types scoring does not apply (a subject filter let them through)
    refused: int = 0  # a handler refused them (the live consumer dead-letters those)
    actions: int = 0  # triggered actions announced again (kept in the outbox as published)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def read(self) -> int:
        return sum(s.read for s in self.streams.values())

    @property
    def malformed(self) -> int:
        return sum(s.malformed for s in self.streams.values())

    @property
    def skipped(self) -> int:
        return self.duplicates + self.foreign

    def summary(self) -> str:
        rate = self.read / self.seconds if self.seconds else 0.0
        lines = [f"replayed {self.read:,} events in {self.seconds:.1f} s ({rate:,.0f} events/s) "
                 f"into {display_url(self.into)}"]
        for name, s in self.streams.items():
            note = " (no such stream)" if s.missing else ""
            lines.append(f"  {name:<15} {s.read:>10,} read{note}")
        lines.append(f"  applied {self.applied:,}, skipped {self.skipped:,} "
                     f"({self.duplicates:,} duplicates, {self.foreign:,} not scoring's), "
                     f"malformed {self.malformed:,}, refused by a handler {self.refused:,}, "
                     f"actions triggered {self.actions:,}")
        lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {"into": display_url(self.into), "read": self.read, "applied": self.applied,
                "duplicates": self.duplicates, "foreign": self.foreign, "malformed": self.malformed,
                "refused": self.refused, "actions": self.actions, "seconds": round(self.seconds, 3),
                "streams": {n: s.__dict__ for n, s in self.streams.items()}, "problems": self.problems}


async def prepare_target(url: str) -> None:
    """Create scoring's tables in ``url``; TargetNotEmpty if a table of scoring's holds a row or
    the database holds tables that are not scoring's (another service's database, say)."""
    ours = {t.name: t for t in [*ScoringBase.metadata.sorted_tables, *PlumbingBase.metadata.sorted_tables]}
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            present = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
            foreign = sorted(name for name in present if name not in ours)
            filled = [name for name in present if name in ours
                      and (await conn.execute(select(ours[name]).limit(1))).first() is not None]
        if not foreign and not filled:
            await create_tables(engine, [PlumbingBase.metadata, ScoringBase.metadata])
    finally:
        await engine.dispose()
    if filled:
        raise TargetNotEmpty(f"{display_url(url)} is not empty (rows in {', '.join(filled)}): "
                             "replay rebuilds scoring into an empty store only")
    if foreign:
        raise TargetNotEmpty(f"{display_url(url)} is not empty: it holds tables scoring does not have "
                             f"({', '.join(foreign[:10])}{', …' if len(foreign) > 10 else ''}); "
                             "is it another service's database?")


async def replay(nats_url: str, into: str, *, batch: int = 5000, by_handlers: bool = False,
                 progress: Callable[[int], Progress] | None = None, nc=None) -> ReplayReport:
    """Rebuild scoring's store in the empty database ``into`` from the streams at ``nats_url``:
    folded in memory and written in one transaction, or, ``by_handlers``, applied with the
    service's handlers in transactions of ``batch`` events (slow: the reference the fold is
    tested against)."""
    import nats

    started = time.perf_counter()
    await prepare_target(into)
    own = nc is None
    if own:
        nc = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=3, error_cb=_quiet)
    js = nc.jetstream(timeout=10)
    subjects = wanted_subjects()
    readers = [StreamReader(js, name, subjects[name]) for name in STREAMS]
    report = ReplayReport(into=into, streams={name: StreamStats() for name in STREAMS})
    try:
        for reader in readers:
            stats = report.streams[reader.stream]
            stats.total = await reader.open()
            stats.missing = reader.missing
        total = sum(s.total for s in report.streams.values())
        bar = progress(total) if progress is not None else None
        cursors = [_Cursor(r, rank, report.streams[r.stream], report.problems)
                   for rank, r in enumerate(readers)]
        applier = _Applier(into, report, batch) if by_handlers else _FoldApplier(into, report)
        try:
            with _no_cycle_collection():
                await applier.start()
                await _apply_all(merged(cursors), applier, report, bar)
        finally:
            await applier.close()
        if bar is not None:
            bar.finish()
    finally:
        for reader in readers:
            await reader.close()
        if own:
            await nc.close()
    report.seconds = time.perf_counter() - started
    return report


@contextlib.contextmanager
def _no_cycle_collection():
    """Python's cycle collector off while the replay runs: each event makes a few objects, and the
    collector, run every few hundred of them, walks the fold's millions of live ones again and
    again — nearly half the replay's time. What the replay throws away, reference counting frees
    (its state holds no cycles)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


async def _quiet(_error: Exception) -> None:
    """nats-py logs each failed connection attempt with a traceback; the caller reports the end."""


async def _apply_all(events: AsyncIterator[list[Event]], applier, report: ReplayReport,
                     bar: Progress | None) -> None:
    seen: set[str] = set()
    processed = 0
    async for chunk in events:
        fresh = []
        for item in chunk:
            event_id = item[ENV].id
            if item[DATA] is None:
                report.foreign += 1
            elif event_id in seen:
                report.duplicates += 1
            else:
                seen.add(event_id)
                fresh.append(item)
        await applier.apply(fresh)
        processed += len(chunk)
        if bar is not None:
            bar.update(processed + report.malformed)
    await applier.finish()


def _durables() -> dict[str, str]:
    """The consumer names processed_event records events under, per stream."""
    return {s.stream: s.durable(SERVICE) for s in handlers.SUBSCRIPTIONS}


def _refused(report: ReplayReport, item: Event, exc: Exception) -> None:
    report.refused += 1
    if len(report.problems) < 40:
        env = item[ENV]
        report.problems.append(f"refused: {STREAMS[item[RANK]]} #{item[SEQ]} {env.type} "
                               f"({env.id}): {type(exc).__name__}: {exc}"[:400])


class _FoldApplier:
    """The events folded in memory (fold.py), the rows written as they pile up, all in one
    transaction: a replay that fails leaves the target's tables empty."""

    ROWS_PER_WRITE = 20_000
    SQLITE_CACHE_KIB = 512 * 1024

    def __init__(self, url: str, report: ReplayReport) -> None:
        self.report = report
        self.engine = make_engine(url)
        self.conn = self.transaction = None

    async def start(self) -> None:
        self.conn = await self.engine.connect()
        self.transaction = await self.conn.begin()
        if self.conn.dialect.name == "sqlite":
            # The indexes of a million rows (event ids, ledger keys: random order) far outgrow
            # SQLite's default 2 MB page cache; this connection's own, for the replay only.
            await self.conn.exec_driver_sql(f"PRAGMA cache_size = -{self.SQLITE_CACHE_KIB}")
        self.fold = fold.Fold(postgres=self.conn.dialect.name == "postgresql", durables=_durables())
        self.writer = fold.Writer(self.conn)

    async def apply(self, items: list[Event]) -> None:
        state, on = self.fold, self.fold.on
        now = datetime.now(UTC)
        applied = 0
        for item in items:
            env, data = item[ENV], item[DATA]
            handler = on.get(env.type)
            try:
                if handler is not None:
                    handler(data, env)
                else:
                    period = state.period_to_close(data, env)
            except Exception as exc:
                _refused(self.report, item, exc)
                continue
            if handler is None and not await self._close_period(item, period):
                continue
            state.processed(STREAMS[item[RANK]], env, now)
            applied += 1
        self.report.applied += applied
        if state.pending() >= self.ROWS_PER_WRITE:
            await self.writer.flush(state)

    async def _close_period(self, item: Event, period: periods.Period) -> bool:
        """The close of ``period`` with its ranking as the store holds it now (written first)."""
        env, data = item[ENV], item[DATA]
        await self.writer.flush(self.fold)
        try:
            async with self.conn.begin_nested():
                report = await self.writer.ranking(env.tenant, period)
        except Exception as exc:
            _refused(self.report, item, exc)
            return False
        self.fold.on_period_closed(data, env, report)
        return True

    async def finish(self) -> None:
        await self.writer.flush(self.fold)
        await self.transaction.commit()
        self.report.actions = len(self.fold.sent)

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()  # rolls back what was not committed
        await self.engine.dispose()


class _Applier:
    """A chunk of events in one transaction, each in a savepoint, with the service's handlers; the
    events of the other services are recorded as processed, as scoring's consumers record them."""

    def __init__(self, url: str, report: ReplayReport, batch: int) -> None:
        self.report, self.batch = report, batch
        self.durables = _durables()
        self.engine = make_engine(url)
        self.sessions = session_factory(self.engine)
        self.waiting: list[Event] = []

    async def start(self) -> None:
        pass

    def inbox_rows(self, items: list[Event]) -> list[dict]:
        now = datetime.now(UTC)
        return [{"consumer": self.durables[STREAMS[i[RANK]]], "event_id": i[ENV].id, "processed_at": now}
                for i in items if STREAMS[i[RANK]] in self.durables]

    async def apply(self, items: list[Event]) -> None:
        self.waiting += items
        while len(self.waiting) >= self.batch:
            chunk, self.waiting = self.waiting[:self.batch], self.waiting[self.batch:]
            await self._apply_chunk(chunk)

    async def _apply_chunk(self, chunk: list[Event]) -> None:
        """The chunk in one transaction; if a handler refuses an event, the chunk again with each
        event in a savepoint, so only the refused ones are left out."""
        try:
            await self._apply(chunk, one_by_one=False)
        except Exception:
            await self._apply(chunk, one_by_one=True)

    async def _apply(self, chunk: list[Event], *, one_by_one: bool) -> None:
        async with self.sessions() as session, session.begin():
            applied = []
            for item in chunk:
                env, data = item[ENV], item[DATA]
                if not one_by_one:
                    await handlers.ALL[env.type](data, env, session)
                    applied.append(item)
                    continue
                savepoint = await session.begin_nested()
                try:
                    await handlers.ALL[env.type](data, env, session)
                    await session.flush()
                except Exception as exc:
                    await savepoint.rollback()
                    _refused(self.report, item, exc)
                else:
                    await savepoint.commit()
                    applied.append(item)
            if rows := self.inbox_rows(applied):
                await session.exec(insert_ignoring_duplicates(session, ProcessedEvent.__table__), params=rows)
        self.report.applied += len(applied)

    async def finish(self) -> None:
        if self.waiting:
            await self._apply_chunk(self.waiting)
            self.waiting = []
        async with self.sessions() as session, session.begin():
            self.report.actions = await session.run_sync(_mark_outbox_published)

    async def close(self) -> None:
        await self.engine.dispose()


def _mark_outbox_published(sync: Session) -> int:
    """The actions the replay triggered again are on the stream already: never relay them."""
    result = sync.exec(update(OutboxRow).where(col(OutboxRow.published_at).is_(None))
                          .values(published_at=datetime.now(UTC)))
    return result.rowcount or 0


# ---- comparing two stores ---------------------------------------------------------------------------


async def compare(live_url: str, replayed_url: str, tenants: list[str] | None = None, *,
                  unit_periods: str = "all", limit: int = 200) -> list[str]:
    """How the store at ``replayed_url`` differs from the one at ``live_url``: for every tenant
    (or those given) and every period with entries or task outcomes (years, halves, quarters,
    months), the ranking (plain and normalised) and every unit's score (ledger entries compared
    without their database ids), the triggered actions (action_sent), and scoring's other facts
    (bulletins, appeals, rule sets and switches, closed periods with their kept reports, the org
    copy, task outcomes). ``unit_periods="years"`` compares unit scores for years only (large
    stores). At most ``limit`` differences are listed."""
    engines = [make_engine(live_url), make_engine(replayed_url)]
    found: list[str] = []
    try:
        sessions = [session_factory(e) for e in engines]
        async with sessions[0]() as live, sessions[1]() as rebuilt:
            pair = (live, rebuilt)
            for table in _FACT_TABLES:
                rows = [await _rows(s, table) for s in pair]
                _diff_rows(found, table.name, *rows)
            names = tenants or sorted(set().union(*[await _tenants(s) for s in pair]))
            for tenant in names:
                chosen = sorted(set().union(*[await _periods(s, tenant) for s in pair]))
                for period in chosen:
                    await _compare_period(found, pair, tenant, period, unit_periods)
                    if len(found) >= limit:
                        return found[:limit]
    finally:
        for engine in engines:
            await engine.dispose()
    return found[:limit]


async def _compare_period(found: list[str], pair, tenant: str, period: periods.Period,
                          unit_periods: str) -> None:
    units: set[str] = set()
    for normalise in (False, True):
        both = [await reports.ranking(s, tenant, period, under=None, normalise=normalise,
                                      enforce_switch=False) for s in pair]
        what = f"tenant {tenant}, {period.name}, ranking{' (normalised)' if normalise else ''}"
        _diff(found, what, *(r.model_dump(mode="json") for r in both))
        units |= {s.unit for r in both for s in r.units}
    if unit_periods == "none" or (unit_periods == "years" and period.name != str(period.year)):
        return
    for unit in sorted(units):
        both = [_score_json(await reports.unit_score(s, tenant, unit, period)) for s in pair]
        _diff(found, f"tenant {tenant}, {period.name}, unit {unit} score", *both)


def _score_json(score) -> dict:
    body = score.model_dump(mode="json")
    entries = [{k: v for k, v in e.items() if k != "id"} for e in body["entries"]]
    body["entries"] = sorted(entries, key=lambda e: json.dumps(e, sort_keys=True, ensure_ascii=False))
    return body


async def _tenants(session: AsyncSession) -> set[str]:
    conn = await session.connection()
    found: set[str] = set()
    for model in (LedgerEntry, TaskOutcome, ActionSent):
        found |= set((await conn.execute(select(model.__table__.c.tenant).distinct())).scalars().all())
    return found


async def _periods(session: AsyncSession, tenant: str) -> set[periods.Period]:
    """The months with ledger entries or tasks due, with their quarters, halves and years."""
    conn = await session.connection()
    months: set[tuple[int, int]] = set()
    for table, column in ((LedgerEntry.__table__, "at"), (TaskOutcome.__table__, "due")):
        moment, owner = table.c[column], table.c.tenant
        low, high = (await conn.execute(select(func.min(moment), func.max(moment))
                                        .where(owner == tenant))).one()
        if low is None:
            continue
        month, last = periods.month_of(_aware(low)), periods.month_of(_aware(high))
        while month.start <= last.start:
            start, end = store.bounds(month)
            hit = (await conn.execute(select(moment).where(owner == tenant, moment >= start, moment < end)
                                      .limit(1))).first()
            if hit is not None:
                months.add((month.year, month.start.month))
            month = periods.parse(f"{month.end.year}-{month.end.month:02d}")
    found = set()
    for year, month in months:
        found |= {periods.parse(name) for name in (
            str(year), f"{year}-H{1 + (month - 1) // 6}", f"{year}-Q{1 + (month - 1) // 3}",
            f"{year}-{month:02d}")}
    return found


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# scoring's tables compared row by row (ledger entries: through the scores, without their ids)
_FACT_TABLES = [ScoringBase.metadata.tables[name] for name in (
    "action_sent", "bulletin", "appeal", "rule_set_version", "rule_set_switch", "period_close",
    "org_unit_copy", "task_outcome")]


async def _rows(session: AsyncSession, table) -> dict[tuple, dict]:
    keys = [c.name for c in table.primary_key.columns]
    result = await (await session.connection()).execute(select(table))
    rows = {}
    for row in result.mappings().all():
        row = {k: _plain(v) for k, v in row.items()}
        rows[tuple(row[k] for k in keys)] = row
    return rows


def _plain(value):
    if isinstance(value, datetime):
        return _aware(value).astimezone(UTC).isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, str) and value[:1] in "{[":
        with contextlib.suppress(ValueError):
            return json.loads(value)
    return value


def _diff_rows(found: list[str], name: str, live: dict, rebuilt: dict) -> None:
    for key in sorted(live.keys() | rebuilt.keys(), key=repr):
        label = "/".join(map(str, key))
        if key not in rebuilt:
            found.append(f"{name} {label}: in the live store only")
        elif key not in live:
            found.append(f"{name} {label}: in the replayed store only")
        else:
            _diff(found, f"{name} {label}", live[key], rebuilt[key])


def _diff(found: list[str], what: str, live, rebuilt, path: str = "") -> None:
    if isinstance(live, dict) and isinstance(rebuilt, dict):
        for key in list(dict.fromkeys([*live, *rebuilt])):
            if key not in rebuilt or key not in live:
                found.append(f"{what}: {path}{key} only in the {'live' if key in live else 'replayed'} store")
            else:
                _diff(found, what, live[key], rebuilt[key], f"{path}{key}.")
    elif isinstance(live, list) and isinstance(rebuilt, list):
        if len(live) != len(rebuilt):
            found.append(f"{what}: {path.rstrip('.')} has {len(live)} in the live store, "
                         f"{len(rebuilt)} replayed")
        else:
            for i, (a, b) in enumerate(zip(live, rebuilt, strict=True)):
                _diff(found, what, a, b, f"{path}{i}.")
    elif live != rebuilt:
        found.append(f"{what}: {path.rstrip('.')} is {live!r} live, {rebuilt!r} replayed")

