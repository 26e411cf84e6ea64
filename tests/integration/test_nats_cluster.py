"""docker-compose.yml's NATS cluster for real: three nats-servers on loopback from
deploy/nats/nats.conf (only addresses, ports and the store moved), a service's broker given the
comma-separated DUBAN_NATS_URL, its own NATS user, and its stream at 3 replicas."""

import asyncio
import os
import re
import subprocess
import time

import pytest
from prometheus_client import CollectorRegistry

from duban.launcher import nats_server_binary, wait_for_port
from shared.bus import declare_stream, jetstream, make_broker
from shared.settings import ServiceSettings, Settings
from shared.streams import stream_of
from tests.support import free_port
from tests.unit.deploy_checks import NATS_DIR, nats_passwords

NODES = ["nats-1", "nats-2", "nats-3"]


def loopback_conf(conf: str, ports: dict[str, dict[str, int]], node: str, store: str) -> str:
    """The compose file's configuration with its addresses moved to this machine's free ports."""
    own = ports[node]
    conf = conf.replace("port: 4222", f"host: 127.0.0.1\nport: {own['client']}", 1)
    conf = conf.replace("http_port: 8222", f"http_port: {own['monitor']}", 1)
    conf = conf.replace("  port: 6222", f"  host: 127.0.0.1\n  port: {own['cluster']}", 1)
    conf = conf.replace("store_dir: /data/jetstream", f'store_dir: "{store}"', 1)
    for other in NODES:
        conf = conf.replace(f"nats-route://{other}:6222",
                            f"nats-route://127.0.0.1:{ports[other]['cluster']}")
    settings = "\n".join(line for line in conf.splitlines() if not line.lstrip().startswith("#"))
    assert not re.search(r"\b(4222|6222|8222)\b|/data/", settings), "a compose address was left"
    return conf


@pytest.fixture
def cluster(tmp_path):
    ports = {node: {k: free_port() for k in ("client", "cluster", "monitor")} for node in NODES}
    (tmp_path / "auth.conf").write_text((NATS_DIR / "auth.conf").read_text())
    procs = {}
    for node in NODES:
        conf = tmp_path / f"{node}.conf"
        conf.write_text(loopback_conf((NATS_DIR / "nats.conf").read_text(), ports, node,
                                      str(tmp_path / node)))
        procs[node] = subprocess.Popen(
            [nats_server_binary(), "-c", str(conf)],
            env={**os.environ, **nats_passwords(), "NATS_SERVER_NAME": node},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for node in NODES:
            wait_for_port("127.0.0.1", ports[node]["client"], 20, procs[node])
        yield {node: f"nats://127.0.0.1:{ports[node]['client']}" for node in NODES}, procs
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
                proc.wait(15)


async def _eventually(action, timeout: float = 60.0):
    """Retry while the cluster elects its leaders (JetStream answers 503 or times out)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await action()
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def test_a_service_declares_its_stream_at_three_replicas_and_outlives_a_node(cluster):
    urls, procs = cluster
    settings = Settings(nats_url=",".join(urls.values()), stream_replicas=3, env="test")
    own = ServiceSettings(name="intake", nats_user="intake",
                          nats_password=nats_passwords()["INTAKE_NATS_PASSWORD"])
    broker = make_broker(settings, "intake", registry=CollectorRegistry(), service_settings=own)
    await broker.start()
    try:
        js = jetstream(broker, settings)
        stream = stream_of("intake")
        await _eventually(lambda: declare_stream(js, stream, settings))
        info = await js.stream_info(stream.name)
        assert info.config.num_replicas == 3
        assert info.cluster.leader in NODES and len(info.cluster.replicas) == 2
        first = await _eventually(lambda: js.publish("duban.intake.test.v1", b"{}"))
        assert first.stream == stream.name

        procs[info.cluster.leader].terminate()  # the stream's leader goes away
        procs[info.cluster.leader].wait(15)
        second = await _eventually(lambda: js.publish("duban.intake.test.v1", b"{}"))
        assert second.seq == first.seq + 1  # acknowledged by the two nodes left, none lost
        after = await _eventually(lambda: js.stream_info(stream.name))
        assert after.state.messages == 2 and after.cluster.leader != info.cluster.leader
    finally:
        await broker.stop()
