"""Each service's schema history (Alembic): upgraded at start-up and by `duban migrate`.

A service's revisions are in ``services/<service>/migrations/versions/`` and its ``History`` (in
``services/<service>/migrations/__init__.py``) names its tables; every service shares this
package's ``env.py`` and revision template. Its version table is ``alembic_version_<service>``.

An upgrade runs in one transaction that first takes the database's lock for the service, so
replicas starting together take turns: a PostgreSQL advisory lock, or on SQLite the write lock
that ``BEGIN IMMEDIATE`` takes (shared/db.py).

A database with the service's tables but no version table was made by ``create_all`` (before
migrations existed, or by scoring's replay): it is stamped at the revision whose tables, columns
and indexes it has (head or the first), and refused otherwise.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, MetaData, create_engine, inspect, text
from sqlalchemy.pool import NullPool
from sqlmodel.sql.sqltypes import AutoString

from shared import audit, consumer, outbox  # noqa: F401 (they define the plumbing's tables)
from shared.db import PlumbingBase, UTCDateTime, advisory_key, make_engine

log = logging.getLogger(__name__)
# Alembic tells at INFO which backend it found and which plugins it loads, for every command;
# upgrade() says what it did.
logging.getLogger("alembic").setLevel(logging.WARNING)

HERE = Path(__file__).parent


class SchemaMismatch(RuntimeError):
    """The database is not in a state the service's revisions can take to head."""


@dataclass(frozen=True)
class History:
    """A service's schema: its tables (beside the plumbing's) and its revisions."""

    service: str
    metadata: MetaData
    versions: Path  # the directory of its revisions
    # Name prefixes of objects its revisions make that no model describes (tracking's text search
    # index): left out when comparing the database with the models.
    unmodelled: tuple[str, ...] = ()
    # Run after each upgrade, in its transaction (tracking: the optional pg_trgm index).
    after_upgrade: Callable[[Connection], None] | None = None

    @property
    def version_table(self) -> str:
        return f"alembic_version_{self.service}"

    @property
    def metadatas(self) -> list[MetaData]:
        return [PlumbingBase.metadata, self.metadata]

    def modelled(self, name: str | None) -> bool:
        return name is None or not name.startswith(self.unmodelled)

    def options(self) -> dict:
        """Alembic's options for migrating, autogenerating and comparing with the models."""
        return dict(target_metadata=self.metadatas, version_table=self.version_table,
                    render_as_batch=True, compare_type=True, compare_server_default=True,
                    include_name=lambda name, _type, _parents: self.modelled(name),
                    render_item=_render_item)


def _render_item(kind: str, obj, _context):
    """Revisions spell plain SQLAlchemy types, never Duban's or SQLModel's own classes."""
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if kind == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def run_env(context) -> None:
    """env.py's body: run the command on the connection and history it was given."""
    attributes = context.config.attributes
    context.configure(connection=attributes["connection"], **attributes["history"].options())
    with context.begin_transaction():
        context.run_migrations()


def lock_name(service: str) -> str:
    return f"duban-migrate-{service}"


# ---- commands -------------------------------------------------------------------------------


async def upgrade(url: str, history: History) -> str | None:
    """Bring the service's database at ``url`` to head (a replica starting meanwhile waits);
    returns the revision it was at (None: it was empty)."""
    return await _locked(url, history, _upgrade)


async def downgrade(url: str, history: History, revision: str = "base") -> None:
    await _locked(url, history, lambda conn, h: command.downgrade(_config(h, conn), revision))


@dataclass(frozen=True)
class Status:
    service: str
    current: str | None
    head: str
    known: bool  # current is one of the service's revisions
    unversioned: bool  # tables but no version table (made by create_all)

    def describe(self) -> str:
        if self.current == self.head:
            return "up to date"
        if self.unversioned:
            return "tables without a version table (made before migrations): migrating stamps or refuses it"
        if self.current is None:
            return "empty: migrating creates the tables"
        if not self.known:
            return "at a revision this version of Duban does not know (migrated by a newer one?)"
        return "behind head: migrating upgrades it"


async def status(url: str, history: History) -> Status:
    engine = make_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_status, history)
    finally:
        await engine.dispose()


def new_revision(history: History, message: str) -> Path | None:
    """Write a revision taking head to the models, found by comparing them with a scratch SQLite
    database at head; None when there is no difference. Read it before committing it."""
    engine = create_engine("sqlite://")
    try:
        with engine.connect() as conn, conn.begin():
            command.upgrade(_config(history, conn), "head")
            script = command.revision(_config(history, conn), message, autogenerate=True,
                                      process_revision_directives=_unless_empty)
    finally:
        engine.dispose()
    return Path(script.path) if script else None


def _unless_empty(_context, _revision, directives) -> None:
    if directives[0].upgrade_ops.is_empty():
        directives[:] = []


# ---- the plumbing ---------------------------------------------------------------------------


def scripts(history: History) -> ScriptDirectory:
    return ScriptDirectory.from_config(_config(history, None))


