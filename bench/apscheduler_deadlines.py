"""The same deadlines held by APScheduler 3.x, for comparison with tracking's deadline watch.

Run by ``bench.deadlines`` in a process of its own (so its memory is its own):

    python -m bench.apscheduler_deadlines COUNT FIRES WINDOW_S

An AsyncIOScheduler with a MemoryJobStore, one date-triggered job per deadline (args: the task id
and its due time, as the watch holds them), added while the scheduler runs. ``FIRES`` of them fall
due spread over ``WINDOW_S`` seconds after the adds; the others weeks later. Then, for a durable
comparison, the rate of adds into a SQLAlchemyJobStore on SQLite. Prints one JSON line.
"""

import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

LEAD_S = 2.0


def rss_mb(pid: str = "self") -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc status")


async def run(count: int, fires: int, window_s: float) -> dict:
    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    lags: list[float] = []

    def remind(task_id: str, due_ts: float) -> None:
        lags.append(time.time() - due_ts)

    scheduler = AsyncIOScheduler(jobstores={"default": MemoryJobStore()}, timezone=UTC,
                                 job_defaults={"misfire_grace_time": None, "coalesce": False})
    scheduler.start()
    base_rss = rss_mb()
    far = datetime.now(UTC) + timedelta(days=30)
    started = time.perf_counter()
    for i in range(count - fires):
        due = far + timedelta(seconds=i % 2_592_000)
        scheduler.add_job(remind, "date", run_date=due, args=(f"{i:032x}", due.timestamp()), id=f"{i:032x}")
        if i % 20_000 == 0:
            await asyncio.sleep(0)  # let the scheduler's loop run, as it would in a service
    first = time.time() + LEAD_S
    for j in range(fires):
        due_ts = first + j * window_s / fires
        due = datetime.fromtimestamp(due_ts, UTC)
        scheduler.add_job(remind, "date", run_date=due, args=(f"f{j:031x}", due_ts), id=f"f{j:031x}")
    added_s = time.perf_counter() - started
    rss = rss_mb()
    await asyncio.sleep(max(0.0, first + window_s - time.time()) + 3)
    scheduler.shutdown(wait=False)
    lags_ms = sorted(lag * 1000 for lag in lags)
    return {
        "apscheduler_count": count,
        "apscheduler_schedule_per_s": count / added_s,
        "apscheduler_rss_mb": rss,
        "apscheduler_base_rss_mb": base_rss,
        "apscheduler_fired": len(lags_ms),
        "apscheduler_lag_p50_ms": statistics.median(lags_ms) if lags_ms else float("nan"),
        "apscheduler_lag_p99_ms": percentile(lags_ms, 0.99),
    }


def durable_schedule_rate(n: int, directory: str) -> float:
    """Jobs added per second to APScheduler's SQLAlchemyJobStore on SQLite: durable, like tracking's
    deadlines (a plain file; no scheduler loop needed to add)."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(timezone=UTC, jobstores={
        "default": SQLAlchemyJobStore(url=f"sqlite:///{directory}/apscheduler.db")})
    scheduler.start(paused=True)
    far = datetime.now(UTC) + timedelta(days=30)
    started = time.perf_counter()
    for i in range(n):
        due = far + timedelta(seconds=i)
        scheduler.add_job(remind_later, "date", run_date=due, args=(f"{i:032x}", due.timestamp()),
                          id=f"{i:032x}")
    rate = n / (time.perf_counter() - started)
    scheduler.shutdown(wait=False)
    return rate


def remind_later(task_id: str, due_ts: float) -> None:
    """A job's target must be importable for a persistent store; never runs here."""


def percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


if __name__ == "__main__":
    count, fires, window = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    result = asyncio.run(run(count, fires, window))
    with tempfile.TemporaryDirectory() as directory:
        result["apscheduler_sqlite_schedule_per_s"] = durable_schedule_rate(min(count, 300), directory)
    print(json.dumps(result))
