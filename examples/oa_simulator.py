"""An OA simulator: shows Duban's OA integration in both directions against `duban up`.

Out of the OA, into Duban (by NATS, or by intake's signed webhook with --webhook-secret):
  1. the OA's org chart: a unit (duban.oa.org_unit.updated.v1) and its head (duban.oa.person.updated.v1);
  2. a leader's instruction (duban.oa.instruction.issued.v1), sent twice: Duban registers ONE item.
Out of Duban, into the OA: this script listens on a loopback webhook, registers it with notify
(PUT /api/v1/oa-webhook) and prints every Duban event notify pushes to it, after checking its
HMAC signature — the item registered, its task assigned, the head's unit's org changes…

    .venv/bin/duban up                                  # in one terminal
    .venv/bin/python examples/oa_simulator.py           # in another

Options name other addresses (--nats, --intake, --notify) and a token (--token; default: one
from `duban token --role admin`). It exits after --wait seconds without a new event.
"""

import argparse
import asyncio
import hashlib
import hmac
import json
import queue
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import nats

SECRET = "oa-simulator-secret-" + uuid.uuid4().hex[:8]


def cloudevent(event_type: str, data: dict, tenant: str, event_id: str | None = None) -> dict:
    return {"specversion": "1.0", "id": event_id or uuid.uuid4().hex, "source": "/oa-simulator",
            "type": event_type, "time": datetime.now(UTC).isoformat(), "tenant": tenant, "data": data}


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


# ---- Duban → OA: a webhook receiver ------------------------------------------------------------

def start_receiver(received: queue.Queue) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            timestamp = self.headers.get("X-Duban-Timestamp", "0")
            good = hmac.compare_digest(self.headers.get("X-Duban-Signature", ""),
                                       signature(SECRET, int(timestamp), body))
            self.send_response(200 if good else 401)
            self.end_headers()
            if good:
                received.put(json.loads(body))

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# ---- OA → Duban: publishing -----------------------------------------------------------------------

async def publish_nats(url: str, events: list[dict]) -> None:
    """As an OA on NATS does: into stream DUBAN_OA, on the subject that is the event's type."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for event in events:
            await js.publish(event["type"], json.dumps(event, ensure_ascii=False).encode())
    finally:
        await nc.close()


def publish_webhook(intake: str, secret: str, events: list[dict]) -> None:
    """As an OA without NATS does: signed POSTs to intake's webhook."""
    for event in events:
        body = json.dumps(event, ensure_ascii=False).encode()
        now = int(time.time())
        answer = httpx.post(f"{intake}/api/v1/oa/events", content=body, headers={
            "Content-Type": "application/cloudevents+json", "X-Duban-Timestamp": str(now),
            "X-Duban-Signature": signature(secret, now, body)})
        print(f"  webhook answered {answer.status_code} {answer.text}")
        answer.raise_for_status()


def the_oas_events(tenant: str, unit: str) -> list[dict]:
    due = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    instruction = cloudevent("duban.oa.instruction.issued.v1", {
        "instruction_id": f"批示〔{datetime.now().year}〕{uuid.uuid4().hex[:4]}号",
        "title": "关于冬季安全生产大检查的批示", "leader": "王副市长", "supervisor": "督查室李明",
        "requirements": "请于月底前报送落实情况。", "urgency": "urgent",
        "tasks": [{"lead_unit": unit, "title": "排查隐患", "responsible_person": "张三", "due": due}]}, tenant)
    return [
        cloudevent("duban.oa.org_unit.updated.v1", {"unit_id": unit, "name": "安全生产监督处"}, tenant),
        cloudevent("duban.oa.person.updated.v1", {
            "person_id": f"P-{unit}", "name": "张三", "unit_id": unit, "roles": ["head"],
            "email": "zhangsan@example.cn", "mobile": "13800000000"}, tenant),
        instruction,
        instruction,  # delivered twice: still one item
    ]


# ---- the run ----------------------------------------------------------------------------------------

def admin_token() -> str:
    out = subprocess.run([sys.executable, "-c", "from duban.cli import main; main()", "token", "--role", "admin"],
                         check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nats", default="nats://127.0.0.1:4229")
    parser.add_argument("--intake", default="http://127.0.0.1:8101")
    parser.add_argument("--notify", default="http://127.0.0.1:8104")
    parser.add_argument("--tenant", default="default")
    parser.add_argument("--token", help="an admin token of the tenant (default: duban token --role admin)")
    parser.add_argument("--webhook-secret", help="post to intake's webhook with this tenant secret "
                                                 "(DUBAN_INTAKE_OA_WEBHOOK_SECRETS) instead of NATS")
    parser.add_argument("--wait", type=float, default=5.0, help="seconds to wait for the next event")
    args = parser.parse_args(argv)

    received: queue.Queue = queue.Queue()
    server = start_receiver(received)
    hook = f"http://127.0.0.1:{server.server_port}/duban/events"
    headers = {"Authorization": f"Bearer {args.token or admin_token()}"}
    answer = httpx.put(f"{args.notify}/api/v1/oa-webhook", headers=headers,
                       json={"url": hook, "secret": SECRET, "types": ["duban.intake."]})
    answer.raise_for_status()
    print(f"Duban → OA: notify pushes intake's events to {hook}")

    unit = f"U-OA-{uuid.uuid4().hex[:6]}"
    events = the_oas_events(args.tenant, unit)
    print(f"OA → Duban: unit {unit}, its head, and one instruction sent twice "
          f"({'webhook' if args.webhook_secret else 'NATS'})")
    if args.webhook_secret:
        publish_webhook(args.intake, args.webhook_secret, events)
    else:
        asyncio.run(publish_nats(args.nats, events))

    items = set()
    try:
        while True:
            event = received.get(timeout=args.wait)
            data = event["data"]
            print(f"  OA received {event['type']} {json.dumps(data, ensure_ascii=False)[:120]}")
            if event["type"] == "duban.intake.item.registered.v1" and data["source"]["kind"] == "leader_instruction":
                items.add(data["item_id"])
    except queue.Empty:
        pass
    finally:
        httpx.delete(f"{args.notify}/api/v1/oa-webhook", headers=headers)
        server.shutdown()
    print(f"items registered for the instruction: {len(items)}")
    return 0 if len(items) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
