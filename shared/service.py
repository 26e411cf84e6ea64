"""Wiring shared by the four services: one FastAPI app per service with its bus and database.

A service describes itself with a ``ServiceSpec`` (its schema history, routes, subscriptions and
background workers); ``create_app`` turns that into an app whose lifespan migrates the database,
the broker, the service's own stream, its consumers, its outbox relay and its workers, and stops
them in the reverse order.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from faststream.specification.asyncapi import get_asyncapi_html
from opentelemetry import trace
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import audit, catalogue, telemetry
from shared.access import API_PREFIX, OFFICE, Authenticate, Policy, Rule, authorize
from shared.auth import TokenVerifier
from shared.bus import declare_stream, jetstream, make_broker, wait_for_streams
from shared.clock import Clock
from shared.consumer import ConsumerOptions, EventConsumer, Subscription
from shared.db import make_engine, ping, session_factory
from shared.events import Envelope, EventData, envelope
from shared.migrations import History, upgrade
from shared.outbox import OutboxRelay, add_event
from shared.settings import ServiceSettings, Settings
from shared.streams import StreamSpec, stream_of

log = logging.getLogger(__name__)


class Worker:
    """A background job of a service (e.g. tracking's deadline scanner)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class ServiceSpec:
    name: str
    # Its tables and their revisions (services/<name>/migrations): upgraded to head at start.
    migrations: History
    routers: list[APIRouter]
    subscriptions: list[Subscription] = field(default_factory=list)
    # Streams this service declares for outside producers (intake: the OA's).
    inbound_streams: list[StreamSpec] = field(default_factory=list)
    # Who may call each route (the service's access.py); a route without a rule is refused.
    policy: Policy | None = None
    # Routes whose callers prove who they are themselves (a signed webhook), not with a bearer
    # token: mounted under /api/v1 without it, each exempted by its exact method and path only.
    webhooks: list[APIRouter] = field(default_factory=list)
    # Streams of outside producers this service publishes into on their behalf (intake: what the
    # OA posts to its webhook goes into DUBAN_OA); its NATS user may publish their subjects.
    forwards_into: list[StreamSpec] = field(default_factory=list)
    workers: list[Callable[["Runtime"], Worker]] = field(default_factory=list)


class Runtime:
    """What a running service's routes, handlers and workers use."""

    def __init__(self, spec: ServiceSpec, settings: Settings, service_settings: ServiceSettings):
        self.spec = spec
        self.settings = settings
        self.service_settings = service_settings
        self.name = spec.name
        self.clock = Clock(production=settings.production)
        self.engine = make_engine(service_settings.database_url)
        self.sessions = session_factory(self.engine)
        self.broker = make_broker(settings, spec.name, service_settings=service_settings)
        catalogue.register_publishers(self.broker, spec.name)
        self.stream = stream_of(spec.name)
        self.relay = OutboxRelay(
            service=spec.name,
            broker=self.broker,
            sessions=self.sessions,
            stream=self.stream.name,
            publish_timeout=settings.publish_timeout_s,
            batch_size=settings.relay_batch_size,
            poll_interval=settings.relay_poll_s,
        )
        self.consumers: list[EventConsumer] = []
        self.workers: list[Worker] = []
        self.bus_ready = asyncio.Event()

    # ---- used by routes, handlers and workers ------------------------------------------------

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """One transaction; events staged in it are relayed once it commits."""
        async with audit.transaction(self.sessions) as session:  # with the request's audit entry
            yield session
        self.relay.wake()

    def emit(self, session: AsyncSession, data: EventData, *, tenant: str,
             event_id: str | None = None) -> Envelope:
        """Stage an event of ``tenant`` in ``session``'s transaction (transactional outbox)."""
        event = envelope(data, source=f"/duban/{self.name}", tenant=tenant,
                         time=self.clock.now(), id=event_id)
        add_event(session, event)
        return event

    def emit_all(self, session: AsyncSession, events: list[EventData], *, tenant: str) -> None:
        for data in events:
            self.emit(session, data, tenant=tenant)

    async def forward(self, stream: StreamSpec, subject: str, body: bytes, *, event_id: str) -> bool:
        """Publish an outside producer's event, as received, into its stream (one of the spec's
        ``forwards_into``), with ``Nats-Msg-Id`` = its id; waits for the PubAck. Returns whether
        the stream already held that id (a duplicate within its window)."""
        if stream not in self.spec.forwards_into or not subject.startswith(stream.events_subject[:-1]):
            raise ValueError(f"{self.name} does not forward {subject} into {stream.name}")
        if not self.bus_ready.is_set():
            raise ConnectionError("the bus is not ready")
        ack = await self.broker.publish(
            body, subject, headers={"Nats-Msg-Id": event_id, "content-type": "application/cloudevents+json"},
            stream=stream.name, timeout=self.settings.publish_timeout_s)
        return bool(getattr(ack, "duplicate", False))

    # ---- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        telemetry.instrument_engine(self.engine)
        await upgrade(self.service_settings.database_url, self.spec.migrations)
        self._bus_task = asyncio.create_task(self._start_bus(), name=f"{self.name}-bus-start")

    async def _start_bus(self) -> None:
        """Bring up the bus side; retried until it works (readyz says 503 meanwhile)."""
        while True:
            try:
                await self._bring_up_bus()
                return
            except Exception:
                log.exception("%s: bus start failed; retrying", self.name)
                await self._stop_bus_work()
                await asyncio.sleep(1)

    async def _bring_up_bus(self) -> None:
        await self._connect()
        js = jetstream(self.broker, self.settings)
        for stream in [self.stream, *self.spec.inbound_streams]:
            await declare_stream(js, stream, self.settings)
        await self.clock.follow(js, replicas=self.settings.stream_replicas)
        await wait_for_streams(js, sorted({s.stream for s in self.spec.subscriptions}))
        options = ConsumerOptions(
            batch_size=self.settings.batch_size,
            max_deliver=self.settings.max_deliver,
            retry_delay=self.settings.retry_delay_s,
            ack_wait=self.settings.ack_wait_s,
            graceful_timeout=self.settings.graceful_timeout_s,
        )
        for subscription in self.spec.subscriptions:
            consumer = EventConsumer(self.name, subscription, js, self.sessions, options,
                                     after_commit=self.relay.wake)
            await consumer.start()
            self.consumers.append(consumer)
        self.relay.start()
        for make_worker in self.spec.workers:
            worker = make_worker(self)
            await worker.start()
            self.workers.append(worker)
        self.bus_ready.set()
        log.info("%s: bus ready (%d consumers)", self.name, len(self.consumers))

    async def _connect(self) -> None:
        while True:
            try:
                await self.broker.start()
                return
            except Exception as exc:
                log.warning("%s: cannot reach NATS at %s (%s); retrying", self.name,
                            self.settings.nats_url, exc)
                await asyncio.sleep(1)

    async def _stop_bus_work(self) -> None:
        for worker in reversed(self.workers):
            await worker.stop()
        for consumer in self.consumers:
            await consumer.stop()
        self.workers, self.consumers = [], []
        await self.relay.stop()
        await self.clock.close()

    async def stop(self) -> None:
        self._bus_task.cancel()
        await asyncio.gather(self._bus_task, return_exceptions=True)
        await self._stop_bus_work()
        await self.broker.stop()
        await self.engine.dispose()

    async def ready(self) -> dict[str, Any]:
        checks = {"bus": self.bus_ready.is_set() and self.broker.connection.is_connected}
        try:
            await ping(self.engine)
            checks["database"] = True
        except Exception:
            checks["database"] = False
        return checks


def runtime_of(request: Request) -> Runtime:
    return request.app.state.runtime


def create_app(spec: ServiceSpec, settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    service_settings = ServiceSettings.load(spec.name, settings)
    telemetry.setup_tracing(spec.name)
    runtime = Runtime(spec, settings, service_settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()
            telemetry.shutdown_tracing()

    app = FastAPI(title=f"Duban {spec.name}", version=catalogue.VERSION, lifespan=lifespan)
    app.state.runtime = runtime
    app.state.verifier = TokenVerifier(settings)
    app.state.policy = _with_audit_rule(spec.policy)
    app.state.open_routes = frozenset(
        (method, API_PREFIX + route.path) for router in spec.webhooks for route in router.routes
        for method in getattr(route, "methods", ()))
    app.add_middleware(Authenticate)
    app.add_middleware(audit.RecordAudit)  # outside authentication, so refused tokens are kept too
    app.add_middleware(TraceIdHeader)
    app.include_router(_operations_router(runtime))
    for router in [*spec.routers, audit.router]:
        app.include_router(router, prefix=API_PREFIX, dependencies=[Depends(authorize)])
    for router in spec.webhooks:  # they check their callers' signatures themselves
        app.include_router(router, prefix=API_PREFIX)
    telemetry.instrument_app(app)
    return app


def _with_audit_rule(policy: Policy | None) -> Policy:
    if policy is None:
        raise ValueError("a service needs an access policy (its access.py)")
    return replace(policy, rules={**policy.rules, "GET /audit": Rule(OFFICE)})


class TraceIdHeader:
    """ASGI middleware: tell the caller which trace its request started (for support and the
    console), from the request's span (the tracing middleware runs outside this one)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        span_context = trace.get_current_span().get_span_context()
        if scope["type"] != "http" or not span_context.is_valid:
            return await self.app(scope, receive, send)
        trace_id = format(span_context.trace_id, "032x").encode()

        async def send_with_trace_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), (b"x-trace-id", trace_id)]}
            await send(message)

        await self.app(scope, receive, send_with_trace_id)


def _operations_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": runtime.name}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        checks = await runtime.ready()
        ok = all(checks.values())
        return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    @router.get("/asyncapi.json")
    async def asyncapi_json() -> Response:
        doc = catalogue.asyncapi(runtime.broker, runtime.name).to_specification()
        return Response(doc.to_json(), media_type="application/json")

    @router.get("/asyncapi", response_class=HTMLResponse)
    async def asyncapi_html() -> str:
        doc = catalogue.asyncapi(runtime.broker, runtime.name).to_specification()
        return get_asyncapi_html(doc, try_it_out_path=None)

    return router

