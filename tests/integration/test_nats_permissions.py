"""Each service's NATS user may publish and subscribe only to its own subjects (deploy/nats/auth.conf).

A real nats-server runs with the users `duban nats-config` generates (passwords from its
environment); the services connect as their own users, the OA as ``oa``, the test as ``operator``.
"""

import asyncio
import importlib
import json
import os
import secrets
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import nats
import pytest
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from prometheus_client import CollectorRegistry

from duban import nats_config
from duban.launcher import LaunchError, Stack, nats_server_binary
from shared.auth import mint
from shared.bus import declare_stream, inbox_prefix, jetstream, make_broker
from shared.clock import CLOCK_BUCKET, OFFSET_KEY, Clock, ensure_clock_bucket, read_offset, write_offset
from shared.consumer import Subscription
from shared.settings import SERVICES, ServiceSettings, Settings
from shared.signing import sign
from shared.streams import OA_STREAM, dead_letter_subject, stream_of
from tests.support import NatsServer, free_port, stream_messages, wait_until

# nats-server parses a variable's value as config: a password like "-I…" or "123" reads as a number
PASSWORDS = {user.name: "p" + secrets.token_hex(18) for user in nats_config.users()}
WEBHOOK_SECRET = secrets.token_hex(16)


@dataclass
class Secured:
    server: NatsServer
    log: Path

    @property
    def url(self) -> str:
        return self.server.url

    def violations(self, since: int = 0) -> list[str]:
        """The server's "Publish Violation" / "Subscription Violation" lines (since an offset)."""
        return [line for line in self.log.read_text()[since:].splitlines() if "Violation" in line]

    def log_size(self) -> int:
        return len(self.log.read_text())

    def stop(self) -> None:
        self.server.stop()


