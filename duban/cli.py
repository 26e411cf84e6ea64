"""`duban`: up | run SERVICE | migrate | clock show|advance|reset | token | nats-config | scoring replay | bench |
asyncapi."""

import argparse
import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from shared.auth import ROLES, mint
from shared.settings import DEFAULT_NATS_PORT, SERVICES, ServiceSettings, Settings


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return args.func(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="duban", description="Duban (督办) supervision system")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="run NATS and the four services (embedded mode)")
    up.add_argument("--data-dir", type=Path, help="where NATS and the databases keep data (.duban/)")
    up.add_argument("--nats", metavar="URL", help="use this NATS server instead of starting one")
    up.add_argument("--nats-port", type=int, default=DEFAULT_NATS_PORT, help="port of the embedded NATS")
    up.set_defaults(func=_up)

    run = sub.add_parser("run", help="run one service in the foreground (replicas share the load)")
    run.add_argument("service", choices=SERVICES)
    run.add_argument("--port", type=int, help="HTTP port (default: the service's own)")
    run.set_defaults(func=_run)

    migrate = sub.add_parser(
        "migrate", help="upgrade services' databases to the latest schema (each service also does at start)")
    migrate.add_argument("service", nargs="?", default="all", choices=[*SERVICES, "all"],
                         help="one service, or all (the default)")
    action = migrate.add_mutually_exclusive_group()
    action.add_argument("--status", action="store_true",
                        help="show each database's revision and the head; change nothing (exit 1 unless all at head)")
    action.add_argument("--new-revision", metavar="MESSAGE",
                        help="(developers) write a revision for the models' changes since head, for one service")
    migrate.add_argument("--data-dir", type=Path, help="where the default SQLite databases are (.duban/)")
    migrate.set_defaults(func=_migrate)

    clock = sub.add_parser("clock", help="show or move the simulated clock (refused in production)")
    clock.add_argument("--nats", metavar="URL", help="NATS server (default: the running `duban up`)")
    clock.add_argument("--data-dir", type=Path)
    clock_sub = clock.add_subparsers(required=True, metavar="ACTION")
    clock_sub.add_parser("show", help="print the simulated time").set_defaults(func=_clock_show)
    advance = clock_sub.add_parser("advance", help="move the clock forward, e.g. 2d, 3h30m, 1w")
    advance.add_argument("duration")
    advance.set_defaults(func=_clock_advance)
    clock_sub.add_parser("reset", help="back to real time").set_defaults(func=_clock_reset)
    set_ = clock_sub.add_parser("set", help="jump to a moment, e.g. 2026-09-30T09:00+08:00 (demos, tests)")
    set_.add_argument("moment", type=_aware_datetime)
    set_.set_defaults(func=_clock_set)

    token = sub.add_parser("token", help="print a dev token (the embedded issuer; not in production)")
    token.add_argument("--tenant", default=None, help="default: DUBAN_TENANT (default)")
    token.add_argument("--unit", help="the caller's unit (needed for unit_head, unit_handler)")
    token.add_argument("--role", required=True, choices=ROLES)
    token.add_argument("--subject", help="the person (default: <role>@<unit or tenant>)")
    token.add_argument("--name", default="", help="the person's display name")
    token.add_argument("--hours", type=float, default=12, help="validity (default 12)")
    token.add_argument("--data-dir", type=Path)
    token.set_defaults(func=_token)

    nats_config = sub.add_parser(
        "nats-config", help="print the nats-server users and permissions (deploy/nats/auth.conf)")
    nats_config.add_argument("--output", "-o", type=Path, metavar="FILE", help="write to FILE instead")
    nats_config.set_defaults(func=_nats_config)

    scoring = sub.add_parser("scoring", help="scoring's maintenance: replay")
    scoring_sub = scoring.add_subparsers(required=True, metavar="ACTION")
    replay = scoring_sub.add_parser(
        "replay", help="rebuild scoring's store from the streams into an empty database")
    replay.add_argument("--into", required=True, metavar="DATABASE_URL",
                        help="the empty database to rebuild into (sqlite:///… or postgresql://…)")
    replay.add_argument("--nats", metavar="URL", help="NATS server (default: the running `duban up`)")
    replay.add_argument("--data-dir", type=Path)
    replay.add_argument("--compare-with", metavar="DATABASE_URL",
                        help="then compare with this (live) scoring store; exit 1 on any difference")
    replay.add_argument("--tenant", action="append", help="compare only this tenant (repeatable)")
    replay.add_argument("--by-handlers", action="store_true",
                        help="apply each event with the service's handlers instead of the in-memory "
                             "fold (slow: ~1,000 events/s; the reference the fold is tested against)")
    replay.add_argument("--batch", type=int, default=5000,
                        help="with --by-handlers: events per transaction (5000)")
    replay.set_defaults(func=_scoring_replay)

    bench = sub.add_parser("bench", help="run the benchmarks: a table of figures against the goals")
    bench.add_argument("--quick", action="store_true", help="smaller sizes: about two minutes")
    bench.add_argument("--json", type=Path, metavar="FILE", help="also write every figure to FILE")
    bench.add_argument("--db", metavar="URL", help="PostgreSQL for the services and stores (default: SQLite)")
    bench.add_argument("--only", metavar="SECTIONS", type=_bench_sections, default=None,
                       help="comma-separated: e2e,deadlines,ledger,stats,replay (default: all)")
    bench.add_argument("--size", action="append", default=[], metavar="NAME=N",
                       help="override one size, e.g. e2e_items=100 (repeatable)")
    bench.set_defaults(func=_bench)

    spec = sub.add_parser("asyncapi", help="print the event catalogue (AsyncAPI 3.0 JSON)")
    spec.add_argument("service", choices=SERVICES)
    spec.set_defaults(func=_asyncapi)
    return parser


