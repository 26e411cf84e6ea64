"""tracking's tables (its own copy of each assigned task, and its history) and API shapes."""

from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlalchemy import JSON, Column, Index, Integer, Text, text
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from shared.db import UTCDateTime
from shared.org_copy import OrgUnitFields, path_index


class TrackingBase(SQLModel, registry=registry()):
    pass


_NOT_APPROACHED = "approaching_for IS NULL OR approaching_for != due"


class TrackedTask(TrackingBase, table=True):
    __tablename__ = "tracked_task"
    # The deadline scanner's query: open tasks not yet flagged, by deadline.
    __table_args__ = (
        Index("ix_tracked_task_pending_deadline", "overdue_at", "due"),
        # The ledger: by deadline within a tenant, a unit, a status.
        Index("ix_tracked_task_ledger", "tenant", "due", "id"),
        Index("ix_tracked_task_ledger_unit", "tenant", "lead_unit", "due", "id"),
        Index("ix_tracked_task_ledger_status", "tenant", "status", "due", "id"),
        Index("ix_tracked_task_ledger_supervisor", "tenant", "supervisor", "due", "id"),
        # The missed-report watch looks for tasks with a reporting cycle it does not watch yet.
        Index("ix_tracked_task_reporting", "reporting_cycle", "status"),
        # The dashboards' per-unit counts (store.open_by_unit) read every open task of the scope:
        # covering them keeps that an index-only scan, in unit order, without the table's rows.
        Index("ix_tracked_task_by_unit", "tenant", "lead_unit", "status", "due", "extension_due",
              "stagnant_at"),
        # The deadline watch's warnings: only tasks not yet warned are indexed, so finding those due
        # (and the next one to fall due) reads a few index entries however many tasks there are.
        # Each predicate is written as the claim's WHERE renders it, so the planners use the index.
        Index("ix_tracked_task_approaching", "yellow_at",
              sqlite_where=text(_NOT_APPROACHED), postgresql_where=text(_NOT_APPROACHED)),
        Index("ix_tracked_task_stagnant", "stagnant_at",
              sqlite_where=text("stagnant_flagged = 0"), postgresql_where=text("NOT stagnant_flagged")),
    )

    id: str = Field(primary_key=True, max_length=32)
    tenant: str = Field(max_length=64)
    item_id: str = Field(index=True, max_length=32)
    # Set on a sub-task: a unit re-dispatched its task to one of its own sub-units.
    parent_task_id: str | None = Field(default=None, index=True, max_length=32)
    item_number: str = Field(default="", max_length=32)
    title: str = Field(max_length=500)
    lead_unit: str = Field(index=True, max_length=64)
    co_units: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    responsible_person: str = Field(default="", max_length=128)
    # The item's attributes, copied from task.assigned, for the ledger's filters.
    source_kind: str = Field(default="", max_length=32)
    regime: str = Field(default="", max_length=16)
    urgency: str = Field(default="", max_length=16)
    supervisor: str = Field(default="", max_length=128)
    reporting_cycle: str = Field(default="none", max_length=16)
    report_due_day: int = 2
    due: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    due_working_days: int | None = None
    # The deadline was counted over a year with no holiday data loaded (plain weekends used).
    calendar_fallback: bool = False
    status: str = Field(default="assigned", max_length=16)
    suspended_from: str | None = Field(default=None, max_length=16)
    returns: int = 0
    reverifications: int = 0
    assigned_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    last_activity_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    overdue_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    # A pending extension request (延期申请): the deadline clock pauses until it is decided.
    extension_due: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    extension_reason: str | None = Field(default=None, max_length=2000)
    next_reminder_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, index=True))
    # When the light turns yellow (kept with the deadline, so the ledger can filter by light).
    yellow_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    approaching_for: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))  # due warned of
    stagnant_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    stagnant_flagged: bool = False


class TaskHistory(TrackingBase, table=True):
    """Every move of a task: who, when, from, to, and why."""

    __tablename__ = "task_history"

    id: int | None = Field(default=None, primary_key=True)
    task_id: str = Field(index=True, max_length=32)
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    actor: str = Field(max_length=128)
    action: str = Field(max_length=32)
    from_status: str = Field(max_length=16)
    to_status: str = Field(max_length=16)
    comment: str = Field(default="", max_length=2000)


