"""`duban bench`: every benchmark in one run, one table (figure, value, goal, met?), JSON.

Sections: e2e (bench/e2e.py: the services against the raw bus), deadlines (bench/deadlines.py: open
deadlines in one tracking replica), ledger (bench/ledger.py), stats (bench/stats.py: scoring's
period statistics), replay (bench/scoring_replay.py). Each section's module is imported only when
it runs.
"""

import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

SECTIONS = ("e2e", "deadlines", "ledger", "stats", "replay")


@dataclass(frozen=True)
class Sizes:
    e2e_items: int
    e2e_latency_s: float
    raw_messages: int
    deadlines: int
    ledger_tasks: int
    ledger_runs: int
    stats_tasks: int
    stats_runs: int
    replay_events: int


FULL = Sizes(e2e_items=2000, e2e_latency_s=15, raw_messages=100_000, deadlines=1_000_000,
             ledger_tasks=1_000_000, ledger_runs=20, stats_tasks=1_000_000, stats_runs=10,
             replay_events=1_000_000)
QUICK = Sizes(e2e_items=600, e2e_latency_s=5, raw_messages=20_000, deadlines=100_000,
              ledger_tasks=20_000, ledger_runs=10, stats_tasks=20_000, stats_runs=5, replay_events=20_000)


# ---- sections -----------------------------------------------------------------------------------


def run_e2e(sizes: Sizes, db: str | None) -> dict:
    from bench import e2e

    return e2e.measure(sizes.e2e_items, sizes.e2e_latency_s, sizes.raw_messages, db)


def run_deadlines(sizes: Sizes, db: str | None) -> dict:
    from bench import deadlines

    return deadlines.measure(sizes.deadlines)


def run_ledger(sizes: Sizes, db: str | None) -> dict:
    from bench import ledger

    return ledger.measure(sizes.ledger_tasks, db, sizes.ledger_runs)


def run_stats(sizes: Sizes, db: str | None) -> dict:
    from bench import stats

    return stats.measure(sizes.stats_tasks, db, sizes.stats_runs)


def run_replay(sizes: Sizes, db: str | None) -> dict:
    from bench import scoring_replay

    result = scoring_replay.measure(sizes.replay_events, db)
    events, seconds = result.get("replay_events"), result.get("replay_s")
    if events and seconds and events != 1_000_000:
        result["replay_1m_projected_s"] = round(seconds * 1_000_000 / events, 1)
    return result


RUNNERS: dict[str, Callable[[Sizes, str | None], dict]] = {
    "e2e": run_e2e, "deadlines": run_deadlines, "ledger": run_ledger, "stats": run_stats, "replay": run_replay,
}


# ---- goals ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Goal:
    text: str
    met: Callable[[dict], bool | None]


GOALS: dict[str, Goal] = {
    "e2e_assignments_per_s": Goal(
        "≥ 25% of raw pull+ack",
        lambda f: f["e2e_assignments_per_s"] >= 0.25 * f["raw_jetstream_pull_ack_per_s"]),
    "deadline_rss_mb": Goal("< 500 MB at 1,000,000",
                            lambda f: _at_full(f["deadline_count"], f["deadline_rss_mb"] < 500)),
    "deadline_lag_p99_ms": Goal("≤ 1 s", lambda f: f["deadline_lag_p99_ms"] <= 1000),
    "deadlines_per_gb_ratio": Goal("≥ 10× APScheduler", lambda f: f["deadlines_per_gb_ratio"] >= 10),
    "schedule_rate_ratio": Goal("≥ 10× APScheduler", lambda f: f["schedule_rate_ratio"] >= 10),
    "ledger_p95_ms": Goal("≤ 50 ms", lambda f: f["ledger_p95_ms"] <= 50),
    "ledger_worst_p95_ms": Goal("≤ 50 ms", lambda f: f["ledger_worst_p95_ms"] <= 50),
    "period_stats_p95_ms": Goal("≤ 200 ms", lambda f: f["period_stats_p95_ms"] <= 200),
    "replay_s": Goal("≤ 60 s for 1,000,000", lambda f: _at_full(f["replay_events"], f["replay_s"] <= 60)),
    "replay_1m_projected_s": Goal("≤ 60 s", lambda f: f["replay_1m_projected_s"] <= 60),
}

