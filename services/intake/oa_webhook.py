"""The OA's webhook: for an OA that cannot publish to NATS, ``POST /api/v1/oa/events`` takes one
CloudEvent in structured JSON and publishes it, as received, into stream DUBAN_OA on its type's
subject, so it goes through the same strict consumer as the OA's own publishes (an unknown
``duban.oa.*`` type or bad data ends in the dead letters with the reason).

No bearer token: the OA signs each request with its tenant's secret
(``DUBAN_INTAKE_OA_WEBHOOK_SECRETS``), see ``shared/signing.py``::

    X-Duban-Timestamp: <unix seconds>
    X-Duban-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.".encode() + body)>

The timestamp is checked against real time (not the simulated demo clock: the OA signs with its
own clock), within ``DUBAN_INTAKE_OA_WEBHOOK_TOLERANCE_S`` either way.
"""

import json
import re
import time

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from services.intake import config
from shared import signing
from shared.audit import WebhookCaller
from shared.events import Envelope
from shared.service import Runtime, runtime_of
from shared.streams import OA_STREAM

router = APIRouter(tags=["oa"])

CONTENT_TYPES = frozenset({"application/cloudevents+json", "application/json"})
MAX_BODY_BYTES = 1 << 20  # NATS's default largest message
OA_TYPE = re.compile(r"^duban\.oa(\.[A-Za-z0-9_-]+)+$")  # a subject of DUBAN_OA without wildcards
CALLER = "oa-webhook"


def _answer(request: Request, status: int, reason: str) -> JSONResponse:
    if status == 401:
        request.state.denied = reason
    else:
        request.state.audit_detail = reason
    return JSONResponse({"detail": reason}, status_code=status)


def signature_problem(secret: str, timestamp: str | None, body: bytes, signature: str | None, *,
                      now: float, tolerance_s: int) -> str | None:
    """Why a request's signature headers do not prove the OA sent ``body`` just now (None: they do)."""
    if not timestamp or not signature:
        return "missing X-Duban-Timestamp or X-Duban-Signature"
    try:
        sent = int(timestamp)
    except ValueError:
        return "X-Duban-Timestamp is not a unix time in seconds"
    if abs(now - sent) > tolerance_s:
        return f"stale timestamp: {sent} is {abs(now - sent):.0f} s from now (tolerance {tolerance_s} s)"
    if not signing.verify(secret, sent, body, signature, now=now, tolerance_s=tolerance_s):
        return "bad signature"
    return None


def _envelope_problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())


@router.post(
    "/oa/events", status_code=202,
    responses={202: {"description": "published into DUBAN_OA: `{\"accepted\": <event id>}`"},
               400: {"description": "not JSON, not a CloudEvent, or not a `duban.oa.` type"},
               401: {"description": "missing, stale or bad signature; unknown tenant"},
               413: {"description": "body over 1 MiB"},
               415: {"description": "neither application/cloudevents+json nor application/json"},
               503: {"description": "the bus is unavailable: retry"}},
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/cloudevents+json": {"schema": {"type": "object"}},
        "application/json": {"schema": {"type": "object"}}}}},
)
async def receive_oa_event(
    request: Request,
    runtime: Runtime = Depends(runtime_of),
    x_duban_timestamp: str | None = Header(None, description="unix seconds when the OA signed"),
    x_duban_signature: str | None = Header(None, description='"sha256=" + hex HMAC-SHA256'),
) -> JSONResponse:
    """One OA event (CloudEvents structured JSON, the tenant in its ``tenant`` attribute), signed with
    the tenant's secret; published into DUBAN_OA with ``Nats-Msg-Id`` = its id, then 202."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in CONTENT_TYPES:
        return _answer(request, 415, "send one CloudEvent as application/cloudevents+json or application/json")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:  # refused before reading it
        return _answer(request, 413, f"the body is over {MAX_BODY_BYTES} bytes")
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return _answer(request, 413, f"the body is over {MAX_BODY_BYTES} bytes")
    try:
        raw = json.loads(body)
    except ValueError as exc:  # not JSON, or not UTF-8
        return _answer(request, 400, f"the body is not JSON: {exc}")
    if not isinstance(raw, dict):
        return _answer(request, 400, "the body is not a CloudEvent in structured JSON (an object)")
    tenant = raw.get("tenant")
    if not isinstance(tenant, str) or not tenant:
        return _answer(request, 400, "the CloudEvent has no tenant attribute")
    settings = config.settings()
    secret = settings.oa_webhook_secrets.get(tenant)
    if secret is None:
        return _answer(request, 401, f"tenant {tenant[:64]!r} may not post OA events here")
    if problem := signature_problem(secret.get_secret_value(), x_duban_timestamp, body, x_duban_signature,
                                    now=time.time(), tolerance_s=settings.oa_webhook_tolerance_s):
        return _answer(request, 401, problem)

    request.state.audit_caller = WebhookCaller(subject=CALLER, tenant=tenant)
    request.state.audit_target = {k: raw[k] for k in ("id", "type") if isinstance(raw.get(k), str)}
    try:
        event = Envelope.model_validate(raw)
    except ValidationError as exc:
        return _answer(request, 400, f"not a valid CloudEvent: {_envelope_problems(exc)}")
    if not OA_TYPE.match(event.type):
        return _answer(request, 400, f"type {event.type!r} is not an OA event (duban.oa.…)")
    try:
        await runtime.forward(OA_STREAM, event.type, body, event_id=event.id)
    except Exception as exc:  # no PubAck: the OA should send it again
        return _answer(request, 503, f"could not publish the event ({type(exc).__name__}); retry")
    return JSONResponse({"accepted": event.id}, status_code=202)
