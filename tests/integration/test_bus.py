"""The broker reaches a cluster given as a comma-separated DUBAN_NATS_URL."""

from prometheus_client import CollectorRegistry

from shared.bus import make_broker
from shared.settings import Settings
from tests.support import free_port


async def test_the_broker_connects_through_whichever_listed_server_answers(nats_server):
    dead = [f"nats://127.0.0.1:{free_port()}" for _ in range(2)]
    settings = Settings(nats_url=",".join([dead[0], nats_server.url, dead[1]]), env="test")
    broker = make_broker(settings, "test", registry=CollectorRegistry())
    await broker.start()
    try:
        connection = broker.connection
        assert connection.is_connected
        assert connection.connected_url.port == nats_server.port
        reply = await connection.request("$JS.API.INFO", b"", timeout=5)
        assert b"memory" in reply.data  # JetStream answered through that server
    finally:
        await broker.stop()
