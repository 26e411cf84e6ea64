"""intake's tables (its own database) and the API's Create/Public shapes."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AwareDatetime, BaseModel, ConfigDict, Field as PydanticField, StringConstraints, field_validator,
    model_validator,
)
from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from shared.db import UTCDateTime
from shared.events import UNIT_ID_PATTERN, PersonFields


class IntakeBase(SQLModel, registry=registry()):
    pass


class SourceKind(StrEnum):
    meeting_decision = "meeting_decision"
    leader_instruction = "leader_instruction"
    superior_requirement = "superior_requirement"
    annual_key_work = "annual_key_work"
    hotline_case = "hotline_case"
    letter_visit = "letter_visit"
    other = "other"


class Regime(StrEnum):
    comprehensive = "comprehensive"  # 综合督查
    special = "special"  # 专项督查
    ledger = "ledger"  # 挂账督查
    time_limited = "time_limited"  # 限时办结


class Urgency(StrEnum):
    extra_urgent = "extra_urgent"  # 特急
    urgent = "urgent"  # 紧急
    normal = "normal"  # 一般


class ReportingCycle(StrEnum):
    none = "none"
    year = "year"
    half_year = "half_year"
    quarter = "quarter"
    month = "month"
    ten_days = "ten_days"  # 旬
    week = "week"
    day = "day"


# ---- tables ---------------------------------------------------------------------------------


class Item(IntakeBase, table=True):
    __table_args__ = (UniqueConstraint("tenant", "number"),)

    id: str = Field(primary_key=True, max_length=32)
    tenant: str = Field(index=True, max_length=64)
    number: str = Field(max_length=32)  # DB-2026-0001: per tenant and year
    title: str = Field(max_length=500)
    source_kind: str = Field(max_length=32)
    source_ref: str = Field(default="", max_length=500)
    regime: str = Field(default=Regime.special, max_length=16)
    urgency: str = Field(default=Urgency.normal, max_length=16)
    supervising_leader: str = Field(default="", max_length=128)  # 督办领导
    supervisor: str = Field(default="", max_length=128)  # 督办员
    requirements: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    attachments: list[dict] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    registered_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))  # 销号


class ItemTrace(IntakeBase, table=True):
    """The trace of the request (or event) that registered an item, for its end-to-end trace link."""

    __tablename__ = "item_trace"

    item_id: str = Field(primary_key=True, max_length=32)
    trace_id: str = Field(max_length=32)


class ItemCounter(IntakeBase, table=True):
    """The last item number given out per tenant and year."""

    __tablename__ = "item_counter"

    tenant: str = Field(primary_key=True, max_length=64)
    year: int = Field(primary_key=True)
    last: int = 0


class IdempotencyKey(IntakeBase, table=True):
    """A creating call's Idempotency-Key: the same request again returns the same item."""

    __tablename__ = "idempotency_key"

    tenant: str = Field(primary_key=True, max_length=64)
    key: str = Field(primary_key=True, max_length=255)
    request_hash: str = Field(max_length=64)
    item_id: str = Field(max_length=32)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class Task(IntakeBase, table=True):
    id: str = Field(primary_key=True, max_length=32)
    item_id: str = Field(foreign_key="item.id", index=True, max_length=32)
    position: int = 0  # order of the decomposition
    tenant: str = Field(max_length=64)
    title: str = Field(max_length=500)
    lead_unit: str = Field(index=True, max_length=64)
    co_units: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Either a time, or N working days that tracking (which owns the calendar) turns into one.
    due: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    due_working_days: int | None = None
    responsible_person: str = Field(default="", max_length=128)  # 责任人
    milestones: list[dict] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    reporting_cycle: str = Field(default=ReportingCycle.none, max_length=16)
    report_due_day: int = 2  # monthly reports are due by this day of the next month
    status: str = Field(default="assigned", max_length=16)  # intake's copy, from tracking's events


class OrgUnit(IntakeBase, table=True):
    """A unit of a tenant's org tree (kept in step with the OA)."""

    __tablename__ = "org_unit"
    __table_args__ = (
        Index("ix_org_unit_path", "tenant", "path"),
        Index("ix_org_unit_parent", "tenant", "parent_id"),
    )

    tenant: str = Field(primary_key=True, max_length=64)
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    parent_id: str | None = Field(default=None, max_length=64)
    active: bool = True
    # Materialised path "/U-1/U-7/" (root first, this unit last): a subtree is one range scan of
    # ix_org_unit_path, path >= '/U-1/' AND path < '/U-10' ('0' follows '/'), so paths compare
    # bytewise (collation "C" on PostgreSQL; SQLite's default is already bytewise).
    path: str = Field(sa_column=Column(Text().with_variant(Text(collation="C"), "postgresql"),
                                       nullable=False))
    # When the OA last reported this unit's state (its event time): older reports are stale.
    oa_reported_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


