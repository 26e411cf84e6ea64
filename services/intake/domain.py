"""intake's rules, as pure functions."""

import hashlib
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from services.intake.models import Item, ItemCreate, OrgUnit, OrgUnitCreate, Task
from shared.events import EventData, ItemRegistered, OrgUnitChanged, SourceRef, TaskAssigned

OFFICE_ZONE = ZoneInfo("Asia/Shanghai")


def new_id() -> str:
    return uuid.uuid4().hex


def deadline_errors(cmd: ItemCreate, now: datetime) -> list[dict]:
    """A deadline must lie ahead of the service clock; errors in FastAPI's 422 shape."""
    return [
        {
            "loc": ["body", "tasks", i, "due"],
            "msg": f"deadline {task.due.isoformat()} is not after now ({now.isoformat()})",
            "type": "value_error.due_in_past",
            "input": task.due.isoformat(),
        }
        for i, task in enumerate(cmd.tasks)
        if task.due is not None and task.due <= now
    ]


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
        registered_at=now,
    )
    tasks = [
        Task(
            id=new_id(),
            item_id=item.id,
            position=position,
            tenant=tenant,
            title=t.title or cmd.title,
            lead_unit=t.lead_unit,
            co_units=list(dict.fromkeys(u for u in t.co_units if u != t.lead_unit)),
            due=t.due.astimezone(UTC) if t.due else None,
            due_working_days=t.due_working_days,
        )
        for position, t in enumerate(cmd.tasks)
    ]
    return item, tasks


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
        task_ids=[t.id for t in tasks],
    )
    assigned = [
        TaskAssigned(
            task_id=t.id,
            item_id=item.id,
            title=t.title,
            lead_unit=t.lead_unit,
            co_units=t.co_units,
            due=t.due,
            due_working_days=t.due_working_days,
        )
        for t in tasks
    ]
    return [registered, *assigned]


# ---- org units --------------------------------------------------------------------------------

PATH_SEP = "/"


def encode_path(ids: list[str]) -> str:
    """["U-1", "U-7"] → "/U-1/U-7/" (the stored form)."""
    return PATH_SEP + "".join(f"{unit_id}{PATH_SEP}" for unit_id in ids)


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