def _data_dir(args) -> Path:
    return args.data_dir or Settings().data_dir


def _up(args) -> int:
    from duban.launcher import run_up

    nats_url = args.nats or os.environ.get("DUBAN_NATS_URL")
    return run_up(_data_dir(args), nats_url, args.nats_port)


def _run(args) -> int:
    if args.port:
        os.environ[f"DUBAN_{args.service.upper()}_PORT"] = str(args.port)
    os.execv(sys.executable, [sys.executable, "-m", f"services.{args.service}"])
    return 0  # not reached


# ---- migrate ------------------------------------------------------------------------------------


def _migrate(args) -> int:
    import importlib
    import logging

    from sqlalchemy.exc import DBAPIError

    from shared.migrations import SchemaMismatch

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    names = SERVICES if args.service == "all" else (args.service,)
    histories = {name: importlib.import_module(f"services.{name}.migrations").HISTORY for name in names}
    if args.new_revision:
        return _new_revision(histories, args.new_revision)
    settings = Settings()
    settings.data_dir = _data_dir(args)
    failed = 0
    for name, history in histories.items():
        url = ServiceSettings.load(name, settings).database_url
        try:
            failed |= _migrate_one(history, url, settings, show_only=args.status)
        except SchemaMismatch as exc:
            print(f"duban migrate: {exc}", file=sys.stderr)
            failed = 1
        except (OSError, DBAPIError) as exc:
            print(f"duban migrate: {name}: cannot migrate {_shown(url)}: {exc}", file=sys.stderr)
            failed = 1
    return failed


def _migrate_one(history, url: str, settings: Settings, *, show_only: bool) -> int:
    from shared.migrations import scripts, status, upgrade

    sqlite_file = _sqlite_file(url)
    if show_only and sqlite_file and not sqlite_file.exists():
        head = scripts(history).get_current_head()
        print(f"{history.service:<9} {'-':<12} (head {head})  no database yet (migrating creates it)  "
              f"{_shown(url)}")
        return 1
    if not show_only:
        if sqlite_file and sqlite_file.parent == settings.data_dir:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        before = asyncio.run(upgrade(url, history))
    now = asyncio.run(status(url, history))
    done = now.describe() if show_only or before == now.current else f"upgraded from {before or 'empty'}"
    print(f"{history.service:<9} {now.current or '-':<12} (head {now.head})  {done}  {_shown(url)}")
    return int(now.current != now.head)


def _sqlite_file(url: str) -> Path | None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _new_revision(histories: dict, message: str) -> int:
    from shared.migrations import new_revision

    if len(histories) != 1:
        print("duban migrate --new-revision: name one service", file=sys.stderr)
        return 2
    (name, history), = histories.items()
    path = new_revision(history, message)
    if path is None:
        print(f"{name}: the models are what head makes; no revision written", file=sys.stderr)
        return 1
    print(f"{name}: wrote {path}; read it (types, defaults, indexes, data moves) before committing it")
    return 0


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


# ---- clock ------------------------------------------------------------------------------------


def _nats_url(args) -> str:
    from duban.launcher import read_run_file

    if args.nats:
        return args.nats
    if url := os.environ.get("DUBAN_NATS_URL"):
        return url
    running = read_run_file(_data_dir(args))
    return running["nats_url"] if running else Settings().nats_url


async def _with_jetstream(url: str, action):
    import nats

    from shared.bus import nats_servers

    nc = await nats.connect(nats_servers(url), connect_timeout=3, max_reconnect_attempts=0)
    try:
        return await action(nc.jetstream())
    finally:
        await nc.close()


