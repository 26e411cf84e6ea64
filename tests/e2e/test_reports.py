"""Progress reports with evidence files, and missed reports flagged once, through the real services."""

import hashlib
import time
from datetime import datetime, timedelta

import pytest

from services.tracking.reporting import period_of
from tests.e2e.helpers import inbox, published, set_clock, simulated_now, unit, wait_for_task
from tests.support import free_port, tiny_png, wait_until

pytestmark = pytest.mark.e2e


def register(stack, lead: str, co_units: list[str], due: datetime, cycle: str = "month") -> str:
    body = {
        "title": "安全生产专项整治月度进展",
        "source": {"kind": "leader_instruction", "ref": "批示〔2026〕30号"},
        "tasks": [{"lead_unit": lead, "co_units": co_units, "due": due.isoformat(),
                   "reporting_cycle": cycle}],
    }
    response = stack.intake.post("/api/v1/items", json=body)
    assert response.status_code == 201, response.text
    task_id = response.json()["tasks"][0]["id"]
    wait_for_task(stack, task_id)
    return task_id


def upload(client, task_id: str, data: bytes, media_type: str, filename: str = ""):
    return client.post(f"/api/v1/tasks/{task_id}/evidence", content=data,
                       params={"filename": filename}, headers={"content-type": media_type})


def report(stack, task_id: str, unit_id: str, text: str = "本月已完成排查", **body):
    """A report by ``unit_id``'s handler (the reporting unit comes from the caller's)."""
    return stack.as_("unit_handler", unit_id).post(f"/api/v1/tasks/{task_id}/reports",
                                                   json={"text": text, **body})


def events(stack, event_type: str, task_id: str) -> list[dict]:
    return published(stack, event_type, task_id=task_id)


def test_units_report_with_evidence_and_the_lead_consolidates_the_co_units_parts(stack):
    lead, first, second, stranger = unit(), unit(), unit(), unit()
    task_id = register(stack, lead, [first, second], simulated_now(stack) + timedelta(days=120))
    assert report(stack, task_id, lead).status_code == 409  # sign for it first
    head = stack.as_("unit_head", lead)
    assert head.post(f"/api/v1/tasks/{task_id}/sign", json={}).status_code == 200

    photo = tiny_png()
    uploaded = upload(stack.as_("unit_handler", first), task_id, photo, "image/png", "现场照片.png")
    assert uploaded.status_code == 201, uploaded.text
    sha = hashlib.sha256(photo).hexdigest()
    assert uploaded.json() == {"sha256": sha, "size": len(photo), "media_type": "image/png",
                               "filename": "现场照片.png"}
    fetched = stack.tracking.get(f"/api/v1/tasks/{task_id}/evidence/{sha}")
    assert fetched.status_code == 200 and fetched.content == photo
    assert fetched.headers["content-type"] == "image/png"
    assert stack.tracking.get(f"/api/v1/tasks/no-such/evidence/{sha}").status_code == 404

    pdf = upload(head, task_id, b"%PDF-1.7\n" + bytes(32), "image/png")
    assert pdf.status_code == 415 and "declared image/png" in pdf.json()["detail"]
    exe = upload(head, task_id, b"MZ\x90\x00" + bytes(32), "application/octet-stream")
    assert exe.status_code == 415 and "allowed are" in exe.json()["detail"]
    assert upload(head, "no-such-task", photo, "image/png").status_code == 404

    part = report(stack, task_id, first, "协办部分：已排查 12 家企业", evidence=[sha])
    assert part.status_code == 201, part.text
    key = period_of("month", simulated_now(stack)).key
    assert part.json()["period"] == key and part.json()["evidence"] == [sha]
    assert (part.json()["unit"], part.json()["actor"]) == (first, f"unit_handler@{first}")
    view = stack.tracking.get(f"/api/v1/tasks/{task_id}").json()
    assert view["status"] == "in_progress" and view["history"][-1]["action"] == "progress"

    refused = head.post(f"/api/v1/tasks/{task_id}/reports", json={"unit": stranger, "text": "代报"})
    assert refused.status_code == 403 and "neither the lead unit nor a co-unit" in refused.json()["detail"]
    assert report(stack, task_id, stranger).status_code == 404  # not on the task: it cannot see it
    unknown = report(stack, task_id, lead, evidence=["0" * 64])
    assert unknown.status_code == 422 and "0" * 64 in unknown.json()["detail"]
    assert report(stack, task_id, lead, period="2026-13").status_code == 422
    assert report(stack, task_id, lead, period="2099-01").status_code == 422

    assert report(stack, task_id, lead, "牵头汇总：整改完成 80%", evidence=[sha]).status_code == 201
    listed = stack.tracking.get(f"/api/v1/tasks/{task_id}/reports", params={"period": key}).json()
    assert [(r["unit"], r["evidence"]) for r in listed] == [(first, [sha]), (lead, [sha])]

    whole = stack.tracking.get(f"/api/v1/tasks/{task_id}/reports/consolidated").json()
    assert whole["period"] == key and whole["lead"]["text"] == "牵头汇总：整改完成 80%"
    assert [(p["unit"], p["status"]) for p in whole["parts"]] == [(first, "reported"), (second, "missing")]
    assert whole["parts"][0]["report"]["text"] == "协办部分：已排查 12 家企业"

    reported = wait_until(lambda: (e := events(stack, "duban.tracking.task.progress_reported.v1", task_id))
                          and len(e) >= 2 and e, what="two progress_reported events")
    assert [(e["unit"], e["period"], e["evidence"]) for e in reported] == [(first, key, [sha]),
                                                                          (lead, key, [sha])]


