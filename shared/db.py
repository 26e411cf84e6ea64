"""Database plumbing: async engines for SQLite (embedded) and PostgreSQL (production).

Each service has its own SQLModel registry (its own tables, its own database); the plumbing
tables (outbox, processed events, audit trail) live in ``PlumbingBase`` and are in every service's
database beside the service's own. The services' migrations (shared/migrations) make them;
``create_tables`` is for tests' own tables and for a scratch store (scoring's replay).
"""

import functools
import hashlib
from collections.abc import Iterable
from typing import Any

from datetime import UTC, datetime

from sqlalchemy import DateTime, MetaData, bindparam, event, text, types
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import registry
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

SQLITE_BUSY_TIMEOUT_MS = 30_000


class UTCDateTime(types.TypeDecorator):
    """Timezone-aware datetimes stored as UTC on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: Duban stores timezone-aware times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class PlumbingBase(SQLModel, registry=registry()):
    """Tables every service has: the outbox and the processed-events inbox."""


def async_url(url: str) -> str:
    """Accept plain URLs and pick the async driver: sqlite → aiosqlite, postgresql → psycopg."""
    if url.startswith("sqlite:"):
        return "sqlite+aiosqlite:" + url.removeprefix("sqlite:")
    for prefix in ("postgresql:", "postgres:", "postgresql+psycopg2:"):
        if url.startswith(prefix):
            return "postgresql+psycopg:" + url.removeprefix(prefix)
    return url


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    engine = create_async_engine(async_url(url), **kwargs)
    if engine.dialect.name == "sqlite":
        _tune_sqlite(engine)
    return engine


def _tune_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        # Let SQLAlchemy emit BEGIN itself (below), as the pysqlite docs recommend.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn) -> None:
        # IMMEDIATE takes the write lock up front: two processes on one file (two replicas) then
        # wait for each other (busy_timeout) instead of failing on a read-to-write upgrade.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def create_tables(engine: AsyncEngine, metadatas: Iterable[MetaData]) -> None:
    async with engine.begin() as conn:
        for metadata in metadatas:
            await conn.run_sync(metadata.create_all)


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


def insert_ignoring_duplicates(session: AsyncSession, table):
    """INSERT … ON CONFLICT DO NOTHING for the session's dialect."""
    dialect = session.bind.dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing()


def upsert_adding(session: AsyncSession, table, keys: tuple[str, ...], amounts: tuple[str, ...],
                  returning: tuple[str, ...] = ()):
    """INSERT a counter row, or add the amounts to the existing one, in one statement (returning
    the columns named in ``returning``); execute it with the keys' and amounts' values as
    parameters. Built once per table and dialect: building an upsert takes as long as running it."""
    return _upsert_adding(session.bind.dialect.name, table, keys, amounts, returning)


@functools.cache
def _upsert_adding(dialect: str, table, keys: tuple[str, ...], amounts: tuple[str, ...],
                   returning: tuple[str, ...]):
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(table).values({name: bindparam(name) for name in (*keys, *amounts)})
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: table.c[name] + stmt.excluded[name] for name in amounts},
    )
    return stmt.returning(*(table.c[name] for name in returning)) if returning else stmt


async def lock_until_commit(session: AsyncSession, name: str) -> None:
    """Serialise the transactions that take the lock called ``name`` until each ends (PostgreSQL
    advisory lock; SQLite's BEGIN IMMEDIATE already runs writers one at a time)."""
    if session.bind.dialect.name == "postgresql":
        await session.exec(text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=advisory_key(name)))


def advisory_key(name: str) -> int:
    """The PostgreSQL advisory lock called ``name`` (a signed 64-bit key)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], signed=True)
