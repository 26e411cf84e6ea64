"""intake's rules, as pure functions."""

import hashlib
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from services.intake.models import (
    Item, ItemCreate, OrgUnit, OrgUnitCreate, Person, Regime, SourceIn, SourceKind, Task, TaskCreate,
    Urgency,
)
from shared.events import (
    ActionTriggered, EventData, ItemRegistered, OaInstructionIssued, OrgUnitChanged, PersonChanged,
    PersonFields, SourceRef, TaskAssigned,
)

OFFICE_ZONE = ZoneInfo("Asia/Shanghai")


def new_id() -> str:
    return uuid.uuid4().hex


def _error(loc: list, msg: str, kind: str, value: datetime) -> dict:
    return {"loc": loc, "msg": msg, "type": f"value_error.{kind}", "input": value.isoformat()}


def deadline_errors(tasks: list[TaskCreate], now: datetime) -> list[dict]:
    """Deadlines lie ahead of the service clock, milestones not after their task's deadline;
    errors in FastAPI's 422 shape."""
    errors = []
    for i, task in enumerate(tasks):
        loc = ["body", "tasks", i]
        if task.due is not None and task.due <= now:
            errors.append(_error([*loc, "due"], f"deadline {task.due.isoformat()} is not after now "
                                 f"({now.isoformat()})", "due_in_past", task.due))
        for j, milestone in enumerate(task.milestones):
            if milestone.due <= now:
                errors.append(_error([*loc, "milestones", j, "due"], "milestone is not after now",
                                     "due_in_past", milestone.due))
            elif task.due is not None and milestone.due > task.due:
                errors.append(_error([*loc, "milestones", j, "due"],
                                     "milestone is after the task's deadline", "after_task_due",
                                     milestone.due))
    return errors


def item_number(year: int, sequence: int) -> str:
    """督办 numbers as offices write them: DB-2026-0001 (more digits past 9999)."""
    return f"DB-{year}-{sequence:04d}"


def numbering_year(now: datetime) -> int:
    """Numbers restart each year of the office's calendar (Beijing time)."""
    return now.astimezone(OFFICE_ZONE).year


def request_fingerprint(cmd: ItemCreate) -> str:
    return hashlib.sha256(cmd.model_dump_json().encode()).hexdigest()


def plan_item(
    cmd: ItemCreate, *, tenant: str, number: str, now: datetime
) -> tuple[Item, list[Task]]:
    item = Item(
        id=new_id(),
        tenant=tenant,
        number=number,
        title=cmd.title,
        source_kind=cmd.source.kind.value,
        source_ref=cmd.source.ref,
        regime=cmd.regime.value,
        urgency=cmd.urgency.value,
        supervising_leader=cmd.supervising_leader,
        supervisor=cmd.supervisor,
        requirements=cmd.requirements,
        attachments=[a.model_dump() for a in cmd.attachments],
        registered_at=now,
    )
    return item, plan_tasks(item, cmd.tasks, first_position=0)


def plan_tasks(item: Item, specs: list[TaskCreate], *, first_position: int) -> list[Task]:
    return [
        Task(
            id=new_id(),
            item_id=item.id,
            position=first_position + offset,
            tenant=item.tenant,
            title=t.title or item.title,
            lead_unit=t.lead_unit,
            co_units=list(dict.fromkeys(u for u in t.co_units if u != t.lead_unit)),
            responsible_person=t.responsible_person,
            due=t.due.astimezone(UTC) if t.due else None,
            due_working_days=t.due_working_days,
            milestones=[m.model_dump(mode="json") for m in t.milestones],
            reporting_cycle=t.reporting_cycle.value,
            report_due_day=t.report_due_day,
        )
        for offset, t in enumerate(specs)
    ]


CLOSED_TASK_STATUSES = frozenset({"accepted", "cancelled"})


def progress(task_statuses: list[str]) -> tuple[int, int]:
    """("3 of 5 closed") as (closed, total)."""
    return sum(s in CLOSED_TASK_STATUSES for s in task_statuses), len(task_statuses)


def closes_item(task_statuses: list[str]) -> bool:
    """销号: an item leaves the ledger when every one of its tasks is closed."""
    closed, total = progress(task_statuses)
    return total > 0 and closed == total


def registration_events(item: Item, tasks: list[Task]) -> list[EventData]:
    registered = ItemRegistered(
        item_id=item.id,
        number=item.number,
        title=item.title,
        source=SourceRef(kind=item.source_kind, ref=item.source_ref),
        regime=item.regime,
        urgency=item.urgency,
        supervising_leader=item.supervising_leader,
        supervisor=item.supervisor,
        task_ids=[t.id for t in tasks],
    )
    return [registered, *assignment_events(item, tasks)]