def _config(history: History, connection: Connection | None) -> Config:
    config = Config()
    config.set_main_option("script_location", _escaped(HERE))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", _escaped(history.versions))
    config.attributes.update(history=history, connection=connection)
    return config


def _escaped(path: Path) -> str:
    return str(path).replace("%", "%%")  # the options are interpolated like an .ini file's


async def _locked(url: str, history: History, work: Callable[[Connection, History], Any]) -> Any:
    engine = make_engine(url, poolclass=NullPool)  # its connections' settings die with it
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_in_one_transaction, history, work)
    finally:
        await engine.dispose()


def _in_one_transaction(conn: Connection, history: History, work) -> Any:
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        # Batch operations recreate tables, which foreign keys would refuse; they are checked
        # before committing instead. (A pragma, so outside the transaction.)
        _sqlite_pragma(conn, "foreign_keys=OFF")
    with conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                         {"key": advisory_key(lock_name(history.service))})
        result = work(conn, history)
        if sqlite and (broken := conn.exec_driver_sql("PRAGMA foreign_key_check").first()):
            raise SchemaMismatch(f"{history.service}: the migration broke a foreign key: {tuple(broken)}")
    return result


def _sqlite_pragma(conn: Connection, pragma: str) -> None:
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA {pragma}")
    finally:
        cursor.close()


def _upgrade(conn: Connection, history: History) -> str | None:
    current = _current(conn, history)
    revisions = scripts(history)
    if current is None:
        current = _stamp_if_made_by_create_all(conn, history, revisions)
    elif not _known(revisions, current):
        raise SchemaMismatch(
            f"{history.service}'s database is at revision {current}, which this version of Duban "
            "does not know: was it migrated by a newer version? Run that version, or restore a backup.")
    head = revisions.get_current_head()
    if current != head:
        command.upgrade(_config(history, conn), "head")
        log.info("%s: database upgraded from %s to %s", history.service, current or "empty", head)
    if history.after_upgrade:
        history.after_upgrade(conn)
    return current


def _current(conn: Connection, history: History) -> str | None:
    context = MigrationContext.configure(conn, opts={"version_table": history.version_table})
    return context.get_current_revision()


def _known(revisions: ScriptDirectory, revision: str) -> bool:
    try:
        return revisions.get_revision(revision) is not None
    except CommandError:
        return False


def _status(conn: Connection, history: History) -> Status:
    current, revisions = _current(conn, history), scripts(history)
    return Status(history.service, current, revisions.get_current_head(),
                  known=current is not None and _known(revisions, current),
                  unversioned=current is None and bool(schema_names(conn, history)))


def _stamp_if_made_by_create_all(conn: Connection, history: History,
                                 revisions: ScriptDirectory) -> str | None:
    found = schema_names(conn, history)
    if not found:
        return None
    first = revisions.get_base()
    for revision in dict.fromkeys([revisions.get_current_head(), first]):
        if found == schema_names_at(history, revision):
            command.stamp(_config(history, conn), revision)
            log.warning("%s: the database's tables were made without migrations; they match "
                        "revision %s, so it is stamped there", history.service, revision)
            return revision
    raise SchemaMismatch(_mismatch(history, found, schema_names_at(history, first)))


Schema = dict[str, tuple[frozenset[str], frozenset[str]]]


def schema_names(conn: Connection, history: History) -> Schema:
    """Each table's column names and index names (what stamping compares)."""
    inspector = inspect(conn)
    return {
        table: (frozenset(c["name"] for c in inspector.get_columns(table)),
                frozenset(i["name"] for i in inspector.get_indexes(table)
                          if history.modelled(i["name"]) and not i.get("duplicates_constraint")))
        for table in inspector.get_table_names()
        if history.modelled(table) and table != history.version_table
    }


def schema_names_at(history: History, revision: str) -> Schema:
    """The tables, columns and indexes ``revision`` makes (run in a scratch SQLite database)."""
    engine = create_engine("sqlite://")
    try:
        with engine.connect() as conn, conn.begin():
            command.upgrade(_config(history, conn), revision)
            return schema_names(conn, history)
    finally:
        engine.dispose()


def _mismatch(history: History, found: Schema, expected: Schema) -> str:
    problems = []
    if extra := sorted(found.keys() - expected.keys()):
        problems.append(f"tables it should not have: {', '.join(extra)}")
    if missing := sorted(expected.keys() - found.keys()):
        problems.append(f"missing tables: {', '.join(missing)}")
    for table in sorted(found.keys() & expected.keys()):
        for kind, has, wants in zip(("columns", "indexes"), found[table], expected[table], strict=True):
            if has != wants:
                problems.append(f"{table}'s {kind}: {', '.join(sorted(has ^ wants))} differ")
    return (f"{history.service}'s database has tables but no {history.version_table}, and they are "
            f"not those of its first revision ({'; '.join(problems)}). Is it another service's "
            "database? Point the service at its own, or bring this one to that revision by hand "
            "and run `duban migrate` again.")