class Person(IntakeBase, table=True):
    """A person of a tenant's org chart (from the OA or the people API): where they sit, what they
    are (负责人, 经办人, leader, supervisor) and how to reach them, for notify's copy."""

    __tablename__ = "person"
    __table_args__ = (Index("ix_person_unit", "tenant", "unit_id"),)

    tenant: str = Field(primary_key=True, max_length=64)
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=128)
    unit_id: str | None = Field(default=None, max_length=64)
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    email: str = Field(default="", max_length=254)
    mobile: str = Field(default="", max_length=32)
    wecom_user: str = Field(default="", max_length=64)
    dingtalk_user: str = Field(default="", max_length=64)
    feishu_user: str = Field(default="", max_length=64)
    active: bool = True
    # When the OA last reported this person (its event time): older reports are stale.
    oa_reported_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


# ---- API shapes -----------------------------------------------------------------------------


class Body(BaseModel):
    """A request body (or part of one): a field the API does not take is refused (422), so a
    body cannot set what the caller may not (tenant, number, actor...)."""

    model_config = ConfigDict(extra="forbid")


UnitId = PydanticField(min_length=1, max_length=64, pattern=UNIT_ID_PATTERN)


class SourceIn(Body):
    kind: SourceKind
    ref: str = PydanticField(default="", max_length=500)


class Attachment(Body):
    name: str = PydanticField(min_length=1, max_length=255)
    ref: str = PydanticField(min_length=1, max_length=1000)  # a document number or a URL


class Milestone(Body):
    """A 时间节点 of the 网络推进图: what must be done by when."""

    title: str = PydanticField(min_length=1, max_length=500)
    due: AwareDatetime


class TaskCreate(Body):
    lead_unit: str = UnitId
    co_units: list[str] = PydanticField(default_factory=list, max_length=50)
    title: str | None = PydanticField(default=None, min_length=1, max_length=500)
    responsible_person: str = PydanticField(default="", max_length=128)
    due: AwareDatetime | None = None
    due_working_days: int | None = PydanticField(default=None, ge=1, le=366)
    milestones: list[Milestone] = PydanticField(default_factory=list, max_length=50)
    reporting_cycle: ReportingCycle = ReportingCycle.none
    report_due_day: int = PydanticField(default=2, ge=1, le=28)

    @model_validator(mode="after")
    def _one_deadline(self) -> "TaskCreate":
        if (self.due is None) == (self.due_working_days is None):
            raise ValueError("give the deadline either as due (a time) or as due_working_days (N)")
        return self

    @field_validator("co_units")
    @classmethod
    def _co_units_are_unit_ids(cls, units: list[str]) -> list[str]:
        for unit in units:
            if not unit or len(unit) > 64:
                raise ValueError("each co-unit must be a unit id of 1 to 64 characters")
        return units


class ItemCreate(Body):
    title: str = PydanticField(min_length=1, max_length=500)
    source: SourceIn
    regime: Regime = Regime.special
    urgency: Urgency = Urgency.normal
    supervising_leader: str = PydanticField(default="", max_length=128)
    supervisor: str = PydanticField(default="", max_length=128)
    requirements: str = PydanticField(default="", max_length=20_000)
    attachments: list[Attachment] = PydanticField(default_factory=list, max_length=50)
    tasks: list[TaskCreate] = PydanticField(min_length=1, max_length=1000)


class TasksAdd(Body):
    tasks: list[TaskCreate] = PydanticField(min_length=1, max_length=1000)


class TaskPublic(BaseModel):
    id: str
    title: str
    lead_unit: str
    co_units: list[str]
    due: datetime | None
    due_working_days: int | None
    responsible_person: str
    milestones: list[Milestone]
    reporting_cycle: str
    report_due_day: int
    status: str


class Progress(BaseModel):
    closed: int
    total: int


class ItemPublic(BaseModel):
    id: str
    number: str
    tenant: str
    title: str
    source: SourceIn
    regime: str
    urgency: str
    supervising_leader: str
    supervisor: str
    requirements: str
    attachments: list[Attachment]
    registered_at: datetime
    status: str  # open, or closed off the ledger (销号) once every task is closed
    progress: Progress
    closed_at: datetime | None
    tasks: list[TaskPublic]
    trace_id: str | None = None  # the registering request's trace (32 hex digits), if traced


OrgUnitId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=UNIT_ID_PATTERN)]
UnitName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class OrgUnitCreate(Body):
    id: OrgUnitId
    name: UnitName
    parent_id: OrgUnitId | None = None


class OrgUnitUpdate(Body):
    """A partial update: a field left out is kept; ``"parent_id": null`` moves the unit to the root."""

    name: UnitName | None = None
    parent_id: OrgUnitId | None = None

    @model_validator(mode="after")
    def _name_is_not_null(self) -> "OrgUnitUpdate":
        if "name" in self.model_fields_set and self.name is None:
            raise ValueError("name cannot be null; leave it out to keep the current name")
        return self

    @property
    def moves(self) -> bool:
        return "parent_id" in self.model_fields_set


class OrgUnitPublic(BaseModel):
    id: str
    name: str
    parent_id: str | None
    active: bool
    path: list[str]


class PersonCreate(PersonFields, Body):
    """A person as the people API takes it (the same fields the OA reports)."""


class PersonReplace(PersonCreate):
    """The whole new state of a person (PUT): a field left out takes its default. ``person_id`` may
    be left out; if given, it must be the one in the path."""

    person_id: str | None = PydanticField(default=None, min_length=1, max_length=64,
                                          pattern=UNIT_ID_PATTERN)


class PersonPublic(PersonFields):
    pass
