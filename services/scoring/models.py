"""scoring's tables and API shapes.

Every row is a fact taken from an event (other services' or scoring's own: bulletins, appeals, rule
sets, period closes), keyed by something the event carries, so replaying the streams into an empty
store rebuilds the same rows. Scores, actions, rates and ranks are computed from them when asked.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field as PydanticField, PlainSerializer
from sqlalchemy import JSON, Column, Index, Text
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from shared.db import UTCDateTime
from shared.org_copy import OrgUnitFields, path_index


class ScoringBase(SQLModel, registry=registry()):
    pass


class LedgerEntry(ScoringBase, table=True):
    """One line of the point ledger; never edited, only added to (a reversal is a new line)."""

    __tablename__ = "ledger_entry"
    __table_args__ = (
        # a unit's lines in time order, and (with the period's) all a ranking sums, read from
        # the indexes alone: some units' lines of a period, or every unit's
        Index("ix_ledger_entry_unit", "tenant", "unit", "at", "rule", "centipoints"),
        Index("ix_ledger_entry_period", "tenant", "at", "unit", "rule", "centipoints"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # "<cause event id>:<unit>:<rule>": the same fact applied twice is one entry.
    key: str = Field(max_length=300, unique=True)
    tenant: str = Field(max_length=64)
    unit: str = Field(max_length=64)
    centipoints: int  # points × 100: exact on every database
    rule: str = Field(max_length=64)
    rule_set_version: str = Field(max_length=64)
    reason: str = Field(max_length=500)
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))  # the fact's time: its period
    cause_event_id: str = Field(max_length=128)
    cause_event_type: str = Field(max_length=128)
    item_id: str | None = Field(default=None, max_length=32)
    task_id: str | None = Field(default=None, index=True, max_length=32)
    persons: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))

    @property
    def points(self) -> Decimal:
        return Decimal(self.centipoints) / 100


_RATED = ("urgency", "accepted_at", "submissions", "returns", "reverifications")


class TaskOutcome(ScoringBase, table=True):
    """What the rates need of a task: who leads it, its deadline, how its review went."""

    __tablename__ = "task_outcome"
    __table_args__ = (
        # the tasks due in a period with all the rates count, read from the indexes alone: some
        # units' tasks, or every unit's
        Index("ix_task_outcome_unit_due", "tenant", "lead_unit", "due", *_RATED),
        Index("ix_task_outcome_period", "tenant", "due", "lead_unit", *_RATED),
    )

    task_id: str = Field(primary_key=True, max_length=32)
    tenant: str = Field(max_length=64)
    item_id: str = Field(default="", max_length=32)
    lead_unit: str = Field(default="", max_length=64)
    urgency: str = Field(default="normal", max_length=16)  # weighs in the unit's workload
    due: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    due_as_of: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))  # latest wins
    accepted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    submissions: int = 0
    returns: int = 0
    reverifications: int = 0


class Bulletin(ScoringBase, table=True):
    """A commendation or criticism (通报) the office issued."""

    __tablename__ = "bulletin"

    id: str = Field(primary_key=True, max_length=128)  # the issuing event's id
    tenant: str = Field(max_length=64, index=True)
    kind: str = Field(max_length=16)
    issuer: str = Field(max_length=16)
    units: list[str] = Field(sa_column=Column(JSON, nullable=False))
    persons: list[str] = Field(sa_column=Column(JSON, nullable=False))
    reason: str = Field(max_length=2000)
    item_ids: list[str] = Field(sa_column=Column(JSON, nullable=False))
    issued_by: str = Field(max_length=128)
    issued_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class Appeal(ScoringBase, table=True):
    __tablename__ = "appeal"

    id: str = Field(primary_key=True, max_length=128)  # the filing event's id
    tenant: str = Field(max_length=64, index=True)
    entry_key: str = Field(max_length=300)
    unit: str = Field(max_length=64)
    reason: str = Field(max_length=2000)
    filed_by: str = Field(max_length=128)
    filed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    status: str = Field(default="pending", max_length=16)  # pending, upheld, reversed
    decided_by: str | None = Field(default=None, max_length=128)
    decided_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    comment: str = Field(default="", max_length=2000)


class RuleSetVersion(ScoringBase, table=True):
    __tablename__ = "rule_set_version"

    tenant: str = Field(primary_key=True, max_length=64)
    version: str = Field(primary_key=True, max_length=64)
    body: str = Field(sa_column=Column(Text, nullable=False))  # the validated rule set, as JSON
    published_by: str = Field(max_length=128)
    published_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class RuleSetSwitch(ScoringBase, table=True):
    """From ``starts`` on (a period's first day), the tenant's facts are scored by ``version``."""

    __tablename__ = "rule_set_switch"

    tenant: str = Field(primary_key=True, max_length=64)
    starts: date = Field(primary_key=True)
    version: str = Field(max_length=64)
    switched_by: str = Field(max_length=128)


class PeriodClose(ScoringBase, table=True):
    """A closed (frozen) period and the report kept when it closed."""

    __tablename__ = "period_close"

    tenant: str = Field(primary_key=True, max_length=64)
    period: str = Field(primary_key=True, max_length=16)
    closed_by: str = Field(max_length=128)
    closed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    report: dict = Field(sa_column=Column(JSON, nullable=False))


class ActionSent(ScoringBase, table=True):
    """A triggered action already announced on the bus (so it is announced once)."""

    __tablename__ = "action_sent"

    tenant: str = Field(primary_key=True, max_length=64)
    unit: str = Field(primary_key=True, max_length=64)
    year: int = Field(primary_key=True)
    kind: str = Field(primary_key=True, max_length=32)


class OrgUnitCopy(OrgUnitFields, ScoringBase, table=True):
    """scoring's copy of intake's org tree (rankings within a parent unit, scopes)."""

    __tablename__ = "org_unit_copy"
    __table_args__ = (path_index("org_unit_copy"),)


# ---- API shapes -------------------------------------------------------------------------------

# Points and rates are exact decimals inside; JSON gets plain numbers (99, -2.5, 0.6250).
Number = Annotated[Decimal, PlainSerializer(lambda d: int(d) if d == d.to_integral_value() else float(d),
                                            return_type=int | float, when_used="json")]

class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


UnitId = PydanticField(min_length=1, max_length=64)


class BulletinCreate(Body):
    kind: Literal["commendation", "criticism"]
    issuer: Literal["committee", "office"]
    units: list[str] = PydanticField(min_length=1, max_length=200)
    persons: list[str] = PydanticField(default_factory=list, max_length=200)
    reason: str = PydanticField(min_length=1, max_length=2000)
    item_ids: list[str] = PydanticField(default_factory=list, max_length=200)


class BulletinPublic(BaseModel):
    id: str
    kind: str
    issuer: str
    units: list[str]
    persons: list[str]
    reason: str
    item_ids: list[str]
    issued_by: str
    issued_at: datetime


class AppealCreate(Body):
    entry_id: int
    reason: str = PydanticField(min_length=1, max_length=2000)


class AppealDecision(Body):
    decision: Literal["uphold", "reverse"]  # uphold the entry, or reverse it (the unit was right)
    comment: str = PydanticField(default="", max_length=2000)


class AppealPublic(BaseModel):
    id: str
    entry_id: int | None
    unit: str
    reason: str
    filed_by: str
    filed_at: datetime
    status: str
    decided_by: str | None
    decided_at: datetime | None
    comment: str


class EntryPublic(BaseModel):
    id: int
    unit: str
    points: Number
    rule: str
    rule_set_version: str
    reason: str
    at: datetime
    cause_event_id: str
    cause_event_type: str
    item_id: str | None
    task_id: str | None
    persons: list[str]
    links: dict[str, str]  # where the item and task are (intake's and tracking's APIs)


class ActionPublic(BaseModel):
    kind: str
    year: int
    at: datetime
    persons: list[str]
    reason: str
    cause_event_id: str


class RatesPublic(BaseModel):
    tasks_due: int
    completed: int
    completed_on_time: int
    completion_rate: Number | None
    on_time_rate: Number | None
    return_rate: Number | None
    reverification_rate: Number | None
    overdue_count: int
    missed_report_count: int


class ScorePublic(BaseModel):
    unit: str
    period: str
    closed: bool
    base: Number
    points: Number
    total: Number
    award_eligible: bool
    actions: list[ActionPublic]
    rates: RatesPublic
    entries: list[EntryPublic]


class StandingPublic(BaseModel):
    rank: int
    unit: str
    name: str | None = None  # from scoring's copy of the org tree, if it knows the unit
    total: Number
    score: Number  # what it is ranked by: the total, or normalised by workload
    workload: Number  # the tasks it leads due in the period, each weighed by its urgency
    rates: RatesPublic


class RankingPublic(BaseModel):
    period: str
    under: str | None
    normalised: bool
    units: list[StandingPublic]


class RuleSetPublic(BaseModel):
    version: str
    name: str
    published_by: str
    published_at: datetime
    rules: dict


class RuleSetSwitchRequest(Body):
    version: str = PydanticField(min_length=1, max_length=64)
    from_period: str = PydanticField(min_length=4, max_length=16)  # scored by it from this period on
