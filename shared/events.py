"""The event contracts: a CloudEvents 1.0 envelope and the data of each event type.

On the wire an event is the envelope in CloudEvents structured JSON, published on the NATS subject
equal to its type, with ``Nats-Msg-Id`` set to the event id and the W3C trace context in headers.
"""

import uuid
from datetime import UTC, date, datetime
from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

SPEC_VERSION = "1.0"


def new_id() -> str:
    return uuid.uuid4().hex


class Envelope(BaseModel):
    """CloudEvents 1.0 attributes plus the tenant (extension attribute)."""

    model_config = ConfigDict(extra="ignore")

    specversion: Literal["1.0"] = SPEC_VERSION
    id: str = Field(min_length=1, max_length=128)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    time: AwareDatetime
    subject: str | None = None
    datacontenttype: str = "application/json"
    tenant: str = Field(min_length=1)
    data: dict[str, Any]

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


class EventData(BaseModel):
    """Base of every event's data. ``TYPE`` is the CloudEvents type and the NATS subject."""

    model_config = ConfigDict(extra="ignore")

    TYPE: ClassVar[str]
    SUMMARY: ClassVar[str]

    def entity_id(self) -> str | None:
        return None


def envelope(
    data: EventData, *, source: str, tenant: str, time: datetime | None = None, id: str | None = None
) -> Envelope:
    """Wrap ``data``; pass a deterministic ``id`` when the same fact may be produced twice."""
    return Envelope(
        id=id or new_id(),
        source=source,
        type=data.TYPE,
        time=time or datetime.now(UTC),
        subject=data.entity_id(),
        tenant=tenant,
        data=data.model_dump(mode="json"),
    )


class TaskEvent(EventData):
    """An event about one task: its id, item, title and lead unit travel with every one."""

    task_id: str
    item_id: str
    title: str
    lead_unit: str

    def entity_id(self) -> str:
        return self.task_id


# ---- intake ---------------------------------------------------------------------------------


class SourceRef(BaseModel):
    kind: str
    ref: str = ""


class MilestoneRef(BaseModel):
    title: str
    due: AwareDatetime


class ItemRegistered(EventData):
    TYPE: ClassVar[str] = "duban.intake.item.registered.v1"
    SUMMARY: ClassVar[str] = "A supervised item was registered (立项) with its tasks."

    item_id: str
    number: str = ""
    title: str
    source: SourceRef
    regime: str = "special"
    urgency: str = "normal"
    supervising_leader: str = ""
    supervisor: str = ""
    task_ids: list[str]

    def entity_id(self) -> str:
        return self.item_id


class TaskAssigned(TaskEvent):
    TYPE: ClassVar[str] = "duban.intake.task.assigned.v1"
    SUMMARY: ClassVar[str] = "A task of an item was assigned (交办) to its lead unit with a deadline."

    co_units: list[str] = []
    responsible_person: str = ""
    due: AwareDatetime | None = None  # None: tracking computes it from due_working_days
    due_working_days: int | None = None
    milestones: list[MilestoneRef] = []
    reporting_cycle: str = "none"
    report_due_day: int = 2
    # The item's attributes, so each consumer can file the task without asking intake.
    item_number: str = ""
    source_kind: str = ""
    regime: str = ""
    urgency: str = ""
    supervisor: str = ""



class OrgUnitChanged(EventData):
    TYPE: ClassVar[str] = "duban.intake.org_unit.changed.v1"
    SUMMARY: ClassVar[str] = (
        "An org unit was created, renamed, moved, deactivated or reactivated; carries the unit's "
        "whole state after the change, so a copy can upsert from any single event."
    )

    change: Literal["created", "renamed", "moved", "deactivated", "reactivated"]
    unit_id: str
    name: str
    parent_id: str | None = None
    active: bool
    path: list[str]  # unit ids from the root down to this unit, inclusive

    def entity_id(self) -> str:
        return self.unit_id

UNIT_ID_PATTERN = r"^[\w.\-]+$"


class OaOrgUnitUpdated(EventData):
    TYPE: ClassVar[str] = "duban.oa.org_unit.updated.v1"
    SUMMARY: ClassVar[str] = (
        "Published by the OA: a unit's current state in the OA's org chart. intake creates, "
        "renames, moves, deactivates or reactivates its unit to match (org_unit.changed follows)."
    )

    unit_id: str = Field(min_length=1, max_length=64, pattern=UNIT_ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    parent_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=UNIT_ID_PATTERN)
    active: bool = True

    def entity_id(self) -> str:
        return self.unit_id


