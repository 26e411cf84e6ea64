"""intake's rules, as pure functions."""

import hashlib
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from services.intake.models import Item, ItemCreate, Task
from shared.events import EventData, ItemRegistered, SourceRef, TaskAssigned

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
        if task.due <= now
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
            due=t.due.astimezone(UTC),
        )
        for position, t in enumerate(cmd.tasks)
    ]
    return item, tasks


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
        )
        for t in tasks
    ]
    return [registered, *assigned]
