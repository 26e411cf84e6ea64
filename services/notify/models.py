"""notify's tables and API shapes."""

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlalchemy import JSON, Column, Index, Text
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


class PersonCopy(NotifyBase, table=True):
    """notify's copy of intake's people (person.changed): who sits where and how to reach them."""

    __tablename__ = "person_copy"
    __table_args__ = (Index("ix_person_copy_unit", "tenant", "unit_id"),)

    tenant: str = Field(primary_key=True, max_length=64)
    person_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=128)
    unit_id: str | None = Field(default=None, max_length=64)
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    email: str = Field(default="", max_length=254)
    mobile: str = Field(default="", max_length=32)
    wecom_user: str = Field(default="", max_length=64)
    dingtalk_user: str = Field(default="", max_length=64)
    feishu_user: str = Field(default="", max_length=64)
    active: bool = True


class Preference(NotifyBase, table=True):
    """A person's channels and language; without a row: in-app and e-mail, zh-CN."""

    tenant: str = Field(primary_key=True, max_length=64)
    person_id: str = Field(primary_key=True, max_length=64)
    channels: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    language: str = Field(default="zh-CN", max_length=8)


class UnitRobot(NotifyBase, table=True):
    """A unit's group robot on WeCom, DingTalk or Feishu (its webhook URL and signing secret)."""

    __tablename__ = "unit_robot"

    tenant: str = Field(primary_key=True, max_length=64)
    unit_id: str = Field(primary_key=True, max_length=64)
    channel: str = Field(primary_key=True, max_length=16)
    url: str = Field(max_length=1000)
    secret: str = Field(default="", max_length=256)


class OaWebhook(NotifyBase, table=True):
    """Where the tenant's OA wants Duban's events pushed, signed with ``secret``."""

    __tablename__ = "oa_webhook"

    tenant: str = Field(primary_key=True, max_length=64)
    url: str = Field(max_length=1000)
    secret: str = Field(max_length=256)
    types: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # prefixes; [] = all


class Template(NotifyBase, table=True):
    """An administrator's wording for one kind of notice in one language (else the default)."""

    tenant: str = Field(primary_key=True, max_length=64)
    kind: str = Field(primary_key=True, max_length=32)
    language: str = Field(primary_key=True, max_length=8)
    title: str = Field(max_length=500)
    body: str = Field(max_length=2000)
    updated_by: str = Field(max_length=128)
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class Delivery(NotifyBase, table=True):
    """One message on one channel to one recipient; sent by the dispatcher, retried with backoff,
    dead after the last attempt until the office re-sends it."""

    __table_args__ = (Index("ix_delivery_due", "status", "next_attempt_at"),
                      Index("ix_delivery_tenant", "tenant", "status", "created_at"))

    id: str = Field(primary_key=True, max_length=64)  # deterministic: one per cause, channel, recipient
    tenant: str = Field(max_length=64)
    kind: str = Field(max_length=32)
    channel: str = Field(max_length=16)
    recipient: str = Field(max_length=64)  # a person, a unit (robots) or "oa"
    address: str = Field(max_length=1000)
    title: str = Field(max_length=500)
    body: str = Field(max_length=4000)
    link: str | None = Field(default=None, max_length=1000)
    mentions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    cloudevent: str | None = Field(default=None, sa_column=Column(Text))
    cause_event_id: str = Field(max_length=128)
    task_id: str | None = Field(default=None, max_length=32)
    status: str = Field(default="pending", max_length=16)  # pending, sent, dead
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    deferred_reason: str = Field(default="", max_length=200)
    last_error: str = Field(default="", max_length=1000)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


class DeliveryAttempt(NotifyBase, table=True):
    """Every try of a delivery: when, and how it went."""

    __tablename__ = "delivery_attempt"
    __table_args__ = (Index("ix_attempt_delivery", "delivery_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: str = Field(max_length=64)
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    ok: bool
    error: str = Field(default="", max_length=1000)
    duration_ms: int = 0


class TaskCopy(NotifyBase, table=True):
    """What notify knows of a task, for the daily digest and for the supervisor's and leader's notices."""

    __tablename__ = "task_copy"
    __table_args__ = (Index("ix_task_copy_unit", "tenant", "lead_unit", "open"),)

    task_id: str = Field(primary_key=True, max_length=32)
    tenant: str = Field(max_length=64)
    item_id: str = Field(max_length=32)
    item_number: str = Field(default="", max_length=32)
    title: str = Field(max_length=500)
    lead_unit: str = Field(max_length=64)
    due: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    open: bool = True
    supervisor: str = Field(default="", max_length=128)
    leader: str = Field(default="", max_length=128)


class ItemLeader(NotifyBase, table=True):
    """An item's supervising leader and supervisor (item.registered), for its tasks' notices."""

    __tablename__ = "item_leader"

    item_id: str = Field(primary_key=True, max_length=32)
    leader: str = Field(default="", max_length=128)
    supervisor: str = Field(default="", max_length=128)


class CalendarYearCopy(NotifyBase, table=True):
    """A year of the official calendar as tracking's administrator loaded it (calendar.changed)."""

    __tablename__ = "calendar_year_copy"

    year: int = Field(primary_key=True)
    holidays: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    workdays: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class DigestSent(NotifyBase, table=True):
    """A unit head's daily digest was made for the day (the claim that makes it once)."""

    __tablename__ = "digest_sent"

    tenant: str = Field(primary_key=True, max_length=64)
    person_id: str = Field(primary_key=True, max_length=64)
    day: date = Field(primary_key=True)


# ---- API shapes ---------------------------------------------------------------------------------

class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReadRequest(Body):
    ids: list[int] | None = PydanticField(default=None, max_length=1000)  # None: every notice


class TemplateBody(Body):
    title: str = PydanticField(min_length=1, max_length=500)
    body: str = PydanticField(min_length=1, max_length=2000)


class TemplatePublic(BaseModel):
    kind: str
    language: str
    title: str
    body: str
    customised: bool  # False: Duban's default wording


class PreferenceBody(Body):
    channels: list[Literal["email", "sms"]] = PydanticField(max_length=2)  # the in-app inbox always
    language: Literal["zh-CN", "en"] = "zh-CN"


class PreferencePublic(PreferenceBody):
    person_id: str
    default: bool


class RobotBody(Body):
    url: str = PydanticField(min_length=1, max_length=1000, pattern=r"^https?://")
    secret: str = PydanticField(default="", max_length=256)  # DingTalk / Feishu signing secret


class RobotPublic(BaseModel):
    unit: str
    channel: str
    host: str  # the URL carries the robot's access token: only its host is shown
    signed: bool


class OaWebhookBody(Body):
    url: str = PydanticField(min_length=1, max_length=1000, pattern=r"^https?://")
    secret: str = PydanticField(min_length=16, max_length=256)
    types: list[str] = PydanticField(default_factory=list, max_length=100)  # type prefixes; none: all


class OaWebhookPublic(BaseModel):
    url: str
    types: list[str]


class AttemptPublic(BaseModel):
    at: datetime
    ok: bool
    error: str
    duration_ms: int


class DeliveryPublic(BaseModel):
    id: str
    kind: str
    channel: str
    recipient: str
    address: str
    title: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    deferred_reason: str
    last_error: str
    cause_event_id: str
    task_id: str | None
    created_at: datetime
    sent_at: datetime | None


class DeliveryDetail(DeliveryPublic):
    body: str
    link: str | None
    history: list[AttemptPublic]
