"""The idempotent consumer against a real nats-server and a real database."""

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import func
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel, select

from shared.consumer import ConsumerOptions, EventConsumer, Subscription
from shared.events import TaskAssigned, envelope
from tests.support import stream_messages

pytestmark = pytest.mark.asyncio(loop_scope="session")


class EffectBase(SQLModel, registry=registry()):
    pass


class Effect(EffectBase, table=True):
    """One row per applied event: a second row for one event would be a doubled effect."""

    id: int | None = Field(default=None, primary_key=True)
    task_id: str


def assigned(n: int) -> TaskAssigned:
    return TaskAssigned(task_id=f"T{n}", item_id="I1", title="t", lead_unit="U-1",
                        due=datetime(2030, 1, 1, tzinfo=UTC))


class Harness:
    def __init__(self, nc, stream, sessions, **options):
        self.js = nc.jetstream()
        self.stream = stream
        self.sessions = sessions
        self.failures: Counter[str] = Counter()  # task_id -> failures left
        self.attempts: Counter[str] = Counter()
        self.slow_first: dict[str, float] = {}  # task_id -> seconds the first attempt takes
        subscription = Subscription(
            stream=stream.name, subject=stream.events_subject,
            handlers={TaskAssigned.TYPE: self.record}, name="effects",
        )
        defaults = {"retry_delay": 0.05, "max_deliver": 3, "ack_wait": 5, "fetch_timeout": 0.5}
        self.consumer = self.replica(subscription, ConsumerOptions(**{**defaults, **options}))
    def replica(self, subscription=None, options=None) -> EventConsumer:
        """Another consumer on the same durable, as a second replica of the service would be."""
        return EventConsumer(
            self.stream.service, subscription or self.consumer.subscription, self.js, self.sessions,
            options or self.consumer.options,
        )

    async def record(self, event: TaskAssigned, env, session) -> None:
        self.attempts[event.task_id] += 1
        if delay := self.slow_first.pop(event.task_id, 0):
            await asyncio.sleep(delay)
        if self.failures[event.task_id]:
            self.failures[event.task_id] -= 1
            raise RuntimeError(f"transient failure for {event.task_id}")
        session.add(Effect(task_id=event.task_id))

    async def publish(self, env_or_bytes, msg_id: str | None = None) -> None:
        data = env_or_bytes if isinstance(env_or_bytes, bytes) else env_or_bytes.to_bytes()
        headers = {"Nats-Msg-Id": msg_id} if msg_id else None
        await self.js.publish(f"duban.{self.stream.service}.task.assigned.v1", data, headers=headers)

    async def effects(self) -> Counter[str]:
        async with self.sessions() as session:
            rows = (await session.exec(select(Effect.task_id))).all()
        return Counter(rows)

    async def wait_effects(self, expected: dict[str, int], timeout: float = 15) -> Counter[str]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = await self.effects()
            if all(found[k] >= v for k, v in expected.items()):
                return found
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"effects {dict(found)} never reached {expected}")
            await asyncio.sleep(0.05)

    async def dead_letters(self) -> list:
        return await stream_messages(self.js, self.consumer.dlq_subject, self.stream.name)


@pytest.fixture
async def harness(nc, stream, db, sessions):
    async with db.begin() as conn:
        await conn.run_sync(EffectBase.metadata.create_all)
    h = Harness(nc, stream, sessions)
    yield h
    await h.consumer.stop()


async def test_republished_event_has_one_effect(harness):
    event = envelope(assigned(1), source="/test", tenant="t1")
    await harness.consumer.start()
    await harness.publish(event, msg_id=event.id)
    await harness.publish(event, msg_id=event.id)  # dropped by the stream's duplicate window
    await harness.publish(event, msg_id="another-message-id")  # reaches the consumer again
    await harness.publish(envelope(assigned(2), source="/test", tenant="t1"))

    await harness.wait_effects({"T1": 1, "T2": 1})
    await asyncio.sleep(0.5)
    assert await harness.effects() == Counter({"T1": 1, "T2": 1})
    info = await harness.js.stream_info(harness.stream.name)
    assert info.state.messages == 3


