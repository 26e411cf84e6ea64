"""tracking's queries."""

from datetime import datetime
from functools import lru_cache

from sqlalchemy import and_, case, func, or_, text, tuple_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.tracking import domain, search
from services.tracking.lifecycle import (
    CLOCK_RUNNING_STATUSES,
    OPEN_STATUSES,
    HistoryEntry,
)
from services.tracking.models import (
    CalendarYearRow,
    Evidence,
    LedgerFilter,
    MissedReport,
    OrgUnitCopy,
    ProgressReport,
    ReportWatch,
    TaskHistory,
    TaskMilestone,
    TrackedTask,
)
from shared.workdays import WorkCalendar, YearCalendar, builtin_calendar
from shared import org_copy
from shared.db import insert_ignoring_duplicates

_CALENDAR_LOCK = 0x4475_6261_6E43_616C  # a PostgreSQL advisory lock key ("DubanCal")
_COUNTING_CALENDAR = "duban.tracking.counting_calendar"


async def add_task(session: AsyncSession, task: TrackedTask) -> None:
    values = task.model_dump()
    await session.exec(insert_ignoring_duplicates(session, TrackedTask.__table__).values(**values))


async def get_task(session: AsyncSession, task_id: str, *, for_update: bool = False) -> TrackedTask | None:
    return await session.get(TrackedTask, task_id, with_for_update=for_update or None)


async def history(session: AsyncSession, task_id: str) -> list[TaskHistory]:
    result = await session.exec(
        select(TaskHistory).where(TaskHistory.task_id == task_id).order_by(col(TaskHistory.id))
    )
    return list(result.all())


def add_history(session: AsyncSession, task_id: str, entry: HistoryEntry) -> None:
    session.add(TaskHistory(task_id=task_id, **entry.__dict__))