def _clock_show(args) -> int:
    from shared.clock import read_offset

    offset = asyncio.run(_with_jetstream(_nats_url(args), read_offset))
    _print_clock(offset)
    return 0


def _clock_advance(args) -> int:
    from shared.clock import parse_duration

    try:
        step = parse_duration(args.duration)
    except ValueError as exc:
        print(f"duban clock: {exc}", file=sys.stderr)
        return 2
    return _move_clock(args, lambda current: current + step)


def _aware_datetime(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a time zone, e.g. {text}+08:00")
    return moment


def _clock_set(args) -> int:
    return _move_clock(args, lambda _current: args.moment - datetime.now(UTC))


def _clock_reset(args) -> int:
    return _move_clock(args, lambda _current: timedelta(0))


def _move_clock(args, change) -> int:
    from shared.clock import ClockRefused, read_offset, write_offset

    settings = Settings()

    async def move(js):
        offset = change(await read_offset(js))
        await write_offset(js, offset, production=settings.production)
        return offset

    try:
        offset = asyncio.run(_with_jetstream(_nats_url(args), move))
    except ClockRefused as exc:
        print(f"duban clock: {exc}", file=sys.stderr)
        return 2
    _print_clock(offset)
    return 0


def _print_clock(offset: timedelta) -> None:
    now = datetime.now(UTC) + offset
    local = now.astimezone(ZoneInfo("Asia/Shanghai"))
    print(f"offset   {offset}")
    print(f"now      {now.isoformat(timespec='seconds')}  ({local:%Y-%m-%d %H:%M} Asia/Shanghai)")


def _token(args) -> int:
    settings = Settings()
    if settings.production or settings.auth_jwks_url:
        print("duban: tokens come from the identity provider here (DUBAN_AUTH_JWKS_URL is set "
              "or DUBAN_ENV=production)", file=sys.stderr)
        return 2
    if args.data_dir:
        settings.data_dir = args.data_dir
    try:
        token = mint(settings, tenant=args.tenant or settings.tenant, role=args.role, unit=args.unit,
                     subject=args.subject, name=args.name, ttl_s=int(args.hours * 3600))
    except ValueError as exc:
        print(f"duban: {exc}", file=sys.stderr)
        return 2
    print(f"# {args.role} of {args.tenant or settings.tenant}"
          f"{' / ' + args.unit if args.unit else ''}; use as: Authorization: Bearer <token>",
          file=sys.stderr)
    print(token)
    return 0


def _scoring_replay(args) -> int:
    from nats.errors import NoServersError

    from services.scoring.replay import Progress, TargetNotEmpty, compare, display_url, replay

    if args.batch < 1:
        print("duban scoring replay: --batch must be at least 1", file=sys.stderr)
        return 2
    try:
        report = asyncio.run(replay(_nats_url(args), args.into, batch=args.batch, by_handlers=args.by_handlers,
                                    progress=lambda total: Progress(total, "replay")))
    except TargetNotEmpty as exc:
        print(f"duban scoring replay: {exc}", file=sys.stderr)
        return 2
    except (OSError, NoServersError) as exc:
        print(f"duban scoring replay: cannot reach NATS or the database: {exc}", file=sys.stderr)
        return 2
    print(report.summary(), file=sys.stderr)
    if not args.compare_with:
        return 0
    differences = asyncio.run(compare(args.compare_with, args.into, args.tenant))
    for difference in differences:
        print(difference)
    if differences:
        print(f"{len(differences)} difference(s) between {display_url(args.compare_with)} and the replay",
              file=sys.stderr)
        return 1
    print(f"no differences from {display_url(args.compare_with)}", file=sys.stderr)
    return 0


def _bench_sections(text: str) -> list[str]:
    from bench.suite import SECTIONS

    chosen = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SECTIONS]
    if not chosen or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown section {','.join(unknown) or '(none)'}: choose from {','.join(SECTIONS)}")
    return list(dict.fromkeys(chosen))


def _bench(args) -> int:
    from bench import suite

    try:
        sizes = suite.sized(suite.QUICK if args.quick else suite.FULL, args.size)
    except ValueError as exc:
        print(f"duban bench: {exc}", file=sys.stderr)
        return 2
    return suite.main(args.only or list(suite.SECTIONS), args.quick, args.json, args.db, sizes)


def _nats_config(args) -> int:
    from duban import nats_config

    return nats_config.main(args)


def _asyncapi(args) -> int:
    from shared import catalogue
    from shared.bus import make_broker
    from prometheus_client import CollectorRegistry

    broker = make_broker(Settings(), args.service, registry=CollectorRegistry())
    catalogue.register_publishers(broker, args.service)
    doc = catalogue.asyncapi(broker, args.service).to_specification()
    print(json.dumps(json.loads(doc.to_json()), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
