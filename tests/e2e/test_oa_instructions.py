"""Leaders' instructions from the OA become items, by NATS or through the signed webhook (real bus,
both backends): one item per instruction however often it comes, its tasks run to 销号, and what
can never be an item is dead-lettered with the reason."""

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shared.signing import sign
from tests.e2e.helpers import (
    dead_letter, oa_event, published, run_to_acceptance, send_oa, unit, wait_for_task,
)
from tests.support import OA_WEBHOOK_SECRETS, ServiceStack, wait_until

pytestmark = pytest.mark.e2e

ISSUED = "duban.oa.instruction.issued.v1"
REGISTERED = "duban.intake.item.registered.v1"
WEBHOOK = "/api/v1/oa/events"


def instruction(*leads: str, instruction_id: str | None = None, **fields) -> dict:
    """An instruction's data: one task per lead unit, due in 30 days (the first) or 5 working days."""
    due = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    tasks = [{"lead_unit": lead, "title": f"落实批示要求（{i + 1}）",
              **({"due": due} if i == 0 else {"due_working_days": 5})} for i, lead in enumerate(leads)]
    return {"instruction_id": instruction_id or f"批示〔2026〕{uuid.uuid4().hex[:8]}号",
            "title": "关于冬季安全生产大检查的批示", "leader": "王副市长", "supervisor": "督查室李明",
            "requirements": "请于月底前报送落实情况。", "urgency": "urgent", "tasks": tasks, **fields}


def issued(data: dict, tenant: str = "default") -> dict:
    return oa_event(data, datetime.now(UTC), ISSUED, tenant)


def registrations(stack: ServiceStack, instruction_id: str) -> list[dict]:
    return [e for e in published(stack, REGISTERED) if e["source"] == {"kind": "leader_instruction",
                                                                    "ref": instruction_id}]


def item_of(stack: ServiceStack, instruction_id: str) -> dict:
    [registered] = wait_until(lambda: registrations(stack, instruction_id), what=f"item of {instruction_id}")
    response = stack.intake.get(f"/api/v1/items/{registered['item_id']}")
    assert response.status_code == 200, response.text
    return response.json()


def handled_so_far(stack: ServiceStack) -> None:
    """Wait until intake has handled every OA event sent before (it reads them in order): a marker
    instruction sent now becomes an item."""
    marker = instruction(unit())
    send_oa(stack, issued(marker))
    item_of(stack, marker["instruction_id"])


def test_an_instruction_sent_twice_and_resent_becomes_one_item_that_runs_to_closing(stack):
    a, b = unit(), unit()
    data = instruction(a, b)
    first = issued(data)
    send_oa(stack, first, first, {**first, "id": uuid.uuid4().hex})  # again, and re-sent under a new id
    item = item_of(stack, data["instruction_id"])
    handled_so_far(stack)
    assert len(registrations(stack, data["instruction_id"])) == 1

    assert item["source"] == {"kind": "leader_instruction", "ref": data["instruction_id"]}
    assert (item["title"], item["supervising_leader"], item["supervisor"], item["requirements"],
            item["urgency"], item["regime"]) == (data["title"], "王副市长", "督查室李明",
                                                 "请于月底前报送落实情况。", "urgent", "special")
    assert item["number"].startswith("DB-") and item["status"] == "open"
    tasks = {t["lead_unit"]: t for t in item["tasks"]}
    assert tasks[a]["due"] is not None and tasks[b]["due_working_days"] == 5
    assert [t["title"] for t in item["tasks"]] == ["落实批示要求（1）", "落实批示要求（2）"]

    for lead in (a, b):
        assert wait_for_task(stack, tasks[lead]["id"])["lead_unit"] == lead
        run_to_acceptance(stack, tasks[lead]["id"], lead)
    closed = wait_until(lambda: (i := stack.intake.get(f"/api/v1/items/{item['id']}").json())
                        ["status"] == "closed" and i, what="销号")
    assert closed["progress"] == {"closed": 2, "total": 2}
    wait_until(lambda: published(stack, "duban.intake.item.closed.v1", item_id=item["id"]),
               what="item.closed")


def test_the_same_instruction_with_other_content_is_dead_lettered_with_the_reason(stack):
    data = instruction(unit())
    send_oa(stack, issued(data))
    item = item_of(stack, data["instruction_id"])
    changed = issued({**data, "title": "另一个标题"})
    send_oa(stack, changed)
    error = dead_letter(stack, "intake", "oa", containing=changed["id"]).headers["Duban-Error"]
    assert (f"instruction {data['instruction_id']} was already registered as item {item['number']} "
            "with other content") in error
    handled_so_far(stack)
    assert len(registrations(stack, data["instruction_id"])) == 1


@pytest.mark.parametrize("task,reason", [
    ({"due": "2020-01-01T09:00:00+08:00"}, "deadline 2020-01-01T09:00:00+08:00 is not after now"),
    ({"due": "2099-01-01T09:00:00+08:00", "due_working_days": 3}, "give the deadline either as due"),
    ({}, "give the deadline either as due"),
], ids=["past deadline", "two deadlines", "no deadline"])
def test_an_instruction_the_api_would_refuse_is_dead_lettered_with_the_reason(stack, task, reason):
    data = instruction(unit())
    data["tasks"] = [{"lead_unit": unit(), **task}]
    event = issued(data)
    send_oa(stack, event)
    error = dead_letter(stack, "intake", "oa", containing=event["id"]).headers["Duban-Error"]
    assert error.startswith("PoisonMessage: ") and f"instruction {data['instruction_id']}" in error
    assert reason in error
    handled_so_far(stack)
    assert registrations(stack, data["instruction_id"]) == []


