"""How fast does `duban scoring replay` rebuild scoring from the streams?

    python -m bench.scoring_replay [--events 1000000] [--db postgresql://…]
                                   [--check] [--json FILE] [--keep] [--workdir DIR [--reuse]]

Starts its own nats-server (a free port, a fresh store under .duban/), declares the three streams
replay reads, and publishes N generated events into them: org units for 2 tenants (1,000 units
each), tasks assigned in intake and moved through tracking (signed, reported, submitted, returned,
sent for re-verification, accepted on time or late, overdue, extended, a report missed), and
scoring's own commands (bulletins, appeals upheld and reversed, a rule set published and switched
for 2026-H2, periods closed), a year of them in time order, plus a few malformed messages and
republished duplicates. Then it times, in the same run and with the same reader, the raw JetStream
read of the streams' wanted subjects, the read with parsing, and the whole replay into an empty
database (a fresh SQLite file under .duban/, or a fresh schema in the PostgreSQL database given),
and prints a table.

--check replays a second time, with the service's own handlers event by event (the slow
reference path, ``by_handlers``), into another empty database and compares the two stores with
``services.scoring.replay.compare`` (unit scores for years only; rankings for every period): the
fold must give the same scores, rates, ranks and actions as the handlers.

``measure(events, db_url)`` returns the figures as a dict, for a suite of benchmarks.
"""

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import nats
import psycopg

from duban.launcher import nats_server_binary, port_is_free, wait_for_port
from services.scoring import replay as scoring_replay, rules
from shared.events import CATALOGUE
from shared.settings import Settings
from shared.streams import stream_of

START = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)  # 09:00 in Beijing
YEAR_END = datetime(2026, 12, 20, tzinfo=UTC)
TENANTS = ("bench-a", "bench-b")
NEW_RULES = "bench-2026.2"


# ---- the generated history ----------------------------------------------------------------------


@dataclass
class History:
    """Events as (time, subject, envelope dict), any order; sorted when published."""

    rng: random.Random
    events: list[tuple[datetime, str, dict]] = field(default_factory=list)
    criticisms: list[tuple[datetime, str, str]] = field(default_factory=list)  # (at, tenant, key)

    def emit(self, at: datetime, tenant: str, type_: str, data: dict, subject: str | None = None,
             event_id: str | None = None) -> str:
        event_id = event_id or uuid.UUID(int=self.rng.getrandbits(128)).hex
        source = f"/duban/{type_.split('.')[1]}"
        self.events.append((at, type_, {
            "specversion": "1.0", "id": event_id, "source": source, "type": type_,
            "time": at.isoformat(), "subject": subject, "datacontenttype": "application/json",
            "tenant": tenant, "data": data}))
        return event_id


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def org(history: History, tenant: str, tops: int, children: int) -> list[str]:
    leaves = []
    at = START - timedelta(days=3)
    for t in range(tops):
        top = f"{tenant[-1].upper()}{t:03d}"
        history.emit(at, tenant, "duban.intake.org_unit.changed.v1", {
            "change": "created", "unit_id": top, "name": f"单位{top}", "parent_id": None, "active": True,
            "path": [top]}, subject=top)
        for c in range(children):
            unit = f"{top}-{c:02d}"
            history.emit(at, tenant, "duban.intake.org_unit.changed.v1", {
                "change": "created", "unit_id": unit, "name": f"单位{unit}", "parent_id": top,
                "active": True, "path": [top, unit]}, subject=unit)
            leaves.append(unit)
    # a few renames later in the year
    for unit in history.rng.sample(leaves, 5):
        top = unit.split("-")[0]
        history.emit(START + timedelta(days=100), tenant, "duban.intake.org_unit.changed.v1", {
            "change": "renamed", "unit_id": unit, "name": f"单位{unit}（更名）", "parent_id": top,
            "active": True, "path": [top, unit]}, subject=unit)
    return leaves


