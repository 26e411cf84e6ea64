"""Small helpers shared by the end-to-end tests."""

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import nats

from shared.clock import read_offset, write_offset
from tests.support import ServiceStack, stream_messages, wait_until


def unit() -> str:
    """A unit id no other test uses, so tests sharing a stack do not see each other's data."""
    return f"U-{uuid.uuid4().hex[:8]}"


DEFAULT_DUE = timedelta(days=400)  # register's deadline when none is given


def register(stack: ServiceStack, *units: str, due: datetime | None = None, headers=None) -> dict:
    due = due or datetime.now(UTC) + DEFAULT_DUE
    body = {
        "title": "落实安全生产专项整治",
        "source": {"kind": "leader_instruction", "ref": "领导批示〔2026〕12号"},
        "tasks": [{"lead_unit": u, "due": due.isoformat()} for u in units],
    }
    response = stack.intake.post("/api/v1/items", json=body, headers=headers or {})
    assert response.status_code == 201, response.text
    return response.json()


def inbox(stack: ServiceStack, recipient: str) -> list[dict]:
    return stack.notify.get(f"/api/v1/inbox/{recipient}").json()


def score(stack: ServiceStack, unit_id: str, period: str | None = None) -> dict:
    """The unit's score for ``period`` (2026, 2026-Q4, 2026-11…; scoring's default: this year)."""
    params = {"period": period} if period else None
    return stack.scoring.get(f"/api/v1/units/{unit_id}/score", params=params).json()


def year_of(moment: datetime) -> str:
    """The assessment year (Beijing time) a moment falls in, as a scoring period."""
    return str(moment.astimezone(ZoneInfo("Asia/Shanghai")).year)


def tasks_led(stack: ServiceStack, unit_id: str, due: datetime | None = None) -> int:
    """How many tasks scoring knows ``unit_id`` leads that are due in ``due``'s year (by default
    the year of ``register``'s default deadline): its rates' ``tasks_due``."""
    period = year_of(due or datetime.now(UTC) + DEFAULT_DUE)
    return score(stack, unit_id, period)["rates"]["tasks_due"]


def task(stack: ServiceStack, task_id: str) -> dict | None:
    response = stack.tracking.get(f"/api/v1/tasks/{task_id}")
    return response.json() if response.status_code == 200 else None


def wait_for_task(stack: ServiceStack, task_id: str) -> dict:
    return wait_until(lambda: task(stack, task_id), what=f"task {task_id} in tracking")


async def _advance(url: str, step: timedelta) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await write_offset(js, await read_offset(js) + step, production=False)
    finally:
        await nc.close()


async def _set(url: str, moment: datetime) -> None:
    nc = await nats.connect(url)
    try:
        await write_offset(nc.jetstream(), moment - datetime.now(UTC), production=False)
    finally:
        await nc.close()


def set_clock(stack: ServiceStack, moment: datetime) -> None:
    """Jump the stack's simulated clock to ``moment`` (backwards too: only tests and demos do)."""
    asyncio.run(_set(stack.nats.url, moment))


def advance_clock(stack: ServiceStack, step: timedelta) -> None:
    asyncio.run(_advance(stack.nats.url, step))


def simulated_now(stack: ServiceStack) -> datetime:
    async def offset() -> timedelta:
        nc = await nats.connect(stack.nats.url)
        try:
            return await read_offset(nc.jetstream())
        finally:
            await nc.close()

    return datetime.now(UTC) + asyncio.run(offset())


def published(stack: ServiceStack, event_type: str, **match) -> list[dict]:
    """The data of every ``event_type`` event on its producer's stream whose fields equal ``match``."""
    stream = f"DUBAN_{event_type.split('.')[1].upper()}"

    async def read() -> list[dict]:
        nc = await nats.connect(stack.nats.url)
        try:
            messages = await stream_messages(nc.jetstream(), event_type, stream, limit=10_000)
        finally:
            await nc.close()
        return [json.loads(m.data)["data"] for m in messages]

    return [d for d in asyncio.run(read()) if all(d.get(k) == v for k, v in match.items())]


def org_units(stack: ServiceStack, parents: dict[str, str | None]) -> dict[str, str]:
    """Create units in intake's org tree (as an administrator), parents first: ``{name: parent
    name or None}`` in order; returns ``{name: unit id}``."""
    ids = {name: unit() for name in parents}
    admin = stack.as_("admin", service="intake")
    for name, parent in parents.items():
        response = admin.post("/api/v1/units", json={
            "id": ids[name], "name": name, "parent_id": ids[parent] if parent else None})
        assert response.status_code == 201, response.text
    return ids


def dead_letter(stack: ServiceStack, service: str, producer: str, containing: str):
    """The message that ``service``'s consumer of ``producer``'s stream dead-lettered whose body
    contains ``containing`` (waits for it); its headers say why."""
    subject = f"duban.dlq.{service}.{service}__duban_{producer}"

    async def read() -> list:
        nc = await nats.connect(stack.nats.url)
        try:
            return await stream_messages(nc.jetstream(), subject, f"DUBAN_{service.upper()}")
        finally:
            await nc.close()

    return wait_until(lambda: next((m for m in asyncio.run(read()) if containing.encode() in m.data), None),
                      what=f"a dead letter on {subject} containing {containing}")


def run_to_acceptance(stack: ServiceStack, task_id: str, lead: str) -> None:
    """The lead unit signs, reports progress and submits; the office accepts (办结)."""
    head = stack.as_("unit_head", lead)
    for client, action, body in ((head, "sign", {}), (head, "progress", {"comment": "推进中"}),
                                 (head, "submit", {"comment": "已完成"}),
                                 (stack.tracking, "review", {"decision": "accept"})):
        response = client.post(f"/api/v1/tasks/{task_id}/{action}", json=body)
        assert response.status_code == 200, response.text


# ---- the OA ---------------------------------------------------------------------------------------


def oa_event(data: dict, at: datetime, event_type: str, tenant: str = "default") -> dict:
    """An OA event as the OA writes it (CloudEvents structured JSON), with a new id."""
    return {"specversion": "1.0", "id": uuid.uuid4().hex, "source": "/oa/org", "type": event_type,
            "time": at.isoformat(), "tenant": tenant, "data": data}


def send_oa(stack: ServiceStack, *events: dict | bytes, subject: str | None = None) -> None:
    """Publish into DUBAN_OA as the OA does (no Nats-Msg-Id, so a resent event reaches intake
    again); raw bytes go on ``subject``."""
    async def publish() -> None:
        nc = await nats.connect(stack.nats.url)
        try:
            js = nc.jetstream()
            for event in events:
                body = event if isinstance(event, bytes) else json.dumps(event).encode()
                await js.publish(event["type"] if isinstance(event, dict) else subject, body)
        finally:
            await nc.close()

    asyncio.run(publish())
