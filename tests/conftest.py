import pytest

from tests.support import NatsServer, OtlpReceiver, ServiceStack, backends


@pytest.fixture(scope="session")
def otlp():
    receiver = OtlpReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory):
    server = NatsServer(store=tmp_path_factory.mktemp("nats")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module", params=backends())
def stack(request, tmp_path_factory, otlp):
    """The four services on a fresh nats-server, on SQLite or PostgreSQL, exporting traces."""
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    running = ServiceStack(tmp_path_factory.mktemp(f"stack-{request.param}"), request.param, env)
    yield running
    running.stop()
