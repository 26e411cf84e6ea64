"""Test harness: real nats-server processes, service stacks, databases, an OTLP receiver."""

import asyncio
import json
import os
import socket
import struct
import subprocess
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import nats
import nats.errors
import nats.js.errors
import psycopg

from duban.launcher import LaunchError, Stack, nats_server_binary, wait_for_port
from shared.auth import mint
from shared.bus import nats_servers
from shared.settings import SERVICES, Settings

POSTGRES_ENV = "DUBAN_TEST_POSTGRES_URL"
# The OA webhook's secret per tenant in every test stack (DUBAN_INTAKE_OA_WEBHOOK_SECRETS).
OA_WEBHOOK_SECRETS = {"default": "oa-secret-of-default", "other": "oa-secret-of-other"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.1, what: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


async def stream_messages(js, subject: str, stream: str, limit: int = 1000) -> list:
    """Every message on ``subject`` in ``stream`` so far (an ephemeral consumer, unacked)."""
    sub = await js.pull_subscribe(subject, stream=stream)
    try:
        return await sub.fetch(limit, timeout=1)
    except TimeoutError:
        return []
    finally:
        await sub.unsubscribe()


@dataclass
class NatsServer:
    store: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    config: Path | None = None  # a nats-server config file (-c); the flags below override it

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def servers(self) -> str:
        """What the services' DUBAN_NATS_URL says (a cluster names all its servers)."""
        return self.url

    def start(self, attempts: int = 3) -> "NatsServer":
        """Start on ``port``; if another process took that free port first, on a new one."""
        for attempt in range(attempts):
            self.proc = subprocess.Popen(
                [nats_server_binary(), *(["-c", str(self.config)] if self.config else []),
                 "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            try:
                wait_for_port("127.0.0.1", self.port, 10, self.proc)
                return self
            except LaunchError:
                if self.proc.poll() is None or attempt == attempts - 1:
                    raise
                self.port = free_port()
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class NatsCluster:
    """nats-servers with JetStream routed to each other on loopback, each with its own store."""

    def __init__(self, tmp: Path, size: int = 3, name: str = "duban-test") -> None:
        routes = [free_port() for _ in range(size)]
        self.nodes: dict[str, NatsServer] = {}
        for i, route in enumerate(routes):
            node = f"n{i + 1}"
            config = tmp / f"{node}.conf"
            others = ", ".join(f'"nats://127.0.0.1:{p}"' for p in routes if p != route)
            config.write_text(f'server_name: "{node}"\n'
                              f'cluster {{ name: "{name}", listen: "127.0.0.1:{route}", routes: [{others}] }}\n')
            self.nodes[node] = NatsServer(store=tmp / node, config=config)

    def start(self, timeout: float = 30) -> "NatsCluster":
        try:
            for node in self.nodes.values():
                node.start()
            asyncio.run(self._wait_for_meta_leader(timeout))
        except BaseException:
            self.stop()
            raise
        return self

    async def _wait_for_meta_leader(self, timeout: float) -> None:
        """JetStream answers (e.g. account info) only once the cluster has elected a meta leader."""
        nc = await nats.connect(nats_servers(self.servers))
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    await nc.jetstream().account_info()
                    return
                except (nats.errors.Error, nats.js.errors.Error) as exc:
                    if time.monotonic() > deadline:
                        raise AssertionError(f"no JetStream meta leader after {timeout}s: {exc}") from exc
                    await asyncio.sleep(0.2)
        finally:
            await nc.close()

    @property
    def servers(self) -> str:
        return ",".join(node.url for node in self.nodes.values())

    @property
    def url(self) -> str:
        """A running node's address (what a one-server helper connects to)."""
        return next(n.url for n in self.nodes.values() if n.proc and n.proc.poll() is None)

    def kill(self, node: str) -> None:
        """SIGKILL a node: no goodbye to its peers or its clients."""
        proc = self.nodes[node].proc
        proc.kill()
        proc.wait(10)

    def stop(self) -> None:
        for node in self.nodes.values():
            node.stop()


# ---- databases --------------------------------------------------------------------------------


def postgres_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


def backends() -> list[str]:
    """SQLite always; PostgreSQL when configured (CI must configure it)."""
    if postgres_url():
        return ["sqlite", "postgres"]
    if os.environ.get("CI"):
        raise RuntimeError(f"CI must set {POSTGRES_ENV}: the suite runs on PostgreSQL too")
    return ["sqlite"]


def new_postgres_schema() -> tuple[str, str]:
    """A fresh schema in the test database; returns (schema, SQLAlchemy URL using it).

    Fails (never skips) when the database is configured but unreachable.
    """
    base = postgres_url()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    return schema, f"{base}{sep}options=-csearch_path%3D{schema}"


def drop_postgres_schema(schema: str) -> None:
    with psycopg.connect(postgres_url(), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def database_url(backend: str, data_dir: Path, name: str, schemas: list[str]) -> str:
    if backend == "sqlite":
        return f"sqlite:///{data_dir / f'{name}.db'}"
    schema, url = new_postgres_schema()
    schemas.append(schema)
    return url


# ---- a whole stack ------------------------------------------------------------------------------


class ServiceStack:
    """NATS + the four services as processes, on free ports, with their own databases."""

    def __init__(self, tmp: Path, backend: str, extra_env: dict[str, str] | None = None,
                 nats: "NatsServer | NatsCluster | None" = None):
        self.backend = backend
        self.tmp = tmp
        self.nats = nats or NatsServer(store=tmp / "nats").start()
        self.schemas: list[str] = []
        env = {
            **os.environ,
            "DUBAN_ENV": "test",
            "DUBAN_RETRY_DELAY_S": "0.2",
            # A killed replica's unacknowledged batch is redelivered after ack_wait.
            "DUBAN_ACK_WAIT_S": "3",
            "DUBAN_RELAY_POLL_S": "0.2",
            "DUBAN_GRACEFUL_TIMEOUT_S": "5",
            "DUBAN_INTAKE_OA_WEBHOOK_SECRETS": json.dumps(OA_WEBHOOK_SECRETS),
            **(extra_env or {}),
        }
        for name in SERVICES:
            env[f"DUBAN_{name.upper()}_DATABASE_URL"] = database_url(backend, tmp, name, self.schemas)
        try:
            self.stack = self._start(env)
        except BaseException:
            self.nats.stop()  # the fixture never yields, so nothing else would stop it
            raise
        self.http: dict[tuple, httpx.Client] = {}

    def _start(self, env: dict[str, str], attempts: int = 3) -> Stack:
        """Start the services on free ports; should another process take one of those ports
        before a service binds it (other test runs on the machine), start again on new ones."""
        for attempt in range(attempts):
            for name in SERVICES:
                env[f"DUBAN_{name.upper()}_PORT"] = str(free_port())
            stack = Stack(data_dir=self.tmp, nats_url=self.nats.servers, env=env)
            try:
                stack.start()
                return stack
            except LaunchError:
                stack.stop(grace=5)
                if attempt == attempts - 1:
                    raise
        raise AssertionError("not reached")

    def __getattr__(self, service: str) -> httpx.Client:
        """``stack.tracking`` etc.: a client signed in as the supervision office of tenant "default"."""
        if service in SERVICES:
            return self.client(service)
        raise AttributeError(service)

    def token(self, role: str = "office", unit: str | None = None, tenant: str = "default",
              subject: str | None = None, **claims) -> str:
        """A token from the stack's embedded dev issuer."""
        return mint(Settings(data_dir=self.tmp), tenant=tenant, role=role, unit=unit,
                    subject=subject, **claims)

    def as_(self, role: str, unit: str | None = None, service: str = "tracking", *,
            tenant: str = "default", subject: str | None = None) -> httpx.Client:
        """A client of ``service`` signed in with ``role`` (of ``unit``, in ``tenant``)."""
        return self.client(service, role=role, unit=unit, tenant=tenant, subject=subject)

    def client(self, key: str, role: str = "office", unit: str | None = None,
               tenant: str = "default", subject: str | None = None) -> httpx.Client:
        """An HTTP client for a process of the stack (replicas included), signed in as given."""
        cache_key = (key, role, unit, tenant, subject)
        if cache_key not in self.http:
            token = self.token(role, unit, tenant, subject)
            self.http[cache_key] = httpx.Client(base_url=self.stack.urls[key], timeout=10,
                                                headers={"Authorization": f"Bearer {token}"})
        return self.http[cache_key]

    def database_url(self, service: str) -> str:
        """The database URL ``service`` runs on (``DUBAN_<SERVICE>_DATABASE_URL``)."""
        return self.stack.env[f"DUBAN_{service.upper()}_DATABASE_URL"]

    def anonymous(self, service: str) -> httpx.Client:
        return httpx.Client(base_url=self.stack.urls[service], timeout=10)

    def kill(self, name: str) -> None:
        proc = self.stack.procs[name]
        proc.kill()
        proc.wait(10)

    def restart(self, name: str) -> None:
        self.stack.start_service(name)
        self.stack.wait_ready([name])

    def stop(self) -> None:
        for client in self.http.values():
            client.close()
        self.stack.stop(grace=10)
        self.nats.stop()
        for schema in self.schemas:
            drop_postgres_schema(schema)


# ---- OTLP/HTTP receiver -------------------------------------------------------------------------


class OtlpReceiver:
    """Collects spans sent with OTLP over HTTP (protobuf) on a loopback port."""

    def __init__(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
            ExportTraceServiceResponse,
        )

        self.spans: list[dict] = []
        lock = self._lock = threading.Lock()
        spans = self.spans

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest.FromString(body)
                with lock:
                    for resource_spans in request.resource_spans:
                        attrs = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                        for scope in resource_spans.scope_spans:
                            for span in scope.spans:
                                spans.append({
                                    "service": attrs.get("service.name"),
                                    "name": span.name,
                                    "trace_id": span.trace_id.hex(),
                                })
                payload = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def trace(self, trace_id: str) -> list[dict]:
        with self._lock:
            return [s for s in self.spans if s["trace_id"] == trace_id]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def tiny_png() -> bytes:
    """A valid 1×1 PNG (evidence uploads are checked by content, not by name)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\x00"))
            + chunk(b"IEND", b""))