def task(history: History, tenant: str, n: int, units: list[str]) -> None:
    rng = history.rng
    task_id, item_id = f"T{tenant[-1]}{n:08d}", f"I{tenant[-1]}{n // 3:08d}"
    lead = rng.choice(units)
    co = rng.sample(units, rng.choice((1, 2))) if rng.random() < 0.3 else []
    co = [u for u in co if u != lead]
    title = f"任务{n}"
    assigned = START + timedelta(seconds=rng.uniform(0, (YEAR_END - START).total_seconds() - 90 * 86400))
    due = assigned + timedelta(days=rng.uniform(10, 60))
    base = {"task_id": task_id, "item_id": item_id, "title": title, "lead_unit": lead}
    history.emit(assigned, tenant, "duban.intake.task.assigned.v1", {
        **base, "co_units": co, "responsible_person": "", "due": _iso(due), "due_working_days": None,
        "milestones": [], "reporting_cycle": "none", "report_due_day": 2, "item_number": f"DB-2026-{n:06d}",
        "source_kind": "leader_instruction", "regime": "special", "urgency": "normal", "supervisor": ""},
        subject=task_id)
    status = "assigned"
    clock = assigned

    def move(action: str, to: str, at: datetime, late: int = 0, actor: str = "unit_head") -> None:
        nonlocal status, clock
        history.emit(at, tenant, "duban.tracking.task.status_changed.v1", {
            **base, "action": action, "from_status": status, "to_status": to, "actor": actor,
            "comment": "", "at": _iso(at), "due": _iso(due), "co_units": co, "working_days_late": late},
            subject=task_id)
        status, clock = to, at

    def step(days_low: float, days_high: float) -> datetime:
        return clock + timedelta(days=rng.uniform(days_low, days_high))

    fate = rng.random()
    move("sign", "signed", step(0.1, 2))
    if fate < 0.45:  # on time
        move("progress", "in_progress", step(1, 5))
        move("submit", "submitted", min(step(1, 5), due - timedelta(hours=6)))
        move("accept", "accepted", min(step(0.2, 2), due - timedelta(hours=1)), actor="office")
    elif fate < 0.55:  # returned once, then accepted
        move("submit", "submitted", step(1, 4))
        move("return", "in_progress", step(0.5, 2), actor="office")
        move("submit", "submitted", step(1, 4))
        accepted = step(0.5, 2)
        late = max(0, int((accepted - due).days * 5 / 7))
        move("accept", "accepted", accepted, late, actor="office")
    elif fate < 0.60:  # sent for re-verification
        move("submit", "submitted", step(1, 4))
        move("reverify", "in_progress", step(0.5, 2), actor="office")
        move("submit", "submitted", step(1, 4))
        move("accept", "accepted", step(0.5, 2), actor="office")
    elif fate < 0.75:  # overdue, accepted late
        history.emit(due + timedelta(minutes=1), tenant, "duban.tracking.task.overdue.v1", {
            **base, "due": _iso(due), "overdue_at": _iso(due + timedelta(minutes=1)), "co_units": co},
            subject=task_id)
        clock = due + timedelta(minutes=1)
        move("submit", "submitted", step(1, 10))
        accepted = step(0.5, 3)
        move("accept", "accepted", accepted, max(1, int((accepted - due).days * 5 / 7)), actor="office")
    elif fate < 0.82:  # overdue, never done
        history.emit(due + timedelta(minutes=1), tenant, "duban.tracking.task.overdue.v1", {
            **base, "due": _iso(due), "overdue_at": _iso(due + timedelta(minutes=1)), "co_units": co},
            subject=task_id)
    elif fate < 0.90:  # an extension, then accepted by the new deadline
        new_due = due + timedelta(days=rng.uniform(5, 20))
        history.emit(step(1, 3), tenant, "duban.tracking.task.extension_decided.v1", {
            **base, "granted": True, "previous_due": _iso(due), "due": _iso(new_due), "actor": "office",
            "comment": ""}, subject=task_id)
        due = new_due
        move("submit", "submitted", step(4, 6))
        move("accept", "accepted", step(0.5, 1), actor="office")
    else:  # a progress report missed, then accepted
        history.emit(step(2, 5), tenant, "duban.tracking.task.report_missed.v1", {
            **base, "period": "2026-05", "report_due": _iso(clock)}, subject=task_id)
        move("submit", "submitted", step(1, 4))
        move("accept", "accepted", step(0.5, 2), actor="office")