def test_a_monthly_reporting_task_with_a_missed_report_is_flagged_once(stack):
    stack.stack.start_service("tracking", key="tracking-2", port=free_port())
    stack.stack.wait_ready(["tracking-2"])
    set_clock(stack, datetime.fromisoformat("2026-11-05T10:00:00+08:00"))
    lead, co_unit = unit(), unit()
    task_id = register(stack, lead, [co_unit], datetime.fromisoformat("2027-03-31T17:30:00+08:00"))
    stack.as_("unit_head", lead).post(f"/api/v1/tasks/{task_id}/sign")
    november = report(stack, task_id, lead, "11 月进展：已完成隐患排查")
    assert november.status_code == 201 and november.json()["period"] == "2026-11"

    set_clock(stack, datetime.fromisoformat("2026-12-10T10:00:00+08:00"))  # November's was on time
    time.sleep(2)
    assert stack.tracking.get(f"/api/v1/tasks/{task_id}/reports/missing").json() == []

    set_clock(stack, datetime.fromisoformat("2027-01-03T09:00:00+08:00"))  # no December report
    missed_type = "duban.tracking.task.report_missed.v1"
    flagged = wait_until(lambda: events(stack, missed_type, task_id), what="a report_missed event")
    for step in range(2):
        set_clock(stack, datetime.fromisoformat("2027-01-03T09:00:00+08:00") + timedelta(hours=step + 1))
        time.sleep(1.5)
    flagged = events(stack, missed_type, task_id)
    assert len(flagged) == 1
    assert flagged[0]["period"] == "2026-12" and flagged[0]["lead_unit"] == lead
    assert datetime.fromisoformat(flagged[0]["report_due"]) == \
        datetime.fromisoformat("2027-01-02T23:59:59+08:00")

    missing = stack.tracking.get(f"/api/v1/tasks/{task_id}/reports/missing").json()
    assert [m["period"] for m in missing] == ["2026-12"]
    notices = wait_until(lambda: [n for n in inbox(stack, lead) if n["kind"] == "report_missed"],
                         what="a report_missed notice")
    assert len(notices) == 1 and "2026-12" in notices[0]["body"]
    assert not [n for n in inbox(stack, co_unit) if n["kind"] == "report_missed"]