PersonRole = Literal["head", "handler", "leader", "supervisor"]


class PersonFields(BaseModel):
    """A person of the org chart as notify needs them: where they sit, what they are, how to reach them."""

    person_id: str = Field(min_length=1, max_length=64, pattern=UNIT_ID_PATTERN)
    name: str = Field(min_length=1, max_length=128)
    unit_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=UNIT_ID_PATTERN)
    roles: list[PersonRole] = Field(default_factory=list)  # head: 负责人, handler: 经办人, leader, supervisor
    email: str = Field(default="", max_length=254)
    mobile: str = Field(default="", max_length=32)
    wecom_user: str = Field(default="", max_length=64)  # ids in the messengers, for @-mentions
    dingtalk_user: str = Field(default="", max_length=64)
    feishu_user: str = Field(default="", max_length=64)
    active: bool = True


class OaPersonUpdated(PersonFields, EventData):
    TYPE: ClassVar[str] = "duban.oa.person.updated.v1"
    SUMMARY: ClassVar[str] = (
        "Published by the OA: a person's current state in the OA's org chart (unit, roles, contacts). "
        "intake records it (person.changed follows)."
    )

    def entity_id(self) -> str:
        return self.person_id


class PersonChanged(PersonFields, EventData):
    TYPE: ClassVar[str] = "duban.intake.person.changed.v1"
    SUMMARY: ClassVar[str] = (
        "A person was created, changed or deactivated; carries the person's whole state after the "
        "change, so a copy can upsert from any single event."
    )

    change: Literal["created", "updated", "deactivated", "reactivated"]

    def entity_id(self) -> str:
        return self.person_id


class OaTask(BaseModel):
    lead_unit: str = Field(min_length=1, max_length=64, pattern=UNIT_ID_PATTERN)
    co_units: list[str] = Field(default_factory=list, max_length=50)
    title: str | None = Field(default=None, min_length=1, max_length=500)
    responsible_person: str = Field(default="", max_length=128)
    due: AwareDatetime | None = None  # either a time or N working days
    due_working_days: int | None = Field(default=None, ge=1, le=366)


class OaInstructionIssued(EventData):
    TYPE: ClassVar[str] = "duban.oa.instruction.issued.v1"
    SUMMARY: ClassVar[str] = (
        "Published by the OA: a leader's instruction (领导批示) handed to supervision. intake registers "
        "it as an item (source leader_instruction) with its tasks; one item per instruction_id."
    )

    instruction_id: str = Field(min_length=1, max_length=128)  # the OA's own id (e.g. 批示文号)
    title: str = Field(min_length=1, max_length=500)
    leader: str = Field(default="", max_length=128)  # the instructing / supervising leader
    supervisor: str = Field(default="", max_length=128)
    requirements: str = Field(default="", max_length=20_000)
    urgency: Literal["extra_urgent", "urgent", "normal"] = "normal"
    tasks: list[OaTask] = Field(min_length=1, max_length=1000)

    def entity_id(self) -> str:
        return self.instruction_id


class ItemClosed(EventData):
    TYPE: ClassVar[str] = "duban.intake.item.closed.v1"
    SUMMARY: ClassVar[str] = "Every task of an item is closed: the item is closed off the ledger (销号)."

    item_id: str
    number: str
    title: str
    closed_at: AwareDatetime
    tasks_total: int

    def entity_id(self) -> str:
        return self.item_id


# ---- tracking -------------------------------------------------------------------------------


class TaskOverdue(TaskEvent):
    TYPE: ClassVar[str] = "duban.tracking.task.overdue.v1"
    SUMMARY: ClassVar[str] = "A task's deadline passed without completion (emitted once per task)."

    due: AwareDatetime
    overdue_at: AwareDatetime
    co_units: list[str] = Field(default_factory=list)


