"""The transactional outbox and its relay against a real nats-server and a real database."""

import asyncio
import json

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry
from sqlalchemy import update
from sqlmodel import select

from shared.bus import declare_stream, make_broker
from shared.events import TaskAssigned, envelope
from shared.outbox import OutboxRelay, OutboxRow, add_event
from shared.settings import Settings
from shared.streams import StreamSpec
from tests.integration.test_consumer import assigned
from tests.support import NatsServer, stream_messages

pytestmark = pytest.mark.asyncio(loop_scope="session")


def relay_for(broker, sessions, stream: StreamSpec) -> OutboxRelay:
    return OutboxRelay(service="test", broker=broker, sessions=sessions, stream=stream.name,
                       publish_timeout=2)


async def published(js, stream: StreamSpec) -> list:
    return await stream_messages(js, stream.events_subject, stream.name)


def on_stream(stream: StreamSpec, data: TaskAssigned):
    event = envelope(data, source="/test", tenant="t1")
    return event.model_copy(update={"type": f"duban.{stream.service}.task.assigned.v1"})


async def pending(sessions) -> list[OutboxRow]:
    async with sessions() as session:
        return list((await session.exec(select(OutboxRow).where(OutboxRow.published_at == None))).all())  # noqa: E711


async def test_relay_publishes_with_event_id_as_msg_id_and_marks_rows(nc, stream, sessions, broker):
    events = [on_stream(stream, assigned(n)) for n in range(3)]
    async with sessions() as session, session.begin():
        for event in events:
            add_event(session, event)
    assert len(await pending(sessions)) == 3

    assert await relay_for(broker, sessions, stream).relay_once() == 3

    messages = await published(nc.jetstream(), stream)
    assert [m.headers["Nats-Msg-Id"] for m in messages] == [e.id for e in events]
    assert [json.loads(m.data)["id"] for m in messages] == [e.id for e in events]
    assert await pending(sessions) == []


async def test_rolled_back_transaction_publishes_nothing(nc, stream, sessions, broker):
    with pytest.raises(RuntimeError):
        async with sessions() as session, session.begin():
            add_event(session, on_stream(stream, assigned(1)))
            raise RuntimeError("the state change failed")
    assert await relay_for(broker, sessions, stream).relay_once() == 0
    assert await published(nc.jetstream(), stream) == []


async def test_republishing_a_row_whose_mark_was_lost_does_not_duplicate(nc, stream, sessions, broker):
    async with sessions() as session, session.begin():
        add_event(session, on_stream(stream, assigned(1)))
    relay = relay_for(broker, sessions, stream)
    await relay.relay_once()
    async with sessions() as session, session.begin():  # as if we crashed before the mark
        await session.exec(update(OutboxRow).values(published_at=None))

    assert await relay.relay_once() == 1  # the duplicate PubAck counts as published
    assert len(await published(nc.jetstream(), stream)) == 1
    assert await pending(sessions) == []


async def test_rows_wait_while_nats_is_down_and_go_out_when_it_is_back(tmp_path, sessions):
    server = NatsServer(store=tmp_path / "nats").start()
    settings = Settings(nats_url=server.url, env="test")
    broker = make_broker(settings, "test", registry=CollectorRegistry())
    await broker.start()
    stream = StreamSpec("outage")
    try:
        await declare_stream(broker.connection.jetstream(), stream, settings)
        relay = relay_for(broker, sessions, stream)
        server.stop()
        async with sessions() as session, session.begin():
            add_event(session, on_stream(stream, assigned(1)))
        assert await relay.relay_once() == 0
        assert len(await pending(sessions)) == 1

        server.start()  # same port and store
        for _ in range(100):
            if broker.connection.is_connected:
                break
            await asyncio.sleep(0.1)
        assert await relay.relay_once() == 1
        assert len(await published(broker.connection.jetstream(), stream)) == 1
    finally:
        await broker.stop()
        server.stop()


async def test_trace_context_is_kept_on_the_row_and_restored_when_relaying(nc, stream, sessions, broker):
    provider = TracerProvider()
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("request") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
        async with sessions() as session, session.begin():
            add_event(session, on_stream(stream, assigned(1)))

    await relay_for(broker, sessions, stream).relay_once()  # outside any span

    (message,) = await published(nc.jetstream(), stream)
    assert message.headers["traceparent"].split("-")[1] == trace_id
    assert trace.get_current_span().get_span_context().is_valid is False
