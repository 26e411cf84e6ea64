"""One POST to intake gives one trace across all four services (spans exported over OTLP)."""

import pytest

from tests.e2e.helpers import unit
from tests.support import wait_until

pytestmark = pytest.mark.e2e

SERVICES = {"duban-intake", "duban-tracking", "duban-scoring", "duban-notify"}
ASSIGNED = "duban.intake.task.assigned.v1"


def test_one_trace_id_spans_all_four_services(stack, otlp):
    response = stack.intake.post("/api/v1/items", json={
        "title": "traced", "source": {"kind": "meeting_decision", "ref": "会议纪要"},
        "tasks": [{"lead_unit": unit(), "due": "2099-01-01T00:00:00+08:00"}],
    })
    assert response.status_code == 201
    trace_id = response.headers["X-Trace-Id"]

    def whole_trace():
        spans = otlp.trace(trace_id)
        names = {(s["service"], s["name"]) for s in spans}
        consumers = all((svc, f"handle {ASSIGNED}") in names for svc in SERVICES - {"duban-intake"})
        # each service exports in its own batches: wait for the spans that end last in intake
        intake = {("duban-intake", f"{ASSIGNED} publish"), ("duban-intake", "POST /api/v1/items")}
        return spans if consumers and intake <= names else None

    spans = wait_until(whole_trace, timeout=20, what="the relay's publish and every consumer's handler")
    by_service: dict[str, set[str]] = {}
    for span in spans:
        by_service.setdefault(span["service"], set()).add(span["name"])

    assert set(by_service) == SERVICES
    intake = by_service["duban-intake"]
    assert "POST /api/v1/items" in intake  # the request
    assert any(n.startswith("INSERT") for n in intake)  # its database write
    assert f"{ASSIGNED} publish" in intake  # the relay's publish
    for service in SERVICES - {"duban-intake"}:
        # each consumer's handler and the database write it made
        assert f"handle {ASSIGNED}" in by_service[service]
        assert any(n.startswith(("INSERT", "UPDATE")) for n in by_service[service]), by_service[service]


def test_a_request_without_trace_context_starts_a_new_trace(stack):
    first = register_and_trace(stack)
    second = register_and_trace(stack)
    assert first != second and len(first) == 32


def register_and_trace(stack) -> str:
    response = stack.intake.post("/api/v1/items", json={
        "title": "t", "source": {"kind": "other"},
        "tasks": [{"lead_unit": unit(), "due": "2099-01-01T00:00:00+08:00"}],
    })
    return response.headers["X-Trace-Id"]


def test_an_item_keeps_the_trace_it_was_registered_in(stack):
    """The console links an item to its end-to-end trace: intake returns the registering trace."""
    body = {"title": "追踪链接", "source": {"kind": "other", "ref": ""},
            "tasks": [{"lead_unit": unit(), "due": "2099-01-01T00:00:00+08:00"}]}
    response = stack.intake.post("/api/v1/items", json=body, headers={"Idempotency-Key": unit()})
    assert response.status_code == 201, response.text
    trace_id = response.headers["X-Trace-Id"]
    assert len(trace_id) == 32 and response.json()["trace_id"] == trace_id
    item_id = response.json()["id"]
    read = stack.intake.get(f"/api/v1/items/{item_id}")  # a later request, a trace of its own
    assert read.json()["trace_id"] == trace_id != read.headers["X-Trace-Id"]