async def test_redelivered_event_has_one_effect(nc, stream, sessions, db):
    """A slow first attempt outlives ack_wait: the server redelivers it to the other replica
    while the first is still working. Both finish; the event has one effect."""
    async with db.begin() as conn:
        await conn.run_sync(EffectBase.metadata.create_all)
    h = Harness(nc, stream, sessions, ack_wait=1)
    second = h.replica()
    h.slow_first["T1"] = 2.0
    await h.consumer.start()
    await second.start()
    try:
        await h.publish(envelope(assigned(1), source="/test", tenant="t1"))
        await h.wait_effects({"T1": 1})
        for _ in range(50):
            info = await h.js.consumer_info(stream.name, h.consumer.durable)
            if info.delivered.consumer_seq >= 2 and not info.num_ack_pending:
                break
            await asyncio.sleep(0.1)
    finally:
        await second.stop()
        await h.consumer.stop()
    assert info.delivered.consumer_seq >= 2, "no redelivery was provoked"
    assert await h.effects() == Counter({"T1": 1})
    assert h.attempts["T1"] == 1  # the redelivered copy was recognised before the handler


async def test_transient_failure_is_retried_until_it_succeeds(harness):
    harness.failures["T1"] = 2
    await harness.consumer.start()
    await harness.publish(envelope(assigned(1), source="/test", tenant="t1"))
    await harness.wait_effects({"T1": 1})
    assert harness.attempts["T1"] == 3
    assert await harness.dead_letters() == []


async def test_always_failing_event_is_dead_lettered_and_the_next_goes_through(harness):
    harness.failures["T1"] = 1000
    await harness.consumer.start()
    bad = envelope(assigned(1), source="/test", tenant="t1")
    await harness.publish(bad)
    await harness.publish(envelope(assigned(2), source="/test", tenant="t1"))

    await harness.wait_effects({"T2": 1})
    for _ in range(100):
        letters = await harness.dead_letters()
        if letters:
            break
    assert len(letters) == 1
    letter = letters[0]
    assert json.loads(letter.data)["id"] == bad.id
    assert "transient failure for T1" in letter.headers["Duban-Error"]
    assert letter.headers["Duban-Deliveries"] == "3"  # max_deliver
    assert (await harness.effects())["T1"] == 0


async def test_malformed_message_is_dead_lettered_at_once_without_blocking_its_batch(harness):
    await harness.publish(b"{not json")
    for n in range(1, 6):
        await harness.publish(envelope(assigned(n), source="/test", tenant="t1"))
    await harness.consumer.start()  # all six arrive in one batch

    await harness.wait_effects({f"T{n}": 1 for n in range(1, 6)})
    letters = await harness.dead_letters()
    assert [m.data for m in letters] == [b"{not json"]
    assert letters[0].headers["Duban-Deliveries"] == "1"
    assert "not a valid event envelope" in letters[0].headers["Duban-Error"]


async def test_batch_is_applied_in_one_transaction_per_fetch(harness, db):
    for n in range(1, 201):
        await harness.publish(envelope(assigned(n), source="/test", tenant="t1"))
    statements = Counter()

    from sqlalchemy import event

    @event.listens_for(db.sync_engine, "commit")
    def count_commit(conn):
        statements["commit"] += 1

    await harness.consumer.start()
    await harness.wait_effects({f"T{n}": 1 for n in range(1, 201)})
    event.remove(db.sync_engine, "commit", count_commit)
    assert statements["commit"] <= 5, f"{statements['commit']} transactions for 200 events"
    async with harness.sessions() as session:
        assert (await session.exec(select(func.count()).select_from(Effect))).one() == 200