def bulletins(history: History, tenant: str, count: int, units: list[str]) -> None:
    rng = history.rng
    for _ in range(count):
        at = START + timedelta(seconds=rng.uniform(0, (YEAR_END - START).total_seconds()))
        kind = "criticism" if rng.random() < 0.7 else "commendation"
        issuer = rng.choice(("committee", "office"))
        # criticisms bunch on a few units, so some cross the thresholds
        named = rng.sample(units[:60] if kind == "criticism" else units, rng.choice((1, 1, 2, 3)))
        bulletin_id = uuid.UUID(int=rng.getrandbits(128)).hex
        history.emit(at, tenant, "duban.scoring.bulletin.issued.v1", {
            "bulletin_id": bulletin_id, "kind": kind, "issuer": issuer, "units": named,
            "persons": [f"{u}负责人" for u in named], "reason": "督查通报", "item_ids": [],
            "issued_by": "office"}, subject=bulletin_id, event_id=bulletin_id)
        if kind == "criticism":
            history.criticisms += [(at, tenant, f"{bulletin_id}:{u}:criticism.{issuer}") for u in named]


def appeals(history: History) -> None:
    rng = history.rng
    for at, tenant, key in rng.sample(history.criticisms, len(history.criticisms) // 8):
        appeal_id = uuid.UUID(int=rng.getrandbits(128)).hex
        filed = at + timedelta(days=rng.uniform(1, 5))
        unit = key.split(":")[1]
        history.emit(filed, tenant, "duban.scoring.appeal.filed.v1", {
            "appeal_id": appeal_id, "entry_key": key, "unit": unit, "reason": "事实有误",
            "filed_by": f"unit_head@{unit}"}, subject=appeal_id, event_id=appeal_id)
        history.emit(filed + timedelta(days=rng.uniform(1, 5)), tenant, "duban.scoring.appeal.decided.v1", {
            "appeal_id": appeal_id, "decision": rng.choice(("uphold", "reverse")), "comment": "",
            "decided_by": "office"}, subject=appeal_id)


def rule_sets(history: History, tenant: str) -> None:
    body = rules.DEFAULT.model_dump(mode="json")
    body.update(version=NEW_RULES, name="下半年细则")
    body["points"]["overdue"] = {"lead": -6, "co": -2}
    body["points"]["completed_on_time"] = {"lead": 2, "co": 1}
    rules.RuleSet.model_validate(body)
    history.emit(datetime(2026, 6, 10, 2, tzinfo=UTC), tenant, "duban.scoring.rule_set.published.v1",
                 {"version": NEW_RULES, "rules": body, "published_by": "admin"})
    history.emit(datetime(2026, 6, 12, 2, tzinfo=UTC), tenant, "duban.scoring.rule_set.switched.v1",
                 {"version": NEW_RULES, "from_period": "2026-H2", "switched_by": "admin"})
    for period, closed in (("2026-01", date(2026, 2, 10)), ("2026-Q1", date(2026, 4, 15))):
        history.emit(datetime.combine(closed, datetime.min.time(), UTC) + timedelta(hours=3), tenant,
                     "duban.scoring.period.closed.v1", {"period": period, "closed_by": "office"})


def generate(n: int, units_per_tenant: int, seed: int = 7) -> History:
    history = History(random.Random(seed))
    tops = max(1, units_per_tenant // 25)
    units = {t: org(history, t, tops, units_per_tenant // tops - 1) for t in TENANTS}
    for t in TENANTS:
        rule_sets(history, t)
        bulletins(history, t, max(20, n // 400), units[t])
    appeals(history)
    i = 0
    while len(history.events) < n:
        tenant = TENANTS[i % len(TENANTS)]
        task(history, tenant, i, units[tenant])
        i += 1
    history.events.sort(key=lambda e: e[0])
    del history.events[n:]  # the tail (late in the year) cut to N exactly
    return history


def check_sample(history: History) -> None:
    """The generated events satisfy the event contracts (a sample of every type)."""
    seen: dict[str, int] = {}
    for _at, type_, env in history.events:
        if seen.get(type_, 0) < 50:
            seen[type_] = seen.get(type_, 0) + 1
            CATALOGUE[type_].model_validate(env["data"])


# ---- nats-server and databases ------------------------------------------------------------------------


def free_port() -> int:
    import socket

    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port != 4222 and port_is_free("127.0.0.1", port):
            return port


class Server:
    def __init__(self, store: Path) -> None:
        self.store, self.port = store, free_port()
        self.proc = subprocess.Popen(
            [nats_server_binary(), "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(store)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port("127.0.0.1", self.port, 10, self.proc)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def fresh_database(base: str | None, workdir: Path, name: str, cleanups: list) -> str:
    if not base or base.startswith("sqlite"):
        path = workdir / f"{name}.db"
        return f"sqlite:///{path}"
    schema = f"bench_{name.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')

    def drop() -> None:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    cleanups.append(drop)
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


# ---- the run ------------------------------------------------------------------------------------------


async def publish(url: str, history: History) -> dict[str, int]:
    settings = Settings()
    nc = await nats.connect(url)
    js = nc.jetstream(timeout=30, publish_async_max_pending=8000)
    counts = {}
    try:
        for service in ("intake", "tracking", "scoring"):
            await js.add_stream(stream_of(service).config(settings))
        rng = history.rng
        extra = []  # a few malformed messages and republished duplicates (another Nats-Msg-Id)
        for i in range(3):
            extra.append((START + timedelta(days=30 * i), "duban.tracking.task.status_changed.v1",
                          b'{"not": "an event"' if i else b'{"specversion": "1.0", "id": "x", "type": "t"}', None))
        dup_sources = rng.sample(range(len(history.events)), 2)
        for k in dup_sources:
            at, type_, env = history.events[k]
            extra.append((at + timedelta(seconds=1), type_, json.dumps(env, ensure_ascii=False).encode(), None))
        items = [(at, type_, json.dumps(env, ensure_ascii=False).encode(), env["id"])
                 for at, type_, env in history.events] + extra
        items.sort(key=lambda e: e[0])
        for _at, type_, payload, msg_id in items:
            headers = {"content-type": "application/cloudevents+json",
                       "Nats-Msg-Id": msg_id or uuid.uuid4().hex}
            await js.publish_async(type_, payload, headers=headers)
        await js.publish_async_completed()
        for service in ("intake", "tracking", "scoring"):
            name = stream_of(service).name
            counts[name] = (await js.stream_info(name)).state.messages
        expected = len(items)
        if sum(counts.values()) != expected:
            raise SystemExit(f"published {expected} messages, the streams hold {sum(counts.values())}")
    finally:
        await nc.close()
    return counts


async def raw_read(url: str, parse: bool) -> tuple[int, float, float]:
    """The wanted subjects of the three streams read with replay's reader (and parsed, if asked)."""
    nc = await nats.connect(url)
    js = nc.jetstream(timeout=10)
    subjects = scoring_replay.wanted_subjects()
    count = 0
    started, cpu = time.perf_counter(), time.process_time()
    try:
        for name in scoring_replay.STREAMS:
            reader = scoring_replay.StreamReader(js, name, subjects[name])
            await reader.open()
            try:
                async for batch in reader.batches():
                    count += len(batch)
                    if parse:
                        for _seq, subject, payload in batch:
                            try:
                                scoring_replay.parse(payload, subject)
                            except scoring_replay.Malformed:
                                pass
            finally:
                await reader.close()
    finally:
        await nc.close()
    return count, time.perf_counter() - started, time.process_time() - cpu


def row(label: str, figures: dict) -> str:
    events, seconds, cpu = figures["events"], figures["seconds"], figures["cpu_seconds"]
    return (f"{label:<34} {events:>11,} {seconds:>9.2f} {events / seconds if seconds else 0:>11,.0f} "
            f"{cpu:>9.2f}")


def table(result: dict) -> str:
    backend = result["backend"]
    lines = [f"{'':<34} {'events':>11} {'seconds':>9} {'events/s':>11} {'cpu s':>9}",
             row("JetStream read (raw)", result["read"]),
             row("JetStream read + parse", result["read_parse"]),
             row(f"replay into {backend}", result["replay"])]
    if "check" in result:
        lines.append(row(f"replay by handlers ({backend})", result["replay_by_handlers"]))
        check = result["check"]
        verdict = "identical" if not check["differences"] else f"{len(check['differences'])} differences"
        lines.append(f"fold vs handlers: {verdict} (compared in {check['seconds']} s)")
        lines += [f"  {d}" for d in check["differences"][:20]]
    return "\n".join(lines)


async def run(args) -> dict:
    workdir = Path(args.workdir or Path(".duban") / f"bench-scoring-replay-{os.getpid()}")
    workdir.mkdir(parents=True, exist_ok=True)
    cleanups: list = []
    reuse = args.reuse and (workdir / "nats").exists()
    server = Server(workdir / "nats")
    result: dict = {"events": args.events, "units": args.units, "tenants": len(TENANTS)}
    try:
        if reuse:
            print(f"reading the streams kept in {workdir} again", file=sys.stderr)
        else:
            await generate_and_publish(args, server.url, result)

        for key, parse in (("read", False), ("read_parse", True)):
            n, seconds, cpu = await raw_read(server.url, parse=parse)
            result[key] = {"events": n, "seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3)}

        into = fresh_database(args.db, workdir, f"replay-{uuid.uuid4().hex[:6]}", cleanups)
        result["backend"] = "postgresql" if into.startswith("postgres") else "sqlite"
        cpu = time.process_time()
        report = await scoring_replay.replay(
            server.url, into, progress=lambda total: scoring_replay.Progress(total, "replay")
            if not args.quiet else None)
        cpu = time.process_time() - cpu
        print(report.summary(), file=sys.stderr)
        result["replay"] = {**report.as_dict(), "events": report.read, "cpu_seconds": round(cpu, 3)}

        if args.check:
            reference = fresh_database(args.db, workdir, f"by-handlers-{uuid.uuid4().hex[:6]}", cleanups)
            cpu = time.process_time()
            plain = await scoring_replay.replay(server.url, reference, batch=args.batch, by_handlers=True)
            cpu = time.process_time() - cpu
            result["replay_by_handlers"] = {**plain.as_dict(), "events": plain.read, "cpu_seconds": round(cpu, 3)}
            t0 = time.perf_counter()
            differences = await scoring_replay.compare(reference, into, unit_periods=args.unit_periods)
            result["check"] = {"differences": differences, "seconds": round(time.perf_counter() - t0, 2),
                               "unit_periods": args.unit_periods}
    finally:
        server.stop()
        for cleanup in cleanups:
            cleanup()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return result


async def generate_and_publish(args, url: str, result: dict) -> None:
    t0 = time.perf_counter()
    history = generate(args.events, args.units // len(TENANTS))
    check_sample(history)
    result["generate_s"] = round(time.perf_counter() - t0, 2)
    t0 = time.perf_counter()
    result["streams"] = await publish(url, history)
    result["publish_s"] = round(time.perf_counter() - t0, 2)
    print(f"generated {args.events:,} events ({result['generate_s']} s), published them "
          f"({result['publish_s']} s): {result['streams']}", file=sys.stderr)


def measure(events: int, db_url: str | None = None) -> dict[str, float]:
    """The bench's figures for ``events`` generated events replayed into a fresh SQLite file, or a
    fresh schema of the PostgreSQL database ``db_url``: for a suite of benchmarks (no table printed;
    the replay's summary goes to stderr)."""
    args = parser().parse_args(["--events", str(events), "--quiet", *(["--db", db_url] if db_url else [])])
    result = asyncio.run(run(args))
    replay, read, parsed = result["replay"], result["read"], result["read_parse"]
    return {
        "replay_events": float(replay["events"]),
        "replay_s": float(replay["seconds"]),
        "replay_events_per_s": replay["events"] / replay["seconds"] if replay["seconds"] else 0.0,
        "replay_cpu_s": float(replay["cpu_seconds"]),
        "raw_read_events_per_s": read["events"] / read["seconds"] if read["seconds"] else 0.0,
        "parse_events_per_s": parsed["events"] / parsed["seconds"] if parsed["seconds"] else 0.0,
    }


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--units", type=int, default=2000, help="units in all (split between 2 tenants)")
    parser.add_argument("--db", help="a PostgreSQL database to replay into (a fresh schema in it); "
                                     "default: a fresh SQLite file")
    parser.add_argument("--batch", type=int, default=5000,
                        help="with --check: events per transaction of the replay by handlers")
    parser.add_argument("--check", action="store_true",
                        help="also replay with the service's handlers and compare the two stores")
    parser.add_argument("--unit-periods", default="years", choices=("all", "years", "none"),
                        help="with --check: the periods unit scores are compared for (rankings: all)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures as JSON")
    parser.add_argument("--workdir", type=Path, help="default: .duban/bench-scoring-replay-<pid>")
    parser.add_argument("--keep", action="store_true", help="keep the nats store and SQLite files")
    parser.add_argument("--reuse", action="store_true",
                        help="read the streams a --keep run left in --workdir instead of publishing new ones")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main() -> int:
    args = parser().parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop nats-server and clean up
    result = asyncio.run(run(args))
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    return 1 if result.get("check", {}).get("differences") else 0


if __name__ == "__main__":
    sys.exit(main())
