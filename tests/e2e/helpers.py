"""Small helpers shared by the end-to-end tests."""

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import nats

from shared.clock import read_offset, write_offset
from tests.support import ServiceStack, stream_messages, wait_until


def unit() -> str:
    """A unit id no other test uses, so tests sharing a stack do not see each other's data."""
    return f"U-{uuid.uuid4().hex[:8]}"


def register(stack: ServiceStack, *units: str, due: datetime | None = None, headers=None) -> dict:
    due = due or datetime.now(UTC) + timedelta(days=400)
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


def score(stack: ServiceStack, unit_id: str) -> dict:
    return stack.scoring.get(f"/api/v1/units/{unit_id}/score").json()


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