# ---- the webhook ------------------------------------------------------------------------------------


def post(stack: ServiceStack, event: dict | bytes, *, secret: str | None = OA_WEBHOOK_SECRETS["default"],
         timestamp: int | None = None, content_type: str = "application/cloudevents+json",
         signature: str | None = None) -> httpx.Response:
    """POST as the OA does: the raw body signed with the tenant's secret (no bearer token)."""
    body = event if isinstance(event, bytes) else json.dumps(event, ensure_ascii=False).encode()
    timestamp = int(time.time()) if timestamp is None else timestamp
    headers = {"content-type": content_type, "X-Duban-Timestamp": str(timestamp)}
    if signature or secret:
        headers["X-Duban-Signature"] = signature or sign(secret, timestamp, body)
    return stack.anonymous("intake").post(WEBHOOK, content=body, headers=headers)


def test_a_signed_webhook_call_registers_the_instruction_and_is_audited(stack):
    data = instruction(unit())
    event = issued(data)
    response = post(stack, event)
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": event["id"]}
    item = item_of(stack, data["instruction_id"])
    assert item["tasks"][0]["lead_unit"] == data["tasks"][0]["lead_unit"]
    # The same event posted again (the OA's retry) and under plain application/json: one item.
    assert post(stack, event, content_type="application/json; charset=utf-8").status_code == 202
    handled_so_far(stack)
    assert len(registrations(stack, data["instruction_id"])) == 1

    trail = stack.intake.get("/api/v1/audit", params={"actor": "oa-webhook"}).json()
    mine = [e for e in trail if e["target"].get("id") == event["id"]]
    assert len(mine) == 2 and {e["outcome"] for e in mine} == {"ok"}
    assert mine[0]["action"] == "POST /api/v1/oa/events" and mine[0]["target"]["type"] == ISSUED


def test_the_webhook_refuses_bad_signatures_stale_timestamps_and_unknown_tenants(stack):
    refused = []

    def refuse(status: int, detail: str, event: dict | bytes | None = None, **kwargs) -> None:
        data = instruction(unit())
        event = event if event is not None else issued(data)
        response = post(stack, event, **kwargs)
        assert response.status_code == status, response.text
        assert detail in response.json()["detail"]
        refused.append(data["instruction_id"])

    refuse(401, "bad signature", secret=OA_WEBHOOK_SECRETS["other"])  # another tenant's secret
    refuse(401, "bad signature", signature="sha256=" + "0" * 64)
    refuse(401, "missing X-Duban-Timestamp or X-Duban-Signature", secret=None)
    refuse(401, "stale timestamp", timestamp=int(time.time()) - 3600)
    refuse(401, "stale timestamp", timestamp=int(time.time()) + 3600)
    refuse(401, "may not post OA events here", event=issued(instruction(unit()), tenant="nobody"))
    # A body signed correctly, then changed on the way.
    data = instruction(unit())
    body = json.dumps(issued(data)).encode()
    now = int(time.time())
    tampered = body.replace(b"urgent", b"normal")
    response = post(stack, tampered, signature=sign(OA_WEBHOOK_SECRETS["default"], now, body), timestamp=now)
    assert response.status_code == 401 and response.json()["detail"] == "bad signature"
    refused.append(data["instruction_id"])

    refuse(400, "the body is not JSON", event=b"not json")
    refuse(400, "no tenant attribute", event={"specversion": "1.0", "type": ISSUED})
    refuse(400, "not a valid CloudEvent", event={**issued(instruction(unit())), "time": "yesterday"})
    refuse(400, "is not an OA event", event=issued(instruction(unit())) | {"type": "duban.intake.item.registered.v1"})
    refuse(400, "is not an OA event", event=issued(instruction(unit())) | {"type": "duban.oa.*"})
    refuse(415, "application/cloudevents+json", content_type="text/plain")
    refuse(413, "the body is over 1048576 bytes", event=b'{"pad": "' + b"x" * (1 << 20) + b'"}')

    handled_so_far(stack)
    for instruction_id in refused:
        assert registrations(stack, instruction_id) == []


def test_the_webhook_is_the_only_route_without_a_token(stack):
    anonymous = stack.anonymous("intake")
    for method in ("GET", "PUT", "DELETE"):
        response = anonymous.request(method, WEBHOOK)
        assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer", method
    assert anonymous.post(WEBHOOK + "/x").status_code == 401
    assert anonymous.post("/api/v1/oa/events/").status_code == 401


def test_an_unknown_oa_type_through_the_webhook_is_accepted_then_dead_lettered(stack):
    event = oa_event({"leave_id": uuid.uuid4().hex}, datetime.now(UTC), "duban.oa.leave.requested.v1")
    response = post(stack, event)
    assert response.status_code == 202, response.text
    error = dead_letter(stack, "intake", "oa", containing=event["id"]).headers["Duban-Error"]
    assert "unknown event type 'duban.oa.leave.requested.v1'" in error

    bad = issued({"instruction_id": uuid.uuid4().hex, "title": "缺少任务"})  # no tasks
    assert post(stack, bad).status_code == 202
    error = dead_letter(stack, "intake", "oa", containing=bad["id"]).headers["Duban-Error"]
    assert "bad data for duban.oa.instruction.issued.v1" in error and "tasks" in error
