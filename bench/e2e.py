"""End-to-end assignments per second against the raw JetStream rates, and latency at half the peak.

    python -m bench.e2e [--items 2000] [--latency-s 15] [--db postgresql://…] [--json FILE]

Starts its own nats-server (a free port, its own store in a temporary directory) and the four
services as processes (SQLite files in the same directory, or a fresh schema per service in the
PostgreSQL database given), signs in as the office with a dev token, then measures on that server:

1. the raw bus: async publishes with acks into a scratch stream (a real task-assigned event as the
   payload, with its Nats-Msg-Id), then a durable pull consumer fetching batches of 256 and acking;
2. end to end: ``--items`` items (one task each) POSTed to intake by 32 concurrent clients; an
   assignment is done when tracking, scoring and notify have each committed it — their durable
   consumers of intake's stream have nothing pending and nothing unacknowledged (a handler acks only
   after its transaction committed) once intake's stream holds every task-assigned event;
   dead letters are counted and must be 0; then the same number of assignments again in items of
   50 tasks each (``e2e_bulk_…``), which shares one request's cost among 50 assignments;
3. latency at half that peak rate: items POSTed open-loop (on a schedule, not waiting for each
   other), all to one unit whose inbox on notify is polled every 10 ms; latency is from just before
   the POST to the poll that first shows the in-app notice (so it includes up to one poll interval).
"""

import argparse
import asyncio
import json
import os
import socket
import statistics
import tempfile
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import nats
import psycopg
from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig

from duban.launcher import Stack
from shared.auth import mint
from shared.settings import SERVICES, Settings

ASSIGNED = "duban.intake.task.assigned.v1"
CONSUMERS = ("tracking", "scoring", "notify")  # each has a durable consumer of intake's stream
CONCURRENCY = 32
BULK_TASKS = 50
POLL_S = 0.01
RAW_STREAM = "BENCH_RAW"
LATENCY_UNIT = "BENCH-LATENCY"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


# ---- the stack ------------------------------------------------------------------------------------