async def claim_overdue(session: AsyncSession, now: datetime, limit: int) -> list[TrackedTask]:
    """Flag open tasks whose deadline has passed, once: returns the tasks this call flagged.

    The UPDATE re-checks ``overdue_at IS NULL`` under the row lock, so with several replicas
    each task is claimed by exactly one of them (SKIP LOCKED only saves them waiting).
    """
    due_now = (
        select(TrackedTask.id)
        .where(col(TrackedTask.overdue_at).is_(None))
        .where(col(TrackedTask.due) <= now)
        .where(col(TrackedTask.extension_due).is_(None))  # the clock pauses while one is pending
        .where(col(TrackedTask.status).in_(sorted(CLOCK_RUNNING_STATUSES)))
        .order_by(col(TrackedTask.due))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await session.exec(
        update(TrackedTask)
        .where(col(TrackedTask.id).in_(due_now.scalar_subquery()))
        .where(col(TrackedTask.overdue_at).is_(None))
        .values(overdue_at=now)
        .returning(*TrackedTask.__table__.c)
    )
    return [TrackedTask.model_validate(dict(row._mapping)) for row in result]



async def due_reminders(session: AsyncSession, now: datetime, limit: int) -> list[TrackedTask]:
    """Tasks whose next automatic reminder is due (locked on PostgreSQL, skipped by others)."""
    result = await session.exec(
        select(TrackedTask)
        .where(col(TrackedTask.next_reminder_at) <= now)
        .order_by(col(TrackedTask.next_reminder_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(result.all())


async def advance_reminder(session: AsyncSession, task_id: str, fired: datetime,
                           following: datetime | None) -> bool:
    """Move a task's reminder from ``fired`` to ``following``; False if another replica did."""
    result = await session.exec(
        update(TrackedTask)
        .where(col(TrackedTask.id) == task_id, col(TrackedTask.next_reminder_at) == fired)
        .values(next_reminder_at=following)
    )
    return result.rowcount == 1


# ---- the calendar ---------------------------------------------------------------------------


async def lock_calendar(session: AsyncSession, *, exclusive: bool) -> None:
    """Order a calendar save and the counting of new deadlines on PostgreSQL: a task registered
    while a year is saved is counted on the saved year or recounted by the save. (On SQLite,
    ``BEGIN IMMEDIATE`` already runs writing transactions one at a time.)"""
    if session.bind.dialect.name != "postgresql":
        return
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    await session.exec(text(f"SELECT {function}(:key)").bindparams(key=_CALENDAR_LOCK))


async def loaded_years(session: AsyncSession) -> list[CalendarYearRow]:
    result = await session.exec(select(CalendarYearRow).order_by(col(CalendarYearRow.year)))
    return list(result.all())


async def calendar(session: AsyncSession) -> WorkCalendar:
    """The effective calendar: the built-in years overridden by those loaded (read each time, so
    every replica sees a save at once; parsed once per version)."""
    rows = await loaded_years(session)
    return _effective(tuple((r.year, tuple(r.holidays), tuple(r.workdays)) for r in rows))


async def counting_calendar(session: AsyncSession) -> WorkCalendar:
    """The calendar new deadlines are counted with: read once per transaction (a consumer's whole
    batch), under the shared lock that orders it against a calendar save."""
    if (cached := session.info.get(_COUNTING_CALENDAR)) is None:
        await lock_calendar(session, exclusive=False)
        cached = session.info[_COUNTING_CALENDAR] = await calendar(session)
    return cached


@lru_cache(maxsize=8)
def _effective(loaded: tuple[tuple[int, tuple[str, ...], tuple[str, ...]], ...]) -> WorkCalendar:
    years = [YearCalendar.parse(year, {"holidays": list(h), "workdays": list(w)})
             for year, h, w in loaded]
    return domain.effective_calendar(builtin_calendar(), years)


async def save_year(session: AsyncSession, cal: YearCalendar, *, at: datetime,
                    by: str) -> CalendarYearRow:
    session.info.pop(_COUNTING_CALENDAR, None)
    row = await session.get(CalendarYearRow, cal.year) or CalendarYearRow(year=cal.year)
    row.holidays = sorted(d.isoformat() for d in cal.holidays)
    row.workdays = sorted(d.isoformat() for d in cal.workdays)
    row.updated_at, row.updated_by = at, by
    session.add(row)
    return row


async def open_working_day_tasks(session: AsyncSession) -> list[TrackedTask]:
    """Open tasks not yet overdue whose deadline was given in working days, locked."""
    result = await session.exec(
        select(TrackedTask)
        .where(col(TrackedTask.due_working_days).is_not(None))
        .where(col(TrackedTask.overdue_at).is_(None))
        .where(col(TrackedTask.status).in_(sorted(OPEN_STATUSES)))
        .order_by(col(TrackedTask.id))
        .with_for_update()
    )
    return list(result.all())


# ---- the org copy and the ledger ----------------------------------------------------------------


def subtree_ids(tenant: str, unit: str):
    return org_copy.subtree_ids(OrgUnitCopy, tenant, unit)


def below_ids(tenant: str, unit: str):
    return org_copy.below_ids(OrgUnitCopy, tenant, unit)


async def ledger_query(session: AsyncSession, tenant: str, f: LedgerFilter, now: datetime):
    mine = await search.matching(session, tenant, f.q) if f.q else TrackedTask.tenant == tenant
    query = select(TrackedTask).where(mine)
    if f.unit and f.include_sub_units:
        query = query.where(col(TrackedTask.lead_unit).in_(subtree_ids(tenant, f.unit)))
    elif f.unit:
        query = query.where(TrackedTask.lead_unit == f.unit)
    for column, values in ((TrackedTask.status, f.status), (TrackedTask.regime, f.regime),
                           (TrackedTask.source_kind, f.source_kind), (TrackedTask.urgency, f.urgency),
                           (TrackedTask.supervisor, f.supervisor)):
        if values:
            query = query.where(col(column).in_(values))
    if f.due_from:
        query = query.where(col(TrackedTask.due) >= f.due_from)
    if f.due_to:
        query = query.where(col(TrackedTask.due) < f.due_to)
    if f.light:
        query = query.where(or_(*(_light_condition(light, now) for light in f.light)))
    return query


def _light_condition(light: str, now: datetime):
    running = col(TrackedTask.status).in_(sorted(CLOCK_RUNNING_STATUSES))
    past_due = col(TrackedTask.due) <= now
    pending = col(TrackedTask.extension_due).is_not(None)
    yellow_by_time = and_(~past_due, col(TrackedTask.yellow_at) <= now)
    if light == "red":
        return and_(running, past_due, ~pending)
    if light == "yellow":
        return and_(running, or_(yellow_by_time, and_(past_due, pending)))
    return or_(~running, and_(~past_due, or_(col(TrackedTask.yellow_at).is_(None),
                                            col(TrackedTask.yellow_at) > now)))


async def ledger_page(session: AsyncSession, tenant: str, f: LedgerFilter, now: datetime,
                      after: tuple[datetime, str] | None, limit: int) -> list[TrackedTask]:
    """One page in (due, id) order: keyset paging stays fast however deep the page."""
    query = await ledger_query(session, tenant, f, now)
    due, ident = col(TrackedTask.due), col(TrackedTask.id)
    if after:
        # A row-value comparison, which both databases answer from the (…, due, id) indexes.
        position, cursor = tuple_(due, ident), tuple_(*after)
        query = query.where(position < cursor if f.descending else position > cursor)
    order = (due.desc(), ident.desc()) if f.descending else (due, ident)
    return list((await session.exec(query.order_by(*order).limit(limit))).all())


async def ledger_total(session: AsyncSession, tenant: str, f: LedgerFilter, now: datetime) -> int:
    inner = (await ledger_query(session, tenant, f, now)).subquery()
    return (await session.exec(select(func.count()).select_from(inner))).one()


async def open_by_unit(session: AsyncSession, tenant: str, unit: str | None,
                       now: datetime) -> list[tuple[str, int, int, int]]:
    """Per lead unit (of ``unit``'s subtree, or the tenant): its open tasks, how many of them are
    overdue (red: the clock running past the deadline, no extension pending), how many stagnant."""
    f = LedgerFilter(unit=unit, status=sorted(OPEN_STATUSES))
    inner = (await ledger_query(session, tenant, f, now)).subquery()
    running = inner.c.status.in_(sorted(CLOCK_RUNNING_STATUSES))
    red = and_(running, inner.c.due <= now, inner.c.extension_due.is_(None))
    stagnant = and_(running, inner.c.stagnant_at.is_not(None), inner.c.stagnant_at <= now)
    query = (select(inner.c.lead_unit, func.count(),
                    func.sum(case((red, 1), else_=0)), func.sum(case((stagnant, 1), else_=0)))
             .group_by(inner.c.lead_unit).order_by(inner.c.lead_unit))
    return [(u, n, int(r or 0), int(s or 0)) for u, n, r, s in (await session.exec(query)).all()]


# ---- warnings that fire once --------------------------------------------------------------------


async def claim_approaching(session: AsyncSession, now: datetime, limit: int) -> list[TrackedTask]:
    """Tasks whose light just turned yellow, each claimed once per deadline (a conditional UPDATE)."""
    fresh = (
        select(TrackedTask.id)
        .where(col(TrackedTask.status).in_(sorted(CLOCK_RUNNING_STATUSES)))
        .where(col(TrackedTask.yellow_at) <= now, col(TrackedTask.due) > now)
        .where(col(TrackedTask.extension_due).is_(None))
        .where(or_(col(TrackedTask.approaching_for).is_(None),
                   col(TrackedTask.approaching_for) != col(TrackedTask.due)))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return await _claim(session, fresh, {"approaching_for": TrackedTask.__table__.c.due},
                        or_(col(TrackedTask.approaching_for).is_(None),
                            col(TrackedTask.approaching_for) != col(TrackedTask.due)))


async def claim_stagnant(session: AsyncSession, now: datetime, limit: int) -> list[TrackedTask]:
    """Tasks that just went a whole spell without a report or a move, each claimed once a spell."""
    fresh = (
        select(TrackedTask.id)
        .where(col(TrackedTask.status).in_(sorted(CLOCK_RUNNING_STATUSES)))
        .where(col(TrackedTask.stagnant_at) <= now, ~col(TrackedTask.stagnant_flagged))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return await _claim(session, fresh, {"stagnant_flagged": True}, ~col(TrackedTask.stagnant_flagged))


async def _claim(session: AsyncSession, candidates, values: dict, still_unclaimed) -> list[TrackedTask]:
    result = await session.exec(
        update(TrackedTask)
        .where(col(TrackedTask.id).in_(candidates.scalar_subquery()))
        .where(still_unclaimed)
        .values(**values)
        .returning(*TrackedTask.__table__.c)
    )
    return [TrackedTask.model_validate(dict(row._mapping)) for row in result]


# ---- progress reports, evidence and missed reports ------------------------------------------


async def add_evidence(session: AsyncSession, row: Evidence) -> Evidence:
    """Attach a file to a task; the same file again keeps the first attachment."""
    stmt = insert_ignoring_duplicates(session, Evidence.__table__).values(**row.model_dump())
    await session.exec(stmt)
    return await session.get(Evidence, (row.task_id, row.sha256))


async def evidence(session: AsyncSession, task_id: str, sha256: str) -> Evidence | None:
    return await session.get(Evidence, (task_id, sha256))


async def unattached(session: AsyncSession, task_id: str, hashes: list[str]) -> list[str]:
    """The hashes in ``hashes`` that are not files attached to the task."""
    result = await session.exec(
        select(Evidence.sha256).where(Evidence.task_id == task_id, col(Evidence.sha256).in_(hashes))
    )
    attached = set(result.all())
    return [h for h in hashes if h not in attached]


def add_report(session: AsyncSession, report: ProgressReport) -> None:
    session.add(report)


async def reports(session: AsyncSession, task_id: str,
                  period_key: str | None = None) -> list[ProgressReport]:
    query = select(ProgressReport).where(ProgressReport.task_id == task_id)
    if period_key is not None:
        query = query.where(ProgressReport.period_key == period_key)
    return list((await session.exec(query.order_by(col(ProgressReport.id)))).all())


async def reported_periods(session: AsyncSession, task_id: str, unit: str) -> set[str]:
    result = await session.exec(
        select(ProgressReport.period_key).distinct()
        .where(ProgressReport.task_id == task_id, ProgressReport.unit == unit)
    )
    return set(result.all())


async def missed_reports(session: AsyncSession, task_id: str) -> list[MissedReport]:
    result = await session.exec(
        select(MissedReport).where(MissedReport.task_id == task_id)
        .order_by(col(MissedReport.report_due))
    )
    return list(result.all())


async def unwatched_reporting_tasks(session: AsyncSession, cycles: tuple[str, ...],
                                    limit: int) -> list[TrackedTask]:
    """Open tasks with a reporting cycle that the missed-report watch does not follow yet."""
    watched = select(ReportWatch.task_id).where(ReportWatch.task_id == TrackedTask.id)
    result = await session.exec(
        select(TrackedTask)
        .where(col(TrackedTask.reporting_cycle).in_(sorted(cycles)))
        .where(col(TrackedTask.status).in_(sorted(OPEN_STATUSES)))
        .where(~watched.exists())
        .limit(limit)
    )
    return list(result.all())


async def watch_reports(session: AsyncSession, task_id: str, next_due: datetime) -> None:
    stmt = insert_ignoring_duplicates(session, ReportWatch.__table__)
    await session.exec(stmt.values(task_id=task_id, next_due=next_due))


async def due_report_watches(session: AsyncSession, now: datetime,
                             limit: int) -> list[tuple[TrackedTask, datetime]]:
    """Tasks whose next report fell due before ``now``, with that moment (locked on PostgreSQL,
    skipped by other replicas and while a report on the task is being written)."""
    result = await session.exec(
        select(TrackedTask, ReportWatch.next_due)
        .join(ReportWatch, col(ReportWatch.task_id) == TrackedTask.id)
        .where(col(ReportWatch.next_due) < now)
        .order_by(col(ReportWatch.next_due))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [(task, next_due) for task, next_due in result.all()]


async def move_report_watch(session: AsyncSession, task_id: str, since: datetime,
                            following: datetime | None) -> bool:
    """Move a task's watch from ``since`` to ``following``; False if another replica did."""
    result = await session.exec(
        update(ReportWatch)
        .where(col(ReportWatch.task_id) == task_id, col(ReportWatch.next_due) == since)
        .values(next_due=following)
    )
    return result.rowcount == 1


async def flag_missed_report(session: AsyncSession, task_id: str, period_key: str,
                             report_due: datetime, now: datetime) -> bool:
    """Record a missed period; False if it was flagged before."""
    stmt = insert_ignoring_duplicates(session, MissedReport.__table__).values(
        task_id=task_id, period_key=period_key, report_due=report_due, flagged_at=now,
    )
    result = await session.exec(stmt.returning(MissedReport.__table__.c.task_id))
    return result.first() is not None


# ---- re-dispatch to sub-units ------------------------------------------------------------------


async def units_below(session: AsyncSession, tenant: str, unit: str) -> set[str]:
    """Every unit under ``unit`` in tracking's copy of the org tree (not the unit itself)."""
    return set((await session.exec(below_ids(tenant, unit))).all()) - {unit}


async def sub_tasks(session: AsyncSession, parent_id: str) -> list[TrackedTask]:
    result = await session.exec(
        select(TrackedTask).where(TrackedTask.parent_task_id == parent_id).order_by(col(TrackedTask.due))
    )
    return list(result.all())


# ---- milestones ---------------------------------------------------------------------------------


async def add_milestones(session: AsyncSession, milestones: list[TaskMilestone]) -> None:
    if milestones:
        table = TaskMilestone.__table__
        await session.exec(insert_ignoring_duplicates(session, table), params=[m.model_dump() for m in milestones])


async def milestones(session: AsyncSession, task_id: str) -> list[TaskMilestone]:
    result = await session.exec(select(TaskMilestone).where(TaskMilestone.task_id == task_id)
                                .order_by(col(TaskMilestone.position))
                                .execution_options(populate_existing=True))  # after Core UPDATEs
    return list(result.all())


async def reach_milestone(session: AsyncSession, task_id: str, position: int, now: datetime) -> bool:
    """Mark a milestone reached; False if there is no such milestone or it was reached already."""
    result = await session.exec(
        update(TaskMilestone)
        .where(TaskMilestone.task_id == task_id, TaskMilestone.position == position)
        .where(col(TaskMilestone.reached_at).is_(None))
        .values(reached_at=now)
    )
    return result.rowcount == 1


async def claim_missed_milestones(session: AsyncSession, now: datetime, limit: int):
    """Milestones whose date passed unreached on an open task, each claimed once."""
    candidates = (
        select(TaskMilestone.task_id, TaskMilestone.position)
        .join(TrackedTask, TrackedTask.id == TaskMilestone.task_id)
        .where(col(TaskMilestone.missed_at).is_(None), col(TaskMilestone.reached_at).is_(None))
        .where(col(TaskMilestone.due) <= now)
        .where(col(TrackedTask.status).in_(sorted(CLOCK_RUNNING_STATUSES)))
        .limit(limit)
    )
    claimed = []
    for task_id, position in (await session.exec(candidates)).all():
        result = await session.exec(
            update(TaskMilestone)
            .where(TaskMilestone.task_id == task_id, TaskMilestone.position == position)
            .where(col(TaskMilestone.missed_at).is_(None), col(TaskMilestone.reached_at).is_(None))
            .values(missed_at=now)
            .returning(*TaskMilestone.__table__.c)
        )
        claimed += [TaskMilestone.model_validate(dict(row._mapping)) for row in result]
    return claimed