# The figures the table shows, in order (a JSON file holds every figure, tables of queries too).
SHOWN = {
    "e2e": ["e2e_assignments_per_s", "raw_jetstream_publish_per_s", "raw_jetstream_pull_ack_per_s",
            "e2e_share_of_raw_pull_ack", "e2e_post_per_s", "e2e_bulk_assignments_per_s", "e2e_latency_rate_per_s",
            "e2e_p50_ms", "e2e_p99_ms"],
    "deadlines": ["deadline_count", "deadline_load_s", "deadline_rss_mb", "deadline_lag_p50_ms",
                  "deadline_lag_p99_ms", "deadline_schedule_per_s", "apscheduler_rss_mb",
                  "apscheduler_schedule_per_s", "deadlines_per_gb_ratio", "schedule_rate_ratio"],
    "ledger": ["ledger_tasks", "ledger_p50_ms", "ledger_p95_ms", "ledger_cpu_p95_ms", "ledger_worst_p95_ms",
               "ledger_count_worst_p95_ms", "ledger_by_unit_p95_ms"],
    "stats": ["stats_tasks", "period_stats_p50_ms", "period_stats_p95_ms", "period_stats_cpu_p50_ms",
              "period_stats_quarter_p95_ms", "period_stats_month_p95_ms"],
    "replay": ["replay_events", "replay_s", "replay_events_per_s", "raw_read_events_per_s",
               "replay_1m_projected_s"],
}


def _at_full(size: float, met: bool) -> bool | None:
    """A goal stated for a million: judged only at that size (None: not applicable)."""
    return met if size >= 1_000_000 else None


def verdict(name: str, figures: dict) -> tuple[str, str]:
    goal = GOALS.get(name)
    if goal is None:
        return "", ""
    try:
        met = goal.met(figures)
        return goal.text, "n/a" if met is None else "yes" if met else "NO"
    except (KeyError, TypeError):
        return goal.text, "?"


def table(figures: dict, sections: list[str]) -> str:
    rows = [("figure", "value", "goal", "met?")]
    for section in sections:
        if error := figures.get(f"{section}_error"):
            rows.append((f"{section}: FAILED", error[:60], "", ""))
            continue
        for name in SHOWN[section]:
            if name in figures:
                rows.append((name, _number(figures[name]), *verdict(name, figures)))
    widths = [max(len(str(r[i])) for r in rows) for i in range(4)]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def _number(value) -> str:
    if isinstance(value, float):
        return f"{value:,.4f}" if value < 1 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


# ---- the run -------------------------------------------------------------------------------------


def sized(base: Sizes, overrides: list[str]) -> Sizes:
    """``base`` with ``NAME=NUMBER`` overrides (e.g. ``e2e_items=100``); ValueError names the bad one."""
    changes = {}
    for override in overrides:
        name, _, value = override.partition("=")
        if name not in Sizes.__dataclass_fields__:
            raise ValueError(f"unknown size {name!r}: one of {', '.join(Sizes.__dataclass_fields__)}")
        try:
            number = float(value) if name == "e2e_latency_s" else int(value)
        except ValueError:
            raise ValueError(f"size {name} needs a number, not {value!r}") from None
        if number <= 0:
            raise ValueError(f"size {name} must be positive")
        changes[name] = number
    return replace(base, **changes)


def machine() -> dict:
    mem_kb = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:")), 0) if Path("/proc/meminfo").exists() else 0
    return {"cpus": os.cpu_count(), "memory_gib": round(mem_kb / 2**20, 1), "platform": platform.platform(),
            "python": platform.python_version()}


def run(sections: list[str], quick: bool, db: str | None, sizes: Sizes | None = None,
        log=lambda text: print(text, file=sys.stderr, flush=True)) -> dict:
    """Run ``sections`` in order; a failed section is reported (``<section>_error``), the rest go on."""
    sizes = sizes or (QUICK if quick else FULL)
    figures: dict = {"started_at": datetime.now(UTC).isoformat(timespec="seconds"), "quick": quick,
                     "db": "postgresql" if db else "sqlite", "machine": machine(), "sizes": sizes.__dict__}
    for section in sections:
        log(f"duban bench: {section}…")
        load_before, started = os.getloadavg()[0], time.perf_counter()
        try:
            figures.update(RUNNERS[section](sizes, db))
        except Exception as exc:  # report it and go on with the other sections
            figures[f"{section}_error"] = f"{type(exc).__name__}: {exc}"
            log(f"duban bench: {section} failed: {figures[f'{section}_error']}")
        figures[f"{section}_section_s"] = round(time.perf_counter() - started, 1)
        # Other work on the machine slows every figure: say how busy it was.
        figures[f"{section}_load_avg_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    figures["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return figures


def main(sections: list[str], quick: bool, json_path: Path | None, db: str | None,
         sizes: Sizes | None = None) -> int:
    figures = run(sections, quick, db, sizes)
    print(table(figures, sections))
    if json_path:
        json_path.write_text(json.dumps(figures, indent=2, ensure_ascii=False))
    return 1 if any(f"{s}_error" in figures for s in sections) else 0
