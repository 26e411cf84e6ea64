"""The ledger's text search: ``q`` as a substring of a task's title or its item number.

The answer is always the plain ``LIKE '%q%'`` test (case-insensitive for ASCII letters on SQLite,
for every letter on PostgreSQL); an index only narrows the rows that test has to look at.

- SQLite: ``tracked_task_text``, a contentless FTS5 table with the trigram tokenizer, kept by
  triggers and keyed by tracked_task's rowid (VACUUM keeps the rowids of a table with indexes).
  Each value is indexed with two padding characters after it, so every 1- or 2-character
  substring begins some trigram: a phrase of 3+ characters is a trigram phrase query, a shorter
  one a range of trigrams (``tracked_task_text_terms``, the index's vocabulary).
- PostgreSQL: a pg_trgm GIN index answers ``ILIKE`` for 3+ characters (when the extension can be
  created), and a GIN index over every 1- and 2-character substring answers shorter phrases.

tracking's first revision (migrations/versions/) makes the FTS5 table and its triggers, and the
short-substring index; the pg_trgm index is made after each upgrade while it is missing and the
extension can be created (create_trigram_index).
"""

import logging

from sqlalchemy import and_, column, func, literal_column, or_, text
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.exc import DBAPIError
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from services.tracking.models import TrackedTask

log = logging.getLogger(__name__)

# Up to this many tasks matching the phrase anywhere, SQLite reads them by rowid and sorts them
# (about 20 ms for 15,000 at a million tasks); a commoner phrase is in one task of 70 or more, so
# reading the ledger in deadline order and testing each row fills a page sooner.
SQLITE_MOST_MATCHES = 15_000

_SQLITE_PHRASE = "SELECT rowid FROM tracked_task_text WHERE tracked_task_text MATCH :phrase"
_SQLITE_PREFIX = "SELECT doc FROM tracked_task_text_terms WHERE term >= :low AND term < :high"

# The objects the revisions make for this index, which no model describes (by name prefix).
INDEX_OBJECTS = ("tracked_task_text", "ix_tracked_task_text", "tracked_task_short_grams")

_POSTGRES_TRIGRAM_INDEX = ("CREATE INDEX ix_tracked_task_text_trgm ON tracked_task"
                           " USING gin (title {ops}, item_number {ops})")


async def matching(session: AsyncSession, tenant: str, q: str):
    """The condition for the tenant's tasks whose title or item number contains ``q``."""
    same_tenant, exact = TrackedTask.tenant == tenant, _contains(q)
    dialect = session.bind.dialect.name
    if dialect == "postgresql" and len(q) <= 2:
        grams = func.tracked_task_short_grams(TrackedTask.title, TrackedTask.item_number)
        return and_(same_tenant, grams.op("@>")(array([func.lower(q)])), exact)
    if dialect != "sqlite":
        return and_(same_tenant, exact)
    # Without statistics, SQLite's planner takes `tenant = ?` for ten rows and walks a whole ledger
    # index rather than sort; told it is every row, it starts from the rows found by the FTS index,
    # and counts by reading the table once rather than through an index.
    same_tenant = func.likelihood(same_tenant, literal_column("1.0"))
    if (rows := await _sqlite_rows(session, q)) is None:
        return and_(same_tenant, exact)
    return and_(same_tenant, literal_column("tracked_task.rowid").in_(rows), exact)


def _contains(q: str):
    pattern = "%" + q.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"
    return or_(col(TrackedTask.title).ilike(pattern, escape="/"),
               col(TrackedTask.item_number).ilike(pattern, escape="/"))


async def _sqlite_rows(session: AsyncSession, q: str):
    """The rowids the FTS index gives for ``q``; None when it cannot, or when they are too many."""
    if len(q) >= 3:
        sql, params = _SQLITE_PHRASE, {"phrase": '"' + q.replace('"', '""') + '"'}
    elif bounds := trigram_range(q):
        sql, params = _SQLITE_PREFIX, dict(zip(("low", "high"), bounds, strict=True))
    else:
        return None
    probe = text(f"SELECT count(*) FROM ({sql} LIMIT :most)")
    found = (await session.exec(probe.bindparams(most=SQLITE_MOST_MATCHES + 1, **params))).scalar_one()
    if found > SQLITE_MOST_MATCHES:
        return None
    return text(sql).bindparams(**params).columns(column("rowid"))


def trigram_range(q: str) -> tuple[str, str] | None:
    """The range of indexed trigrams beginning with ``q`` as the index folds it (lowercase).

    Only for text Python surely folds as FTS5 does: ASCII, and characters without case."""
    if any(not c.isascii() and c.lower() + c.upper() != c + c for c in q):
        return None
    low, last = q.lower(), ord(q[-1].lower())
    if last in (0xD7FF, 0x10FFFF):  # no next character to bound the range with
        return None
    return low, low[:-1] + chr(last + 1)


# ---- the optional pg_trgm index ---------------------------------------------------------------


def create_trigram_index(connection) -> None:
    """The pg_trgm index, after each upgrade while it is missing: whether it can be made depends
    on the server's extensions, which may come after the revision that would have made it."""
    if connection.dialect.name == "postgresql" and connection.exec_driver_sql(
            "SELECT to_regclass('ix_tracked_task_text_trgm') IS NULL").scalar_one():
        _create_trigram_index(connection)


def _create_trigram_index(connection) -> None:
    try:
        with connection.begin_nested():
            connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            schema = connection.exec_driver_sql(
                "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm'"
            ).scalar_one()
            connection.exec_driver_sql(_POSTGRES_TRIGRAM_INDEX.format(ops=f"{schema}.gin_trgm_ops"))
    except DBAPIError as error:
        log.warning("no pg_trgm index for the ledger's text search, so a phrase of 3+ characters "
                    "scans the tasks: %s", error.orig)

