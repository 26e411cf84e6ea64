"""How does tracking's deadline watch hold up with many open deadlines, next to APScheduler 3.x?

    python -m bench.deadlines --count 100000 [--db postgresql://…/db] [--json out.json]

Fills tracking's own tables with ``count`` open tasks (bulk inserts through the models), starts ONE
real tracking process on a real nats-server (free port, own store), and measures:

- load: from starting the process until it answers /readyz;
- RSS of the tracking process (/proc/<pid>/status VmRSS) while its reminders fire;
- reminder lag: when a ``task.reminded`` event reaches a JetStream subscriber minus the moment it
  was due, over ``fires`` reminders falling due spread over ``window`` seconds (the simulated clock
  is set so they fall due just after the process is ready);
- scheduling rate: tasks registered per second through tracking's own ``task.assigned`` handler
  (deadline, reminder, yellow and stagnant moments computed, rows written), 256 a transaction as
  its consumer batches them;

and the same ``count`` deadlines held by APScheduler (bench/apscheduler_deadlines.py, a process of
its own). ``--db`` takes an empty PostgreSQL database; without it a SQLite file in a temp directory.
"""

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import nats

from bench.fill import insert_in_batches
from duban.launcher import nats_server_binary, wait_for_port
from services.tracking import handlers
from services.tracking.migrations import HISTORY
from services.tracking.models import TrackedTask
from shared.bus import declare_stream
from shared.clock import write_offset
from shared.db import make_engine, session_factory
from shared.events import TaskAssigned, envelope
from shared.migrations import upgrade
from shared.settings import Settings
from shared.streams import StreamSpec

REMINDED = "duban.tracking.task.reminded.v1"
LEAD_S = 3.0  # the first reminder falls due this long after the clock is set
SCHEDULE_SAMPLE = 5_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status_mb(pid: int, field: str = "VmRSS") -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for process {pid}")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used (load on the machine does not change it)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


# ---- the fill -----------------------------------------------------------------------------------


def task_rows(count: int, fires: int, base: datetime, window_s: float, rng: random.Random):
    """Open tasks due in 10-60 days; ``fires`` of them (spread over the ids) have a reminder due
    in the window after ``base``, the others their first reminder days ahead."""
    firing = set(rng.sample(range(count), fires))
    order = iter(range(fires))
    assigned = base - timedelta(days=1)
    for i in range(count):
        due = base + timedelta(days=rng.uniform(10, 60))
        reminder = (base + timedelta(seconds=LEAD_S + next(order) * window_s / fires)
                    if i in firing else due - timedelta(days=3))
        yield {
            "id": f"{i:032x}", "tenant": "bench", "item_id": f"{i // 3:032x}", "parent_task_id": None,
            "item_number": "", "title": f"督办任务{i}", "lead_unit": f"U{i % 500:03d}", "co_units": [],
            "responsible_person": "", "source_kind": "other", "regime": "", "urgency": "normal",
            "supervisor": "", "reporting_cycle": "none", "report_due_day": 2, "due": due,
            "due_working_days": None, "calendar_fallback": False, "status": "assigned",
            "suspended_from": None, "returns": 0, "reverifications": 0, "assigned_at": assigned,
            "last_activity_at": assigned, "overdue_at": None, "extension_due": None,
            "extension_reason": None, "next_reminder_at": reminder,
            "yellow_at": due - timedelta(days=4), "approaching_for": None,
            "stagnant_at": base + timedelta(days=6), "stagnant_flagged": False,
        }


async def fill(url: str, count: int, fires: int, base: datetime, window_s: float) -> float:
    await upgrade(url, HISTORY)  # tracking's tables, as at its start
    engine = make_engine(url)
    started = time.perf_counter()
    await insert_in_batches(engine, TrackedTask.__table__,
                            task_rows(count, fires, base, window_s, random.Random(7)), 10_000)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.exec_driver_sql("ANALYZE")
    await engine.dispose()
    return time.perf_counter() - started


async def schedule_rate(url: str, base: datetime, n: int) -> float:
    """Tasks registered per second through tracking's task.assigned handler, 256 a transaction."""
    engine = make_engine(url)
    sessions = session_factory(engine)
    events = [TaskAssigned(task_id=f"s{i:031x}", item_id=f"s{i:031x}", title=f"排程{i}",
                           lead_unit="U001", due=base + timedelta(days=20 + i % 30)) for i in range(n)]
    started = time.perf_counter()
    for start in range(0, n, 256):
        async with sessions() as session, session.begin():
            for event in events[start:start + 256]:
                env = envelope(event, source="/bench", tenant="bench", time=base)
                await handlers.on_task_assigned(event, env, session)
    elapsed = time.perf_counter() - started
    await engine.dispose()
    return n / elapsed


# ---- the tracking process -----------------------------------------------------------------------


