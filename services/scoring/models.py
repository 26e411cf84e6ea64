"""scoring's tables and API shapes."""

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import Column
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from shared.db import UTCDateTime
from shared.org_copy import OrgUnitFields, path_index


class ScoringBase(SQLModel, registry=registry()):
    pass


class UnitCounts(ScoringBase, table=True):
    __tablename__ = "unit_counts"

    tenant: str = Field(primary_key=True, max_length=64)
    unit: str = Field(primary_key=True, max_length=64)
    assigned: int = 0
    overdue: int = 0


class LedgerEntry(ScoringBase, table=True):
    """One line of the point ledger; never edited, only added to."""

    __tablename__ = "ledger_entry"

    id: int | None = Field(default=None, primary_key=True)
    tenant: str = Field(max_length=64)
    unit: str = Field(index=True, max_length=64)
    points: int
    rule: str = Field(max_length=64)
    reason: str = Field(max_length=500)
    task_id: str | None = Field(default=None, max_length=32)
    cause_event_id: str = Field(max_length=128)
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class EntryPublic(BaseModel):
    points: int
    rule: str
    reason: str
    task_id: str | None
    cause_event_id: str
    recorded_at: datetime


class ScorePublic(BaseModel):
    unit: str
    assigned: int
    overdue: int
    total: int
    entries: list[EntryPublic]


class OrgUnitCopy(OrgUnitFields, ScoringBase, table=True):
    """scoring's copy of intake's org tree (for rankings within a parent unit)."""

    __tablename__ = "org_unit_copy"
    __table_args__ = (path_index("org_unit_copy"),)