class CalendarYearRow(TrackingBase, table=True):
    """A year's official calendar loaded by an administrator; overrides the built-in one."""

    __tablename__ = "calendar_year"

    year: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    holidays: list[str] = Field(sa_column=Column(JSON, nullable=False))
    workdays: list[str] = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_by: str = Field(max_length=128)


# ---- API shapes -----------------------------------------------------------------------------


class RequestBody(BaseModel):
    """A request body: a field the caller may not set (e.g. the actor: the token's subject) is 422."""

    model_config = ConfigDict(extra="forbid")


class ActionRequest(RequestBody):
    comment: str = PydanticField(default="", max_length=2000)


class ReviewRequest(ActionRequest):
    decision: Literal["accept", "return", "reverify"]


class ExtensionRequest(ActionRequest):
    new_due: AwareDatetime
    reason: str = PydanticField(min_length=1, max_length=2000)


class ExtensionDecision(ActionRequest):
    decision: Literal["grant", "refuse"]


class ExtensionPublic(BaseModel):
    new_due: datetime
    reason: str


class SubTaskIn(RequestBody):
    unit: str = PydanticField(min_length=1, max_length=64)
    title: str | None = PydanticField(default=None, min_length=1, max_length=500)
    due: AwareDatetime | None = None  # the parent's deadline when left out


class DispatchRequest(ActionRequest):
    sub_tasks: list[SubTaskIn] = PydanticField(min_length=1, max_length=200)


class SubTaskPublic(BaseModel):
    id: str
    lead_unit: str
    title: str
    due: datetime
    status: str


class HistoryPublic(BaseModel):
    at: datetime
    actor: str
    action: str
    from_status: str
    to_status: str
    comment: str


class LedgerRow(BaseModel):
    """A task as the ledger lists it."""

    id: str
    item_id: str
    item_number: str
    title: str
    lead_unit: str
    co_units: list[str]
    responsible_person: str
    source_kind: str
    regime: str
    urgency: str
    supervisor: str
    due: datetime
    status: str
    light: str
    overdue: bool
    # Open tasks: working days left on tracking's calendar and clock (0: due today; negative: the
    # working days it is overdue by); closed tasks: null.
    working_days_left: int | None = None
    assigned_at: datetime


class TaskPublic(LedgerRow):
    """A task with everything tracking knows of it."""

    milestones: list["MilestonePublic"]
    reporting_cycle: str
    report_due_day: int
    due_working_days: int | None
    calendar_fallback: bool
    overdue_at: datetime | None
    stagnant: bool
    returns: int
    reverifications: int
    allowed_actions: list[str]
    extension: ExtensionPublic | None
    next_reminder_at: datetime | None
    parent_task_id: str | None
    sub_tasks: list["SubTaskPublic"]
    sub_progress: dict[str, int]  # {"closed": n, "total": m}: the parent's progress from them
    history: list[HistoryPublic]


class CalendarYearRequest(RequestBody):
    """A whole year: every holiday and every 调休 working day (weekends otherwise off)."""

    holidays: list[Any]
    workdays: list[Any]


class CalendarYearPublic(BaseModel):
    year: int
    origin: Literal["builtin", "loaded", "none"]
    holidays: list[str]
    workdays: list[str]
    updated_at: datetime | None = None
    updated_by: str | None = None


class CalendarYearSummary(BaseModel):
    year: int
    origin: Literal["builtin", "loaded"]
    updated_at: datetime | None = None
    updated_by: str | None = None


class OrgUnitCopy(OrgUnitFields, TrackingBase, table=True):
    """tracking's copy of intake's org tree (for the ledger's unit filter and re-dispatch)."""

    __tablename__ = "org_unit_copy"
    __table_args__ = (path_index("org_unit_copy"),)