class Nats:
    def __init__(self, store: Path) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [nats_server_binary(), "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(store)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port("127.0.0.1", self.port, 10, self.proc)
        self.url = f"nats://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def start_tracking(tmp: Path, nats_url: str, db_url: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "DUBAN_ENV": "test", "DUBAN_NATS_URL": nats_url, "DUBAN_DATA_DIR": str(tmp),
           "DUBAN_TRACKING_PORT": str(port), "DUBAN_TRACKING_DATABASE_URL": db_url,
           "DUBAN_RELAY_POLL_S": "0.2", "OTEL_SDK_DISABLED": "true"}
    log = open(tmp / "tracking.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "services.tracking"], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, f"http://127.0.0.1:{port}"


def wait_ready(proc: subprocess.Popen, url: str, log: Path, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = log.read_text(errors="replace").strip().splitlines()[-5:]
                raise RuntimeError(f"tracking exited with {proc.returncode}: " + " | ".join(tail))
            try:
                if client.get(f"{url}/readyz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
    raise RuntimeError(f"tracking not ready after {timeout}s")


async def watch_reminders(proc: subprocess.Popen, nats_url: str, base: datetime, fires: int,
                          window_s: float) -> dict:
    """Move the simulated clock to ``base``, then time each reminder as it reaches the bus."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    lags: list[float] = []
    offset = timedelta(0)

    async def on_message(msg) -> None:
        simulated_now = datetime.now(UTC) + offset
        due = datetime.fromisoformat(json.loads(msg.data)["data"]["scheduled_at"])
        lags.append((simulated_now - due).total_seconds() * 1000)

    sub = await js.subscribe(REMINDED, stream="DUBAN_TRACKING", cb=on_message, ordered_consumer=True)
    offset = base - datetime.now(UTC)
    cpu_before = cpu_s(proc.pid)
    await write_offset(js, offset, production=False)
    rss: list[float] = []
    end = time.monotonic() + LEAD_S + window_s + 5
    while time.monotonic() < end and len(lags) < fires:
        rss.append(proc_status_mb(proc.pid))
        await asyncio.sleep(0.5)
    await asyncio.sleep(1)
    cpu = cpu_s(proc.pid) - cpu_before
    await sub.unsubscribe()
    await nc.close()
    lags.sort()
    return {"deadline_fired": len(lags), "deadline_lag_p50_ms": statistics.median(lags) if lags else float("nan"),
            "deadline_lag_p99_ms": percentile(lags, 0.99), "deadline_lag_max_ms": lags[-1] if lags else float("nan"),
            "deadline_cpu_ms_per_reminder": cpu * 1000 / max(1, len(lags)),
            "deadline_rss_mb": max(rss), "deadline_peak_rss_mb": proc_status_mb(proc.pid, "VmHWM")}


async def declare_intake_stream(nats_url: str) -> None:
    """tracking waits for the stream of its producer (intake); the bench has no intake."""
    nc = await nats.connect(nats_url)
    await declare_stream(nc.jetstream(), StreamSpec("intake"), Settings())
    await nc.close()


def measure_tracking(count: int, fires: int, window_s: float, db: str | None, tmp: Path) -> dict:
    db_url = db or f"sqlite:///{tmp / 'tracking.db'}"
    base = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    fill_s = asyncio.run(fill(db_url, count, fires, base, window_s))
    bus = Nats(tmp / "nats")
    proc = None
    try:
        asyncio.run(declare_intake_stream(bus.url))
        started = time.perf_counter()
        proc, url = start_tracking(tmp, bus.url, db_url)
        wait_ready(proc, url, tmp / "tracking.log")
        load_s = time.perf_counter() - started
        load_cpu = cpu_s(proc.pid)
        fired = asyncio.run(watch_reminders(proc, bus.url, base, fires, window_s))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        bus.stop()
    rate = asyncio.run(schedule_rate(db_url, base, min(count, SCHEDULE_SAMPLE)))
    result = {"deadline_count": count, "deadline_fill_s": fill_s, "deadline_load_s": load_s,
              "deadline_load_cpu_s": load_cpu,
              "deadline_schedule_per_s": rate, **fired}
    if not db:
        result["deadline_db_mb"] = (tmp / "tracking.db").stat().st_size / 2**20
    return result


def measure_apscheduler(count: int, fires: int, window_s: float) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.apscheduler_deadlines", str(count), str(fires),
                          str(window_s)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(count: int, *, db: str | None = None, fires: int = 1_000, window_s: float = 20.0) -> dict[str, float]:
    """The figures for ``count`` open deadlines (``db``: an empty PostgreSQL database, else SQLite)."""
    fires = min(fires, count)
    tmp = Path(tempfile.mkdtemp(prefix="duban-bench-deadlines-"))
    try:
        ours = measure_tracking(count, fires, window_s, db, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    theirs = measure_apscheduler(count, fires, window_s)
    ratio = theirs["apscheduler_rss_mb"] / ours["deadline_rss_mb"]
    schedule_ratio = ours["deadline_schedule_per_s"] / theirs["apscheduler_schedule_per_s"]
    return {**ours, **theirs, "deadlines_per_gb_ratio": ratio, "schedule_rate_ratio": schedule_ratio,
            "load_avg_1m": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--db", help="an empty PostgreSQL database (default: SQLite in a temp dir)")
    parser.add_argument("--fires", type=int, default=1_000, help="reminders falling due in the window")
    parser.add_argument("--window", type=float, default=20.0, help="seconds they are spread over")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    result = measure(args.count, db=args.db, fires=args.fires, window_s=args.window)
    print(f"deadlines: {args.count:,} open, {result['deadline_fired']:,} reminders fired in the window")
    print(f"{'figure':<32}{'value':>14}")
    for key, value in result.items():
        print(f"{key:<32}{value:>14,.2f}" if isinstance(value, float) else f"{key:<32}{value:>14,}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
