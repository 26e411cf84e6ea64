"""tracking's tables (its own copy of each assigned task) and API shapes."""

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import JSON, Column, Index
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from shared.db import UTCDateTime


class TrackingBase(SQLModel, registry=registry()):
    pass


class TrackedTask(TrackingBase, table=True):
    __tablename__ = "tracked_task"
    # The deadline scanner's query: open tasks not yet flagged, by deadline.
    __table_args__ = (Index("ix_tracked_task_pending_deadline", "overdue_at", "due"),)

    id: str = Field(primary_key=True, max_length=32)
    tenant: str = Field(max_length=64)
    item_id: str = Field(index=True, max_length=32)
    title: str = Field(max_length=500)
    lead_unit: str = Field(index=True, max_length=64)
    co_units: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    due: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    status: str = Field(default="assigned", max_length=16)
    assigned_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    overdue_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


class TaskPublic(BaseModel):
    id: str
    item_id: str
    title: str
    lead_unit: str
    co_units: list[str]
    due: datetime
    status: str
    overdue: bool
    overdue_at: datetime | None
    assigned_at: datetime