def start_secured(tmp: Path) -> Secured:
    """nats-server with the generated users; each password only in the server's environment."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "auth.conf").write_text(nats_config.render())
    log = tmp / "nats-server.log"
    (tmp / "nats.conf").write_text(f'log_file: "{log}"\ninclude "auth.conf"\n')
    with pytest.MonkeyPatch.context() as env:
        for user in nats_config.users():
            env.setenv(user.password_variable, PASSWORDS[user.name])
        server = NatsServer(store=tmp / "store", config=tmp / "nats.conf")
        try:
            server.start()
        except LaunchError as exc:  # say why: a bad config is only reported on stderr
            check = subprocess.run([nats_server_binary(), "-c", str(tmp / "nats.conf"), "-t"],
                                   capture_output=True, text=True)
            raise LaunchError(f"{exc}; config check: {check.stdout}{check.stderr}") from exc
    return Secured(server, log)


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    running = start_secured(tmp_path_factory.mktemp("nats-secured"))
    yield running
    running.stop()


class Connection:
    """A client signed in as ``user``, keeping the errors the server sends it."""

    def __init__(self, nc, errors: list[Exception]):
        self.nc = nc
        self.errors = errors
        self.js = nc.jetstream(timeout=1.5)

    def violations(self) -> list[str]:
        return [str(e) for e in self.errors if "permissions violation" in str(e).lower()]


async def connect(url: str, user: str, password: str | None = None) -> Connection:
    errors: list[Exception] = []

    async def on_error(exc: Exception) -> None:
        errors.append(exc)

    prefix = {} if user == nats_config.OPERATOR_USER else {"inbox_prefix": inbox_prefix(user)}
    nc = await nats.connect(url, user=user, password=password or PASSWORDS[user], error_cb=on_error,
                            allow_reconnect=False, connect_timeout=3, **prefix)
    return Connection(nc, errors)


def service_settings(service: str) -> ServiceSettings:
    return ServiceSettings(name=service, nats_user=service, nats_password=PASSWORDS[service])


def spec(service: str):
    return importlib.import_module(f"services.{service}.main").SPEC


async def declare_all_streams(url: str) -> None:
    """What the services do at start (as the operator: tests of one user need the others' streams)."""
    operator = await connect(url, nats_config.OPERATOR_USER)
    try:
        settings = Settings(nats_url=url, env="test")
        for stream in [*(stream_of(s) for s in SERVICES), OA_STREAM]:
            await declare_stream(operator.js, stream, settings)
    finally:
        await operator.nc.close()


# ---- who may connect -----------------------------------------------------------------------------


async def test_anonymous_and_wrong_passwords_are_refused(secured):
    with pytest.raises(NatsError, match="(?i)authorization"):
        await nats.connect(secured.url, allow_reconnect=False, connect_timeout=3)
    with pytest.raises(NatsError, match="(?i)authorization"):
        await connect(secured.url, "intake", password=PASSWORDS["tracking"])


# ---- what each service may do ----------------------------------------------------------------------


async def test_each_service_declares_its_streams_publishes_and_reads_with_its_own_durables(secured):
    since = secured.log_size()
    settings = Settings(nats_url=secured.url, env="test")
    brokers = {s: make_broker(settings, s, CollectorRegistry(), service_settings(s)) for s in SERVICES}
    oa = await connect(secured.url, nats_config.OA_USER)
    clocks: list[Clock] = []
    try:
        for broker in brokers.values():
            await broker.start()
        # Each declares its own stream(s) (twice: create, then update) and publishes an event.
        for service, broker in brokers.items():
            js = jetstream(broker, settings)
            for stream in [stream_of(service), *spec(service).inbound_streams]:
                await declare_stream(js, stream, settings)
                await declare_stream(js, stream, settings)
            ack = await broker.publish(b"{}", f"duban.{service}.permission.probe.v1",
                                       stream=stream_of(service).name, timeout=5)
            assert ack.stream == stream_of(service).name
        assert (await oa.js.publish("duban.oa.permission.probe.v1", b"{}")).stream == OA_STREAM.name

        # Each reads the streams of its subscriptions with its own durables: fetch, nak, ack,
        # dead-letter into its own stream; and follows the clock.
        for service, broker in brokers.items():
            js = jetstream(broker, settings)
            subscription: Subscription
            for subscription in spec(service).subscriptions:
                durable = subscription.durable(service)
                await js.add_consumer(subscription.stream, ConsumerConfig(
                    durable_name=durable, ack_policy=AckPolicy.EXPLICIT,
                    deliver_policy=DeliverPolicy.ALL, filter_subject=subscription.subject))
                pull = await js.pull_subscribe_bind(durable=durable, stream=subscription.stream)
                [first] = await pull.fetch(1, timeout=5)
                await first.nak()
                [again] = await pull.fetch(1, timeout=5)
                assert again.metadata.num_delivered == 2
                dead = await js.publish(dead_letter_subject(service, durable), again.data)
                assert dead.stream == stream_of(service).name
                await again.term()
                await pull.unsubscribe()
            clock = Clock()
            await clock.follow(js)
            clocks.append(clock)
        # intake forwards what the OA posts to its webhook into DUBAN_OA.
        for stream in spec("intake").forwards_into:
            ack = await brokers["intake"].publish(b"{}", "duban.oa.permission.probe.v1", stream=stream.name,
                                                  timeout=5)
            assert ack.stream == OA_STREAM.name
    finally:
        for clock in clocks:
            await clock.close()
        for broker in brokers.values():
            await broker.stop()
        await oa.nc.close()
    assert oa.violations() == []
    assert secured.violations(since) == []


async def test_intake_cannot_publish_tracking_events(secured):
    await declare_all_streams(secured.url)
    intake = await connect(secured.url, "intake")
    operator = await connect(secured.url, nats_config.OPERATOR_USER)
    try:
        with pytest.raises(NatsTimeout):  # no PubAck: the server dropped the message
            await intake.js.publish("duban.tracking.task.overdue.v1", b"{}", stream="DUBAN_TRACKING")
        await intake.nc.flush()
        assert intake.violations() == [
            'nats: permissions violation for publish to "duban.tracking.task.overdue.v1"']
        assert await stream_messages(operator.js, "duban.tracking.task.overdue.v1", "DUBAN_TRACKING") == []
        # Nor another service's dead letters.
        with pytest.raises(NatsTimeout):
            await intake.js.publish("duban.dlq.tracking.tracking__duban_intake", b"{}")
    finally:
        await intake.nc.close()
        await operator.nc.close()
    assert any('Subject "duban.tracking.task.overdue.v1"' in line for line in secured.violations())


async def test_intake_cannot_use_another_services_durable(secured):
    await declare_all_streams(secured.url)
    intake = await connect(secured.url, "intake")
    operator = await connect(secured.url, nats_config.OPERATOR_USER)
    try:
        for stream, durable in (("DUBAN_SCORING", "tracking__duban_scoring"),
                                ("DUBAN_NOTIFY", "scoring__duban_notify"),
                                ("DUBAN_NOTIFY", "intake__duban_notify")):  # intake reads no notify events
            with pytest.raises(NatsTimeout):
                await intake.js.add_consumer(stream, ConsumerConfig(
                    durable_name=durable, ack_policy=AckPolicy.EXPLICIT))
            with pytest.raises(NotFoundError):
                await operator.js.consumer_info(stream, durable)
        # Nor read through scoring's durable.
        await operator.js.add_consumer("DUBAN_TRACKING", ConsumerConfig(
            durable_name="scoring__duban_tracking", ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL, filter_subject="duban.tracking.>"))
        await operator.js.publish("duban.tracking.permission.probe.v1", b"{}")
        pull = await intake.js.pull_subscribe_bind(durable="scoring__duban_tracking", stream="DUBAN_TRACKING")
        with pytest.raises(TimeoutError):
            await pull.fetch(1, timeout=1)
        await intake.nc.flush()
        assert intake.violations()[0] == ("nats: permissions violation for publish to "
                                          '"$js.api.consumer.durable.create.duban_scoring.tracking__duban_scoring"')
        assert intake.violations()[3:] == ["nats: permissions violation for publish to "
                                           '"$js.api.consumer.msg.next.duban_tracking.scoring__duban_tracking"']
        assert (await operator.js.consumer_info("DUBAN_TRACKING", "scoring__duban_tracking")).num_ack_pending == 0
    finally:
        await intake.nc.close()
        await operator.nc.close()


async def test_intake_reads_the_clock_but_cannot_move_it(secured):
    operator = await connect(secured.url, nats_config.OPERATOR_USER)
    intake = await connect(secured.url, "intake")
    clock = Clock()
    try:
        await write_offset(operator.js, timedelta(hours=5), production=False)
        await clock.follow(intake.js)
        await asyncio.wait_for(_until(lambda: clock.offset == timedelta(hours=5)), 10)

        with pytest.raises(NatsTimeout):
            await write_offset(intake.js, timedelta(days=30), production=False)
        kv = await intake.js.key_value(CLOCK_BUCKET)
        with pytest.raises(NatsTimeout):
            await kv.delete(OFFSET_KEY)
        assert intake.violations() == [
            f'nats: permissions violation for publish to "$kv.{CLOCK_BUCKET}.{OFFSET_KEY}"'] * 2
        assert await read_offset(operator.js) == timedelta(hours=5)
        assert clock.offset == timedelta(hours=5)
        # Nor may it purge or delete the bucket's stream.
        with pytest.raises(NatsTimeout):
            await intake.js.delete_stream(f"KV_{CLOCK_BUCKET}")
    finally:
        await clock.close()
        await write_offset(operator.js, timedelta(0), production=False)
        await intake.nc.close()
        await operator.nc.close()


async def _until(predicate) -> None:
    while not predicate():
        await asyncio.sleep(0.05)


# ---- the OA -------------------------------------------------------------------------------------------


async def test_oa_publishes_only_its_own_events_and_reads_the_services_events(secured):
    await declare_all_streams(secured.url)
    oa = await connect(secured.url, nats_config.OA_USER)
    operator = await connect(secured.url, nats_config.OPERATOR_USER)
    try:
        ack = await oa.js.publish("duban.oa.org_unit.updated.v1", b'{"probe": true}')
        assert ack.stream == "DUBAN_OA"
        with pytest.raises(NatsTimeout):
            await oa.js.publish("duban.intake.item.registered.v1", b"{}")
        await oa.nc.flush()
        assert oa.violations() == [
            'nats: permissions violation for publish to "duban.intake.item.registered.v1"']
        assert await stream_messages(operator.js, "duban.intake.item.registered.v1", "DUBAN_INTAKE") == []

        # It reads the services' events live, or with durables of its own.
        live = await oa.nc.subscribe("duban.tracking.>")
        await oa.nc.flush()
        await operator.js.publish("duban.tracking.permission.probe.v1", b"live")
        assert (await live.next_msg(timeout=3)).data == b"live"
        await oa.js.add_consumer("DUBAN_TRACKING", ConsumerConfig(
            durable_name="oa__duban_tracking", ack_policy=AckPolicy.EXPLICIT,
            filter_subject="duban.tracking.>"))
        pull = await oa.js.pull_subscribe_bind(durable="oa__duban_tracking", stream="DUBAN_TRACKING")
        [first, *_] = await pull.fetch(1, timeout=5)
        await first.ack()
        # Not the dead letters, nor intake's durable.
        await oa.nc.subscribe("duban.dlq.>")
        await oa.nc.flush()
        with pytest.raises(NatsTimeout):
            await oa.js.add_consumer("DUBAN_OA", ConsumerConfig(
                durable_name="intake__duban_oa", ack_policy=AckPolicy.EXPLICIT))
        assert oa.violations()[1:] == [
            'nats: permissions violation for subscription to "duban.dlq.>"',
            "nats: permissions violation for publish to "
            '"$js.api.consumer.durable.create.duban_oa.intake__duban_oa"']
    finally:
        await oa.nc.close()
        await operator.nc.close()


# ---- the four services on their own credentials -------------------------------------------------------


@pytest.mark.e2e
def test_four_services_run_a_slice_on_their_own_nats_users(tmp_path):
    secured = start_secured(tmp_path / "nats")
    data_dir = tmp_path / "stack"
    env = {
        **os.environ,
        "DUBAN_ENV": "test",
        "DUBAN_RETRY_DELAY_S": "0.2",
        "DUBAN_RELAY_POLL_S": "0.2",
        "DUBAN_GRACEFUL_TIMEOUT_S": "5",
        "DUBAN_INTAKE_OA_WEBHOOK_SECRETS": json.dumps({"default": WEBHOOK_SECRET}),
    }
    for service in SERVICES:
        prefix = f"DUBAN_{service.upper()}_"
        env[f"{prefix}PORT"] = str(free_port())
        env[f"{prefix}DATABASE_URL"] = f"sqlite:///{tmp_path / f'{service}.db'}"
        env[f"{prefix}NATS_USER"] = service
        env[f"{prefix}NATS_PASSWORD"] = PASSWORDS[service]
    stack = Stack(data_dir=data_dir, nats_url=secured.url, env=env)
    try:
        stack.start()
        token = mint(Settings(data_dir=data_dir), tenant="default", role="office")
        http = {name: httpx.Client(base_url=url, timeout=10, headers={"Authorization": f"Bearer {token}"})
                for name, url in stack.urls.items()}
        lead = f"U-{secrets.token_hex(4)}"
        due = datetime.now(UTC) + timedelta(days=30)  # far from the warnings
        response = http["intake"].post("/api/v1/items", json={
            "title": "落实安全生产专项整治",
            "source": {"kind": "leader_instruction", "ref": "领导批示〔2026〕12号"},
            "tasks": [{"lead_unit": lead, "due": due.isoformat()}],
        })
        assert response.status_code == 201, response.text
        task_id = response.json()["tasks"][0]["id"]

        def tracked() -> dict | None:
            r = http["tracking"].get(f"/api/v1/tasks/{task_id}")
            return r.json() if r.status_code == 200 else None

        assert wait_until(tracked, what="the task in tracking")["lead_unit"] == lead
        notices = wait_until(lambda: http["notify"].get(f"/api/v1/inbox/{lead}").json(),
                             what="the notice in notify")
        assert [(n["kind"], n["task_id"]) for n in notices] == [("assigned", task_id)]

        # The operator moves the clock past the deadline: tracking follows it and emits the
        # overdue event, which notify reads.
        asyncio.run(_as_operator(secured.url, lambda js: write_offset(js, timedelta(days=31),
                                                                     production=False)))
        wait_until(lambda: (tracked() or {}).get("overdue"), what="the task overdue")
        wait_until(lambda: any(n["kind"] == "overdue" for n in
                               http["notify"].get(f"/api/v1/inbox/{lead}").json()),
                   what="the overdue notice")
        overdue = asyncio.run(_as_operator(secured.url, lambda js: stream_messages(
            js, "duban.tracking.task.overdue.v1", "DUBAN_TRACKING")))
        assert len(overdue) == 1

        # What the OA posts to intake's webhook, intake (as its own user) publishes into DUBAN_OA.
        instruction_id = f"批示-{secrets.token_hex(4)}"
        body = json.dumps({
            "specversion": "1.0", "id": secrets.token_hex(8), "source": "/oa", "tenant": "default",
            "type": "duban.oa.instruction.issued.v1", "time": datetime.now(UTC).isoformat(),
            "data": {"instruction_id": instruction_id, "title": "批示", "tasks": [
                {"lead_unit": lead, "due_working_days": 3}]}}).encode()
        sent = int(time.time())
        response = httpx.post(stack.urls["intake"] + "/api/v1/oa/events", content=body, headers={
            "content-type": "application/cloudevents+json", "X-Duban-Timestamp": str(sent),
            "X-Duban-Signature": sign(WEBHOOK_SECRET, sent, body)})
        assert response.status_code == 202, response.text

        def registered() -> list:
            messages = asyncio.run(_as_operator(secured.url, lambda js: stream_messages(
                js, "duban.intake.item.registered.v1", "DUBAN_INTAKE")))
            return [m for m in messages if instruction_id.encode() in m.data]

        wait_until(registered, what="the OA's instruction registered")
        for client in http.values():
            client.close()
    finally:
        stack.stop(grace=10)
        secured.stop()
    assert secured.violations() == []


async def _as_operator(url: str, action):
    operator = await connect(url, nats_config.OPERATOR_USER)
    try:
        await ensure_clock_bucket(operator.js)
        return await action(operator.js)
    finally:
        await operator.nc.close()