@dataclass(frozen=True)
class LedgerFilter:
    """The ledger's filters (every list: any of its values)."""

    unit: str | None = None
    include_sub_units: bool = True
    status: list[str] = dc_field(default_factory=list)
    light: list[str] = dc_field(default_factory=list)
    regime: list[str] = dc_field(default_factory=list)
    source_kind: list[str] = dc_field(default_factory=list)
    urgency: list[str] = dc_field(default_factory=list)
    supervisor: list[str] = dc_field(default_factory=list)
    due_from: datetime | None = None
    due_to: datetime | None = None
    q: str | None = None
    descending: bool = False


class LedgerPage(BaseModel):
    items: list[LedgerRow]
    next_cursor: str | None
    total: int | None = None


class UnitLoad(BaseModel):
    """A lead unit's open tasks, and how many of them are overdue and stagnant."""

    unit: str
    open: int
    overdue: int
    stagnant: int


# ---- progress reports, evidence and missed reports ------------------------------------------


class Evidence(TrackingBase, table=True):
    """An evidence file attached to a task; the bytes are stored once by hash (evidence.py)."""

    __tablename__ = "evidence"

    task_id: str = Field(primary_key=True, max_length=32)
    sha256: str = Field(primary_key=True, max_length=64)
    size: int
    media_type: str = Field(max_length=128)
    filename: str = Field(default="", max_length=255)
    uploaded_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    uploaded_by: str = Field(max_length=128)


class ProgressReport(TrackingBase, table=True):
    """A unit's progress report for a period of the task's cycle ("" when it has none)."""

    __tablename__ = "progress_report"
    __table_args__ = (Index("ix_progress_report_period", "task_id", "period_key"),)

    id: int | None = Field(default=None, primary_key=True)
    task_id: str = Field(max_length=32)
    unit: str = Field(max_length=64)
    period_key: str = Field(default="", max_length=16)
    text: str = Field(sa_column=Column(Text, nullable=False))
    evidence: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    actor: str = Field(max_length=128)


class ReportWatch(TrackingBase, table=True):
    """When the next report of a task with a reporting cycle falls due (None: no more)."""

    __tablename__ = "report_watch"

    task_id: str = Field(primary_key=True, max_length=32)
    next_due: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, index=True))


class MissedReport(TrackingBase, table=True):
    """A period whose report fell due without the lead unit's: flagged once."""

    __tablename__ = "missed_report"

    task_id: str = Field(primary_key=True, max_length=32)
    period_key: str = Field(primary_key=True, max_length=16)
    report_due: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    flagged_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class ReportRequest(RequestBody):
    # The reporting unit: left out, the caller's unit on the task (the lead unit first).
    unit: str | None = PydanticField(default=None, min_length=1, max_length=64)
    text: str = PydanticField(min_length=1, max_length=20_000)
    evidence: list[str] = PydanticField(default_factory=list, max_length=50)
    period: str | None = PydanticField(default=None, max_length=16)


class EvidencePublic(BaseModel):
    sha256: str
    size: int
    media_type: str
    filename: str


class ReportPublic(BaseModel):
    id: int
    task_id: str
    unit: str
    period: str | None
    text: str
    evidence: list[str]
    at: datetime
    actor: str


class UnitPart(BaseModel):
    unit: str
    status: Literal["reported", "missing"]
    report: ReportPublic | None


class ConsolidatedPublic(BaseModel):
    """A period's reports: the lead unit's and each co-unit's part."""

    task_id: str
    period: str | None
    lead_unit: str
    lead: ReportPublic | None
    parts: list[UnitPart]


class MissedReportPublic(BaseModel):
    period: str
    report_due: datetime
    flagged_at: datetime


class TaskMilestone(TrackingBase, table=True):
    """A 时间节点 of a task: reached by the unit, or flagged once as missed when its date passes."""

    __tablename__ = "task_milestone"
    __table_args__ = (Index("ix_task_milestone_pending", "missed_at", "reached_at", "due"),)

    task_id: str = Field(primary_key=True, max_length=32)
    position: int = Field(primary_key=True)
    title: str = Field(max_length=500)
    due: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    reached_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    missed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


class MilestonePublic(BaseModel):
    position: int
    title: str
    due: datetime
    reached_at: datetime | None
    missed: bool