class TaskStatusChanged(TaskEvent):
    TYPE: ClassVar[str] = "duban.tracking.task.status_changed.v1"
    SUMMARY: ClassVar[str] = (
        "A task moved in its lifecycle (sign, progress, submit, accept, return, reverify, cancel, "
        "suspend, resume), with who did it and why."
    )

    action: str
    from_status: str
    to_status: str
    actor: str
    comment: str = ""
    at: AwareDatetime
    due: AwareDatetime
    co_units: list[str] = Field(default_factory=list)
    working_days_late: int = 0  # on acceptance after the deadline: working days past it


class TaskExtensionRequested(TaskEvent):
    TYPE: ClassVar[str] = "duban.tracking.task.extension_requested.v1"
    SUMMARY: ClassVar[str] = "A unit asked for more time (延期申请); the task's clock pauses."

    due: AwareDatetime
    new_due: AwareDatetime
    reason: str
    actor: str


class TaskExtensionDecided(TaskEvent):
    TYPE: ClassVar[str] = "duban.tracking.task.extension_decided.v1"
    SUMMARY: ClassVar[str] = "The office granted or refused an extension; `due` is the deadline now."

    granted: bool
    previous_due: AwareDatetime
    due: AwareDatetime
    actor: str
    comment: str = ""


class TaskReminded(TaskEvent):
    TYPE: ClassVar[str] = "duban.tracking.task.reminded.v1"
    SUMMARY: ClassVar[str] = (
        "A reminder (催办) for a task: automatic on the reminder schedule (once per scheduled time, "
        "whatever the number of replicas) or manual by the office."
    )

    due: AwareDatetime
    kind: Literal["auto", "manual"]
    scheduled_at: AwareDatetime
    overdue: bool
    actor: str = "system"
    comment: str = ""


class TaskDeadlineChanged(TaskEvent):
    TYPE: ClassVar[str] = "duban.tracking.task.deadline_changed.v1"
    SUMMARY: ClassVar[str] = (
        "A task's deadline given in working days was counted: first when tracking takes the task "
        "(`previous_due` null), then again e.g. on a newly loaded calendar year; `due` is the "
        "deadline now."
    )

    previous_due: AwareDatetime | None = None
    due: AwareDatetime
    reason: str


class CalendarChanged(EventData):
    TYPE: ClassVar[str] = "duban.tracking.calendar.changed.v1"
    SUMMARY: ClassVar[str] = (
        "An administrator loaded a year's official calendar (holidays and 调休 working days); "
        "open deadlines in working days were counted again."
    )

    year: int
    holiday_count: int
    workday_count: int
    actor: str
    holidays: list[date] = Field(default_factory=list)  # the year's days, so others can keep a copy
    workdays: list[date] = Field(default_factory=list)

    def entity_id(self) -> str:
        return str(self.year)


class TaskProgressReported(TaskEvent):
    TYPE: ClassVar[str] = "duban.tracking.task.progress_reported.v1"
    SUMMARY: ClassVar[str] = (
        "A unit reported progress on a task for a period of its reporting cycle, with text and "
        "evidence files (by SHA-256); a co-unit's report is its part of the lead unit's."
    )

    unit: str
    period: str | None  # None: the task has no reporting cycle
    text: str  # at most 2000 characters
    evidence: list[str]
    at: AwareDatetime
    actor: str


class TaskReportMissed(TaskEvent):
    TYPE: ClassVar[str] = "duban.tracking.task.report_missed.v1"
    SUMMARY: ClassVar[str] = (
        "A period's progress report fell due without the lead unit's report (once per task and "
        "period, whatever the number of replicas)."
    )

    period: str
    report_due: AwareDatetime


class TaskApproaching(TaskEvent):
    TYPE: ClassVar[str] = "duban.tracking.task.approaching.v1"
    SUMMARY: ClassVar[str] = "A task's light turned yellow: its deadline is near (once per deadline)."

    due: AwareDatetime


class TaskStagnant(TaskEvent):
    TYPE: ClassVar[str] = "duban.tracking.task.stagnant.v1"
    SUMMARY: ClassVar[str] = (
        "A task had no report or change for the configured number of working days (once per spell)."
    )

    due: AwareDatetime
    last_activity_at: AwareDatetime
    idle_working_days: int


