"""The NATS broker factory and stream administration."""

import asyncio
import logging

from faststream.nats import NatsBroker, NatsUserPassword
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from faststream.nats.prometheus import NatsPrometheusMiddleware
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from prometheus_client import REGISTRY, CollectorRegistry

from shared.settings import ServiceSettings, Settings
from shared.streams import StreamSpec

log = logging.getLogger(__name__)


def nats_servers(url: str) -> list[str]:
    """The servers ``DUBAN_NATS_URL`` names: one, or a cluster's, comma-separated (nats-py takes
    a list; it would read a comma-separated string as one address)."""
    return [server.strip() for server in url.split(",") if server.strip()]


def inbox_prefix(user: str) -> str:
    """The reply subjects of an authenticated NATS user (``_INBOX_<user>.…``): its own only."""
    return f"_INBOX_{user}"


def make_broker(settings: Settings, service: str, registry: CollectorRegistry = REGISTRY,
                service_settings: ServiceSettings | None = None) -> NatsBroker:
    """A broker with tracing and metrics, endless reconnects and a graceful shutdown.

    Subscribers are not declared on it: Duban's consumers are ``shared.consumer.EventConsumer``
    (retry with delay, ``max_deliver``, dead-letter subject). Publishing goes through it so every
    publish is traced and counted. With ``DUBAN_<SERVICE>_NATS_USER`` set it connects as that
    user (``duban nats-config``), taking its replies on its own inbox prefix; the consumers and
    the clock use the same connection. ``DUBAN_NATS_URL`` may list a cluster's nodes separated by
    commas: nats-py connects to one of them (in random order) and, when it is lost, to another or to
    a node the cluster announced.
    """
    auth = {}
    if service_settings is not None and service_settings.nats_user:
        password = service_settings.nats_password
        auth = {
            "security": NatsUserPassword(service_settings.nats_user,
                                         password.get_secret_value() if password else ""),
            "inbox_prefix": inbox_prefix(service_settings.nats_user),
        }
    return NatsBroker(
        nats_servers(settings.nats_url),
        name=f"duban-{service}",
        **auth,
        middlewares=(
            NatsTelemetryMiddleware(),
            NatsPrometheusMiddleware(registry=registry, app_name=f"duban_{service}"),
        ),
        graceful_timeout=settings.graceful_timeout_s,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
    )


def jetstream(broker: NatsBroker, settings: Settings) -> JetStreamContext:
    """A JetStream context on the broker's connection, with Duban's publish timeout."""
    return broker.connection.jetstream(timeout=settings.publish_timeout_s)


async def declare_stream(js: JetStreamContext, spec: StreamSpec, settings: Settings) -> None:
    """Create or update the service's own stream. Only the owning service calls this."""
    config = spec.config(settings)
    try:
        await js.stream_info(spec.name)
    except NotFoundError:
        await js.add_stream(config)
        log.info("created stream %s", spec.name)
    else:
        await js.update_stream(config)


async def wait_for_streams(js: JetStreamContext, names: list[str], interval: float = 0.5) -> None:
    """Block until the producers' streams exist (a consumer never declares them itself)."""
    for name in names:
        warned = False
        while True:
            try:
                await js.stream_info(name)
                break
            except NotFoundError:
                if not warned:
                    log.info("waiting for stream %s (declared by its producer)", name)
                    warned = True
                await asyncio.sleep(interval)