def assignment_events(item: Item, tasks: list[Task]) -> list[EventData]:
    return [
        TaskAssigned(
            task_id=t.id,
            item_id=item.id,
            item_number=item.number,
            title=t.title,
            lead_unit=t.lead_unit,
            co_units=t.co_units,
            responsible_person=t.responsible_person,
            due=t.due,
            due_working_days=t.due_working_days,
            milestones=t.milestones,
            reporting_cycle=t.reporting_cycle,
            report_due_day=t.report_due_day,
            source_kind=item.source_kind,
            regime=item.regime,
            urgency=item.urgency,
            supervisor=item.supervisor,
        )
        for t in tasks
    ]


# ---- org units --------------------------------------------------------------------------------

PATH_SEP = "/"


def decode_path(path: str) -> list[str]:
    return [unit_id for unit_id in path.split(PATH_SEP) if unit_id]


def path_under(parent: OrgUnit | None, unit_id: str) -> str:
    return (parent.path if parent else PATH_SEP) + unit_id + PATH_SEP


def new_unit(tenant: str, cmd: OrgUnitCreate, parent: OrgUnit | None) -> OrgUnit:
    return OrgUnit(tenant=tenant, id=cmd.id, name=cmd.name, parent_id=cmd.parent_id,
                   active=True, path=path_under(parent, cmd.id))


def parent_errors(parent_id: str | None, parent: OrgUnit | None) -> list[dict]:
    """A unit's parent must exist and be active; errors in FastAPI's 422 shape."""
    if parent_id is None:
        return []
    if parent is None:
        msg, kind = f"no unit {parent_id}", "value_error.parent_unknown"
    elif not parent.active:
        msg, kind = f"unit {parent_id} is deactivated", "value_error.parent_inactive"
    else:
        return []
    return [{"loc": ["body", "parent_id"], "msg": msg, "type": kind, "input": parent_id}]


def is_rename(unit: OrgUnit, name: str | None) -> bool:
    return name is not None and name != unit.name


def is_move(unit: OrgUnit, parent_id: str | None) -> bool:
    return parent_id != unit.parent_id


def move_conflict(unit: OrgUnit, parent: OrgUnit | None) -> str | None:
    """A unit cannot go under itself or one of its descendants (the tree would get a cycle)."""
    if parent is None or unit.id not in decode_path(parent.path):
        return None
    if parent.id == unit.id:
        return f"unit {unit.id} cannot be moved under itself"
    return f"unit {unit.id} cannot be moved under {parent.id}, which lies under it"


def deactivate_conflict(unit: OrgUnit, active_children: list[str]) -> str | None:
    """Deactivation does not cascade: the active units under a unit must go first."""
    if not active_children:
        return None
    return (f"unit {unit.id} still has active units under it ({', '.join(active_children)}); "
            "deactivate or move them first")


def reactivate_conflict(unit: OrgUnit, parent: OrgUnit | None) -> str | None:
    if parent is not None and not parent.active:
        return f"unit {unit.id} is under {parent.id}, which is deactivated; reactivate it first"
    return None


def unit_changed(unit: OrgUnit, change: str) -> OrgUnitChanged:
    return OrgUnitChanged(change=change, unit_id=unit.id, name=unit.name, parent_id=unit.parent_id,
                          active=unit.active, path=decode_path(unit.path))


# ---- follow-up items for assessment actions ---------------------------------------------------

ACTION_WORDS = {"notice": "通报", "written_inquiry": "函询", "talk": "约谈", "admonishment": "诫勉谈话",
                "award_ineligible": "取消评优资格", "discipline": "移交纪检"}
FOLLOW_UP_TASKS = {"written_inquiry": "就函询事项作出书面说明", "talk": "落实约谈要求，报送整改报告",
                   "admonishment": "落实诫勉谈话要求，报送整改情况"}


def follow_up_item(action: ActionTriggered, *, event_id: str) -> ItemCreate:
    """The item an assessment action opens for the unit (限时办结, 紧急): one task due in the
    working days the rule set gives, its source the action's event."""
    word = ACTION_WORDS.get(action.kind, action.kind)
    return ItemCreate(
        title=f"{action.year}年度考核{word}整改",
        source=SourceIn(kind=SourceKind.other, ref=f"考核{word} {event_id}"),
        regime=Regime.time_limited,
        urgency=Urgency.urgent,
        requirements=f"{action.reason}。" + (f"涉及人员：{'、'.join(action.persons)}。" if action.persons else ""),
        tasks=[TaskCreate(lead_unit=action.unit, title=FOLLOW_UP_TASKS.get(action.kind, f"落实{word}要求"),
                          responsible_person=action.persons[0] if action.persons else "",
                          due_working_days=action.follow_up_working_days)],
    )


