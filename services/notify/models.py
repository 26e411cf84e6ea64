"""notify's tables and API shapes."""

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import Column, Index
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from shared.db import UTCDateTime
from shared.org_copy import OrgUnitFields, path_index


class NotifyBase(SQLModel, registry=registry()):
    pass


class Notice(NotifyBase, table=True):
    """An in-app notice in a recipient's (unit's or person's) inbox."""

    __table_args__ = (Index("ix_notice_inbox", "tenant", "recipient", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant: str = Field(max_length=64)
    recipient: str = Field(max_length=64)
    kind: str = Field(max_length=32)
    task_id: str | None = Field(default=None, max_length=32)
    title: str = Field(max_length=500)
    body: str = Field(max_length=2000)
    cause_event_id: str = Field(max_length=128)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    read_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


class NoticePublic(BaseModel):
    id: int
    recipient: str
    kind: str
    task_id: str | None
    title: str
    body: str
    cause_event_id: str
    created_at: datetime
    read: bool


class OrgUnitCopy(OrgUnitFields, NotifyBase, table=True):
    """notify's copy of intake's org tree (for recipients)."""

    __tablename__ = "org_unit_copy"
    __table_args__ = (path_index("org_unit_copy"),)