class TaskDispatched(EventData):
    TYPE: ClassVar[str] = "duban.tracking.task.dispatched.v1"
    SUMMARY: ClassVar[str] = (
        "A unit re-dispatched part of its task to one of its own sub-units: a sub-task was created."
    )

    task_id: str
    parent_task_id: str
    item_id: str
    title: str
    lead_unit: str
    dispatched_by: str
    due: AwareDatetime
    actor: str
    comment: str = ""

    def entity_id(self) -> str:
        return self.task_id


class TaskMilestoneReached(TaskEvent):
    TYPE: ClassVar[str] = "duban.tracking.task.milestone_reached.v1"
    SUMMARY: ClassVar[str] = "A unit reached one of its task's milestones (时间节点)."

    position: int
    milestone: str
    due: AwareDatetime
    at: AwareDatetime
    actor: str
    comment: str = ""


class TaskMilestoneMissed(TaskEvent):
    TYPE: ClassVar[str] = "duban.tracking.task.milestone_missed.v1"
    SUMMARY: ClassVar[str] = "A milestone's date passed before the unit reached it (once per milestone)."

    position: int
    milestone: str
    due: AwareDatetime


# ---- scoring --------------------------------------------------------------------------------
# The office's acts in scoring are events too, so replaying the streams rebuilds scoring exactly.


class BulletinIssued(EventData):
    TYPE: ClassVar[str] = "duban.scoring.bulletin.issued.v1"
    SUMMARY: ClassVar[str] = "The office issued a commendation or criticism (通报) naming units and persons."

    bulletin_id: str
    kind: Literal["commendation", "criticism"]
    issuer: Literal["committee", "office"]
    units: list[str]
    persons: list[str] = Field(default_factory=list)
    reason: str
    item_ids: list[str] = Field(default_factory=list)
    issued_by: str

    def entity_id(self) -> str:
        return self.bulletin_id


class AppealFiled(EventData):
    TYPE: ClassVar[str] = "duban.scoring.appeal.filed.v1"
    SUMMARY: ClassVar[str] = "A unit contests a ledger entry with a reason."

    appeal_id: str
    entry_key: str
    unit: str
    reason: str
    filed_by: str

    def entity_id(self) -> str:
        return self.appeal_id


class AppealDecided(EventData):
    TYPE: ClassVar[str] = "duban.scoring.appeal.decided.v1"
    SUMMARY: ClassVar[str] = (
        "The office upheld a contested entry or reversed it (a compensating entry, never an edit)."
    )

    appeal_id: str
    decision: Literal["uphold", "reverse"]
    comment: str = ""
    decided_by: str

    def entity_id(self) -> str:
        return self.appeal_id


class RuleSetPublished(EventData):
    TYPE: ClassVar[str] = "duban.scoring.rule_set.published.v1"
    SUMMARY: ClassVar[str] = "An administrator published a version of the tenant's scoring rules."

    version: str
    rules: dict[str, Any]
    published_by: str


class RuleSetSwitched(EventData):
    TYPE: ClassVar[str] = "duban.scoring.rule_set.switched.v1"
    SUMMARY: ClassVar[str] = "From a period on, the tenant's facts are scored by another rule set version."

    version: str
    from_period: str
    switched_by: str


class PeriodClosed(EventData):
    TYPE: ClassVar[str] = "duban.scoring.period.closed.v1"
    SUMMARY: ClassVar[str] = "The office closed (froze) an assessment period; its report is kept."

    period: str
    closed_by: str


class ActionTriggered(EventData):
    TYPE: ClassVar[str] = "duban.scoring.action.triggered.v1"
    SUMMARY: ClassVar[str] = (
        "A threshold was crossed (e.g. a second criticism in a year → 诫勉谈话; a third → the unit "
        "loses award eligibility; overdue tasks → 通报 / 函询 / 约谈); once per unit, year and kind."
    )

    unit: str
    kind: str
    year: int
    persons: list[str] = Field(default_factory=list)
    reason: str
    cause_event_id: str
    # set when the rule set calls for a follow-up: intake opens an item for the unit, due in N working days
    follow_up_working_days: int | None = None

    def entity_id(self) -> str:
        return self.unit


def _event_types(base: type[EventData]):
    for cls in base.__subclasses__():
        if "TYPE" in cls.__dict__:
            yield cls
        yield from _event_types(cls)


# Every event type defined above, by type (define new ones above this line).
CATALOGUE: dict[str, type[EventData]] = {cls.TYPE: cls for cls in _event_types(EventData)}