# ---- leaders' instructions from the OA ---------------------------------------------------------


class BadInstruction(ValueError):
    """An OA instruction that can never become an item (e.g. a task with two deadlines or none)."""


def instruction_key(instruction_id: str) -> str:
    """The idempotency key of an OA instruction: one item per tenant and instruction id."""
    return f"{INSTRUCTION_KEY_PREFIX}{instruction_id}"


INSTRUCTION_KEY_PREFIX = "oa-instruction:"


def instruction_fingerprint(instruction: OaInstructionIssued) -> str:
    """The instruction's content as the contract reads it (unknown fields dropped, defaults filled):
    the same instruction sent again has the same fingerprint."""
    return hashlib.sha256(instruction.model_dump_json().encode()).hexdigest()


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'task'}: {e['msg']}" for e in exc.errors())


def instruction_item(instruction: OaInstructionIssued) -> ItemCreate:
    """The item a leader's instruction (领导批示) becomes: source leader_instruction with the OA's id
    as its reference, the leader as supervising leader, a task per OA task. Raises BadInstruction
    naming every task the item could not take."""
    tasks, problems = [], []
    for i, task in enumerate(instruction.tasks):
        try:
            tasks.append(TaskCreate(**task.model_dump(exclude_unset=True)))
        except ValidationError as exc:
            problems.append(f"tasks[{i}]: {_problems(exc)}")
    if problems:
        raise BadInstruction(f"instruction {instruction.instruction_id}: {'; '.join(problems)}")
    try:
        return ItemCreate(
            title=instruction.title,
            source=SourceIn(kind=SourceKind.leader_instruction, ref=instruction.instruction_id),
            urgency=Urgency(instruction.urgency),
            supervising_leader=instruction.leader,
            supervisor=instruction.supervisor,
            requirements=instruction.requirements,
            tasks=tasks,
        )
    except ValidationError as exc:
        raise BadInstruction(f"instruction {instruction.instruction_id}: {_problems(exc)}") from None


def instruction_deadline_problems(item: ItemCreate, now: datetime) -> str | None:
    """What the API would refuse in the item's deadlines, as one line (None: nothing)."""
    errors = deadline_errors(item.tasks, now)
    if not errors:
        return None
    return "; ".join(f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in errors)


# ---- people -----------------------------------------------------------------------------------

PERSON_FIELDS = tuple(PersonFields.model_fields)
_STATE_FIELDS = tuple(f for f in PERSON_FIELDS if f != "person_id")  # the id is the row's key


def person_fields(fields: PersonFields) -> PersonFields:
    """The contract's fields alone (from an API body or an OA event), roles without repeats."""
    data = fields.model_dump(include=set(PERSON_FIELDS))
    return PersonFields(**{**data, "roles": list(dict.fromkeys(data["roles"]))})


def person_state(person: Person) -> PersonFields:
    return PersonFields(person_id=person.id, **{f: getattr(person, f) for f in _STATE_FIELDS})


def person_change(before: PersonFields | None, after: PersonFields) -> str | None:
    """What a person's new state is to its old one: created, deactivated, reactivated, updated,
    or None when nothing changed (then nothing is emitted)."""
    if before is None:
        return "created"
    if before == after:
        return None
    if before.active != after.active:
        return "reactivated" if after.active else "deactivated"
    return "updated"


def apply_person(person: Person, fields: PersonFields) -> None:
    for name in _STATE_FIELDS:
        setattr(person, name, getattr(fields, name))


def new_person(tenant: str, fields: PersonFields) -> Person:
    person = Person(tenant=tenant, id=fields.person_id, name=fields.name)
    apply_person(person, fields)
    return person


def person_unit_errors(unit_id: str | None, unit: OrgUnit | None) -> list[dict]:
    """A person's unit, when given, must be in the tenant's tree; errors in FastAPI's 422 shape."""
    if unit_id is None or unit is not None:
        return []
    return [{"loc": ["body", "unit_id"], "msg": f"no unit {unit_id}", "type": "value_error.unit_unknown",
             "input": unit_id}]


def person_changed(fields: PersonFields, change: str) -> PersonChanged:
    return PersonChanged(change=change, **fields.model_dump())
