"""intake's tables (its own database) and the API's Create/Public shapes."""

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, Field as PydanticField, field_validator
from sqlalchemy import JSON, Column, UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from shared.db import UTCDateTime


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


# ---- tables ---------------------------------------------------------------------------------


class Item(IntakeBase, table=True):
    __table_args__ = (UniqueConstraint("tenant", "number"),)

    id: str = Field(primary_key=True, max_length=32)
    tenant: str = Field(index=True, max_length=64)
    number: str = Field(max_length=32)  # DB-2026-0001: per tenant and year
    title: str = Field(max_length=500)
    source_kind: str = Field(max_length=32)
    source_ref: str = Field(default="", max_length=500)
    registered_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


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
    due: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


# ---- API shapes -----------------------------------------------------------------------------

UnitId = PydanticField(min_length=1, max_length=64, pattern=r"^[\w.\-]+$")


class SourceIn(BaseModel):
    kind: SourceKind
    ref: str = PydanticField(default="", max_length=500)


class TaskCreate(BaseModel):
    lead_unit: str = UnitId
    co_units: list[str] = PydanticField(default_factory=list, max_length=50)
    title: str | None = PydanticField(default=None, min_length=1, max_length=500)
    due: AwareDatetime

    @field_validator("co_units")
    @classmethod
    def _co_units_are_unit_ids(cls, units: list[str]) -> list[str]:
        for unit in units:
            if not unit or len(unit) > 64:
                raise ValueError("each co-unit must be a unit id of 1 to 64 characters")
        return units


class ItemCreate(BaseModel):
    title: str = PydanticField(min_length=1, max_length=500)
    source: SourceIn
    tasks: list[TaskCreate] = PydanticField(min_length=1, max_length=1000)


class TaskPublic(BaseModel):
    id: str
    title: str
    lead_unit: str
    co_units: list[str]
    due: datetime


class ItemPublic(BaseModel):
    id: str
    number: str
    tenant: str
    title: str
    source: SourceIn
    registered_at: datetime
    tasks: list[TaskPublic]