@dataclass
class BenchStack:
    """nats-server and the four services in ``root``; PostgreSQL schemas when ``db`` is given."""

    root: Path
    db: str | None = None
    schemas: list[str] = field(default_factory=list)
    stack: Stack | None = None

    def start(self) -> "BenchStack":
        env = {**os.environ, "DUBAN_ENV": "dev"}
        for name in SERVICES:
            env[f"DUBAN_{name.upper()}_PORT"] = str(free_port())
            env[f"DUBAN_{name.upper()}_DATABASE_URL"] = self._database(name)
        self.stack = Stack(data_dir=self.root, nats_port=free_port(), env=env)
        try:
            self.stack.start()
        except BaseException:
            self.stop()
            raise
        return self

    def _database(self, service: str) -> str:
        if not self.db:
            return f"sqlite:///{self.root / f'{service}.db'}"
        schema = f"bench_{uuid.uuid4().hex[:8]}_{service}"
        with psycopg.connect(self.db, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        self.schemas.append(schema)
        sep = "&" if "?" in self.db else "?"
        return f"{self.db}{sep}options=-csearch_path%3D{schema}"

    @property
    def nats_url(self) -> str:
        return self.stack.nats_url

    def url(self, service: str) -> str:
        return self.stack.urls[service]

    def token(self) -> str:
        return mint(Settings(data_dir=self.root), tenant="default", role="office", subject="bench")

    def stop(self) -> None:
        if self.stack:
            self.stack.stop(grace=10)
        if self.schemas:
            with psycopg.connect(self.db, autocommit=True, connect_timeout=5) as conn:
                for schema in self.schemas:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# ---- the raw bus ---------------------------------------------------------------------------------


async def raw_jetstream(js, payload: bytes, count: int) -> dict:
    """Publish ``count`` messages of ``payload`` with acks, then pull and ack them all."""
    await js.add_stream(StreamConfig(name=RAW_STREAM, subjects=["bench.raw.>"], storage=StorageType.FILE,
                                     duplicate_window=300))
    try:
        publish_s = await _publish(js, payload, count)
        pull_s = await _pull_and_ack(js, count)
    finally:
        await js.delete_stream(RAW_STREAM)
    return {"raw_messages": count, "raw_payload_bytes": len(payload),
            "raw_jetstream_publish_per_s": round(count / publish_s),
            "raw_jetstream_pull_ack_per_s": round(count / pull_s)}


async def _publish(js, payload: bytes, count: int) -> float:
    run = uuid.uuid4().hex[:8]
    started = time.perf_counter()
    futures = [await js.publish_async("bench.raw.task", payload, headers={
        "Nats-Msg-Id": f"{run}-{i}", "content-type": "application/cloudevents+json"}) for i in range(count)]
    await asyncio.gather(*futures)  # every PubAck in, or the first error raised
    return time.perf_counter() - started


async def _pull_and_ack(js, count: int) -> float:
    """Like a service's consumer: fetch 256, ack each (not waiting), until the ack floor is at the end."""
    await js.add_consumer(RAW_STREAM, ConsumerConfig(durable_name="raw", ack_policy=AckPolicy.EXPLICIT,
                                                     max_ack_pending=1024))
    sub = await js.pull_subscribe_bind(durable="raw", stream=RAW_STREAM)
    started = time.perf_counter()
    seen = 0
    while seen < count:
        msgs = await sub.fetch(256, timeout=5)
        await asyncio.gather(*(m.ack() for m in msgs))
        seen += len(msgs)
    while (await sub.consumer_info()).ack_floor.stream_seq < count:
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - started
    await sub.unsubscribe()
    return elapsed


# ---- end to end ----------------------------------------------------------------------------------


def item_body(n: int, units: list[str]) -> dict:
    due = datetime.now(UTC) + timedelta(days=30)
    return {"title": f"压测督办事项{n}", "source": {"kind": "leader_instruction", "ref": f"批示〔2026〕{n}号"},
            "tasks": [{"lead_unit": unit, "due": due.isoformat()} for unit in units]}


async def post_item(client: httpx.AsyncClient, n: int, units: list[str]) -> list[str]:
    """Register item ``n`` with a task for each of ``units``; the task ids."""
    response = await client.post("/api/v1/items", json=item_body(n, units))
    if response.status_code != 201:
        raise RuntimeError(f"intake answered {response.status_code}: {response.text[:300]}")
    return [t["id"] for t in response.json()["tasks"]]


async def post_many(client: httpx.AsyncClient, count: int, first: int, tasks_per_item: int = 1) -> list[str]:
    """``count`` items as fast as ``CONCURRENCY`` clients get answers, to 500 different units."""
    numbers = iter(range(first, first + count))
    task_ids: list[str] = []

    async def worker() -> None:
        for n in numbers:
            units = [f"BENCH-{(n * tasks_per_item + k) % 500:03d}" for k in range(tasks_per_item)]
            task_ids.extend(await post_item(client, n, units))

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return task_ids


async def assigned_count(js) -> tuple[int, int]:
    """How many task-assigned events intake's stream holds, and its last sequence number."""
    info = await js.stream_info("DUBAN_INTAKE", subjects_filter=ASSIGNED)
    return (info.state.subjects or {}).get(ASSIGNED, 0), info.state.last_seq


async def wait_all_done(js, target: int, timeout: float = 300) -> None:
    """Until intake's stream holds ``target`` task-assigned events and the three consumers have
    acknowledged (committed) everything on it."""
    deadline = time.monotonic() + timeout
    while (await assigned_count(js))[0] < target:
        _check(deadline, "intake's outbox to publish every task-assigned event")
        await asyncio.sleep(0.02)
    for service in CONSUMERS:
        durable = f"{service}__duban_intake"
        while True:
            info = await js.consumer_info("DUBAN_INTAKE", durable)
            if info.num_pending == 0 and info.num_ack_pending == 0:
                break
            _check(deadline, f"{durable} to catch up ({info.num_pending} pending, "
                             f"{info.num_ack_pending} unacknowledged)")
            await asyncio.sleep(0.02)


def _check(deadline: float, what: str) -> None:
    if time.monotonic() > deadline:
        raise TimeoutError(f"timed out waiting for {what}")


async def dead_letters(js) -> int:
    total = 0
    for service in CONSUMERS:
        info = await js.stream_info(f"DUBAN_{service.upper()}", subjects_filter=f"duban.dlq.{service}.>")
        total += sum((info.state.subjects or {}).values())
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(bench: BenchStack) -> dict[str, float]:
    pids = {name: proc.pid for name, proc in bench.stack.procs.items()}
    return {"harness": time.process_time(), **{name: cpu_seconds(pid) for name, pid in pids.items()}}


async def throughput(bench: BenchStack, js, client: httpx.AsyncClient, assignments: int, first: int,
                     tasks_per_item: int = 1, prefix: str = "e2e") -> tuple[dict, list[str]]:
    """``assignments`` tasks in items of ``tasks_per_item``, until all three services are done."""
    items = max(1, assignments // tasks_per_item)
    assignments = items * tasks_per_item
    before, _ = await assigned_count(js)
    cpu = cpu_snapshot(bench)
    started = time.perf_counter()
    task_ids = await post_many(client, items, first, tasks_per_item)
    posted_s = time.perf_counter() - started
    await wait_all_done(js, before + assignments)
    elapsed = time.perf_counter() - started
    used = {name: seconds - cpu[name] for name, seconds in cpu_snapshot(bench).items()}
    return {f"{prefix}_assignments": assignments, f"{prefix}_assignments_per_s": round(assignments / elapsed, 1),
            f"{prefix}_post_per_s": round(items / posted_s, 1),
            **{f"{prefix}_cpu_ms_per_assignment_{name}": round(s * 1000 / assignments, 2)
               for name, s in used.items()}}, task_ids


# ---- latency --------------------------------------------------------------------------------------


async def latency(client: httpx.AsyncClient, notify: httpx.AsyncClient, rate: float, seconds: float,
                  first: int) -> dict:
    """POST at ``rate`` items/s for ``seconds`` (open loop); time each until its notice shows."""
    count = max(20, int(rate * seconds))
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    posting = asyncio.Event()
    in_flight = asyncio.Semaphore(256)

    async def one(n: int) -> None:
        async with in_flight:
            at = time.perf_counter()
            sent[(await post_item(client, first + n, [LATENCY_UNIT]))[0]] = at

    async def poll() -> None:
        limit = min(1000, max(100, int(rate)))
        while not posting.is_set() or len(seen) < len(sent):
            try:
                response = await notify.get(f"/api/v1/inbox/{LATENCY_UNIT}", params={"limit": limit})
            except httpx.TransportError:  # a kept-alive connection the server just closed: poll again
                continue
            now = time.perf_counter()
            for notice in response.json():
                if notice["task_id"] in sent and notice["task_id"] not in seen:
                    seen[notice["task_id"]] = now
            await asyncio.sleep(POLL_S)

    poller = asyncio.create_task(poll())
    started = time.perf_counter()
    posts = []
    for n in range(count):
        await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
        posts.append(asyncio.create_task(one(n)))
    await asyncio.gather(*posts)
    posting.set()
    try:
        await asyncio.wait_for(poller, timeout=120)
    except TimeoutError:
        raise RuntimeError(f"{len(sent) - len(seen)} of {len(sent)} notices did not show in notify's "
                           "inbox within 120 s of the last POST") from None
    samples = [(seen[t] - sent[t]) * 1000 for t in sent]
    return {"e2e_latency_rate_per_s": round(rate, 1), "e2e_latency_samples": len(samples),
            "e2e_p50_ms": round(statistics.median(samples), 1), "e2e_p99_ms": round(percentile(samples, 99), 1)}


# ---- the whole measurement ---------------------------------------------------------------------


@asynccontextmanager
async def clients(bench: BenchStack):
    headers = {"Authorization": f"Bearer {bench.token()}"}
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with (httpx.AsyncClient(base_url=bench.url("intake"), headers=headers, timeout=60, limits=limits)
                as intake,
                httpx.AsyncClient(base_url=bench.url("notify"), headers=headers, timeout=60) as notify):
        yield intake, notify


async def measure_on(bench: BenchStack, items: int, latency_s: float, raw_messages: int) -> dict:
    nc = await nats.connect(bench.nats_url)
    js = nc.jetstream(timeout=30)
    try:
        async with clients(bench) as (intake, notify):
            warmup = max(20, items // 20)
            await post_many(intake, warmup, 0)  # streams, consumers, connections and caches warm
            await wait_all_done(js, warmup)
            payload = (await js.get_last_msg("DUBAN_INTAKE", ASSIGNED)).data
            raw = await raw_jetstream(js, payload, raw_messages)
            e2e, task_ids = await throughput(bench, js, intake, items, warmup)
            await check_effects(bench, intake, notify, task_ids[-1])
            # The same number of assignments in items of 50 tasks: the HTTP request's cost shared.
            bulk, _ = await throughput(bench, js, intake, items, warmup + items, BULK_TASKS, "e2e_bulk")
            lat = await latency(intake, notify, e2e["e2e_assignments_per_s"] / 2, latency_s, warmup + 2 * items)
            dead = await dead_letters(js)
        if dead:
            raise RuntimeError(f"{dead} event(s) were dead-lettered during the run: the figures are void")
    finally:
        await nc.close()
    share = e2e["e2e_assignments_per_s"] / raw["raw_jetstream_pull_ack_per_s"]
    return {"e2e_db": "postgresql" if bench.db else "sqlite", **raw, **e2e, **bulk, **lat,
            "e2e_share_of_raw_pull_ack": round(share, 4), "e2e_dead_letters": dead}


async def check_effects(bench: BenchStack, intake: httpx.AsyncClient, notify: httpx.AsyncClient,
                        task_id: str) -> None:
    """The last task of the throughput run is in tracking and has its notice in notify."""
    async with httpx.AsyncClient(base_url=bench.url("tracking"), headers=intake.headers) as tracking:
        tracked = await tracking.get(f"/api/v1/tasks/{task_id}")
    if tracked.status_code != 200:
        raise RuntimeError(f"task {task_id} is not in tracking after the run: {tracked.status_code}")
    unit = tracked.json()["lead_unit"]
    notices = (await notify.get(f"/api/v1/inbox/{unit}", params={"limit": 1000})).json()
    if not any(n["task_id"] == task_id for n in notices):
        raise RuntimeError(f"no notice of task {task_id} in {unit}'s inbox after the run")


def measure(items: int = 2000, latency_s: float = 15, raw_messages: int = 50_000, db: str | None = None) -> dict:
    """Start a stack in a temporary directory, measure, stop it; the figures as a dict."""
    with tempfile.TemporaryDirectory(prefix="duban-bench-") as root:
        bench = BenchStack(Path(root), db).start()
        try:
            return asyncio.run(measure_on(bench, items, latency_s, raw_messages))
        finally:
            bench.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000, help="items (one task each) to POST (2000)")
    parser.add_argument("--latency-s", type=float, default=15, help="length of the latency run (15 s)")
    parser.add_argument("--raw-messages", type=int, default=50_000, help="messages for the raw bus (50,000)")
    parser.add_argument("--db", help="a PostgreSQL URL (default: SQLite files)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    result = measure(args.items, args.latency_s, args.raw_messages, args.db)
    for key, value in result.items():
        print(f"{key:<32}{value}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
