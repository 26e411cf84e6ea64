"""Scoring as a supervision office sees it, through the real services and bus (both backends).

Seed 004 (commended once, criticised twice: 99, the responsible person admonished, a third
criticism: no awards), entries earned by the task lifecycle and explained, a month of 50 tasks
across 5 units checked against figures worked out by hand, appeals, rule sets, closing periods and
the Excel export, and who may call each of scoring's routes.
"""

import asyncio
import io
import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import nats
import openpyxl
import pytest
import yaml

from shared.auth import ROLES, UNIT_ROLES
from tests.e2e.helpers import (
    advance_clock, org_units, published, set_clock, simulated_now, unit, wait_for_task,
)
from tests.support import ServiceStack, stream_messages, wait_until

pytestmark = pytest.mark.e2e

BEIJING = ZoneInfo("Asia/Shanghai")
ACTION = "duban.scoring.action.triggered.v1"
BULLETIN = "duban.scoring.bulletin.issued.v1"
STATUS_CHANGED = "duban.tracking.task.status_changed.v1"
OVERDUE = "duban.tracking.task.overdue.v1"
REPORT_MISSED = "duban.tracking.task.report_missed.v1"
DEFAULT_VERSION = "default-2026.1"
TENANT_WIDE = [r for r in ROLES if r not in UNIT_ROLES]


# ---- helpers -------------------------------------------------------------------------------------


def scoring(stack: ServiceStack, role: str = "office", unit_id: str | None = None,
            tenant: str = "default"):
    return stack.as_(role, unit_id, service="scoring", tenant=tenant)


def this_year(stack: ServiceStack) -> str:
    return str(simulated_now(stack).astimezone(BEIJING).year)


def score(client, unit_id: str, period: str) -> dict:
    response = client.get(f"/api/v1/units/{unit_id}/score", params={"period": period})
    assert response.status_code == 200, response.text
    return response.json()


def bulletin(client, kind: str, issuer: str, units: list[str], persons=(), reason: str = "督办事项",
             item_ids=()) -> dict:
    response = client.post("/api/v1/bulletins", json={
        "kind": kind, "issuer": issuer, "units": units, "persons": list(persons), "reason": reason,
        "item_ids": list(item_ids)})
    assert response.status_code == 201, response.text
    return response.json()


def rules_of(entries: list[dict]) -> list[tuple[str, float]]:
    return [(e["rule"], e["points"]) for e in entries]


def envelopes(stack: ServiceStack, event_type: str, **match) -> list[dict]:
    """Whole CloudEvents (id, time, tenant, data) of ``event_type`` whose data fields equal ``match``."""
    stream = f"DUBAN_{event_type.split('.')[1].upper()}"

    async def read() -> list[dict]:
        nc = await nats.connect(stack.nats.url)
        try:
            return [json.loads(m.data) for m in await stream_messages(nc.jetstream(), event_type, stream,
                                                                       limit=10_000)]
        finally:
            await nc.close()

    return [e for e in asyncio.run(read()) if all(e["data"].get(k) == v for k, v in match.items())]


def act(client, task_id: str, action: str, **body) -> dict:
    response = client.post(f"/api/v1/tasks/{task_id}/{action}", json=body or None)
    assert response.status_code == 200, f"{action} {task_id}: {response.text}"
    return response.json()


def register(stack: ServiceStack, tasks: list[dict], tenant: str = "default", title: str = "重点督办事项") -> dict:
    response = stack.as_("office", service="intake", tenant=tenant).post("/api/v1/items", json={
        "title": title, "source": {"kind": "meeting_decision", "ref": "党委会〔2026〕7号"}, "tasks": tasks})
    assert response.status_code == 201, response.text
    return response.json()


def beijing(text: str) -> datetime:
    return datetime.fromisoformat(f"{text}+08:00")


# ---- 1. seed 004 ---------------------------------------------------------------------------------


def test_seed_004_commended_once_criticised_twice_is_99_and_the_person_is_admonished(stack):
    """A unit commended once by the committee and criticised twice by the office in a year: 100 + 5
    − 3 − 3 = 99; the person named in the criticisms is admonished after the second (诫勉谈话),
    the unit stays eligible for awards until a third; each action goes on the bus once."""
    lead, bystander, year = unit(), unit(), this_year(stack)
    office = stack.scoring

    commended = bulletin(office, "commendation", "committee", [lead], reason="安全生产专项整治成效显著")
    assert (commended["kind"], commended["issuer"], commended["issued_by"]) == (
        "commendation", "committee", "office@default")
    first = bulletin(office, "criticism", "office", [lead], persons=["张三"], reason="督办事项推进迟缓")
    after_one = score(office, lead, year)
    assert (after_one["total"], after_one["actions"], after_one["award_eligible"]) == (102, [], True)
    assert published(stack, ACTION, unit=lead) == []

    second = bulletin(office, "criticism", "office", [lead, bystander], persons=["张三"],
                      reason="报送材料弄虚作假")
    s = score(office, lead, year)
    assert (s["base"], s["points"], s["total"]) == (100, -1, 99)
    assert rules_of(s["entries"]) == [("commendation.committee", 5), ("criticism.office", -3),
                                      ("criticism.office", -3)]
    assert [e["cause_event_id"] for e in s["entries"]] == [commended["id"], first["id"], second["id"]]
    assert all(e["cause_event_type"] == BULLETIN and e["rule_set_version"] == DEFAULT_VERSION
               for e in s["entries"])
    assert s["entries"][1]["persons"] == ["张三"] and "督办事项推进迟缓" in s["entries"][1]["reason"]
    assert [(a["kind"], a["persons"], a["cause_event_id"]) for a in s["actions"]] == [
        ("admonishment", ["张三"], second["id"])]
    assert s["award_eligible"] is True
    assert score(office, bystander, year)["total"] == 97  # the second bulletin named it too
    announced = wait_until(lambda: published(stack, ACTION, unit=lead), what="the admonishment on the bus")
    assert [(a["kind"], a["persons"], a["year"], a["cause_event_id"]) for a in announced] == [
        ("admonishment", ["张三"], int(year), second["id"])]

    third = bulletin(office, "criticism", "committee", [lead], persons=["李四"], reason="再次推诿")
    s = score(office, lead, year)
    assert s["total"] == 94 and s["award_eligible"] is False
    assert [(a["kind"], a["cause_event_id"]) for a in s["actions"]] == [
        ("admonishment", second["id"]), ("award_ineligible", third["id"])]
    wait_until(lambda: len(published(stack, ACTION, unit=lead)) == 2, what="award_ineligible on the bus")

    bulletin(office, "criticism", "office", [lead], persons=["张三"], reason="第四次")
    # The outbox is relayed in order: once a later bulletin is on the bus, anything the fourth
    # staged (an action it had triggered again) would be too.
    marker = bulletin(office, "commendation", "office", [unit()], reason="marker")
    wait_until(lambda: published(stack, BULLETIN, bulletin_id=marker["id"]), what="the marker bulletin")
    assert score(office, lead, year)["total"] == 91
    assert sorted(a["kind"] for a in published(stack, ACTION, unit=lead)) == [
        "admonishment", "award_ineligible"]
    assert published(stack, ACTION, unit=bystander) == []  # criticised once only


# ---- 2. entries earned by the lifecycle ----------------------------------------------------------


def test_lifecycle_facts_earn_entries_that_explain_themselves(stack):
    """On time: +1 to the lead and each co-unit; a return: −2 to the lead (its co-units nothing); overdue:
    −5 lead, −3 co-unit, and the lead's first overdue task of the year triggers a notice (通报)."""
    lead, co_a, co_b = unit(), unit(), unit()
    now = simulated_now(stack)
    year = str(now.astimezone(BEIJING).year)
    in_ten_days = (now + timedelta(days=10)).isoformat()
    item = register(stack, [
        {"lead_unit": lead, "co_units": [co_a, co_b], "due": in_ten_days},
        {"lead_unit": lead, "co_units": [co_a], "due": in_ten_days},
        {"lead_unit": lead, "co_units": [co_a], "due": (now + timedelta(hours=2)).isoformat()},
    ])
    on_time, returned, late = (t["id"] for t in item["tasks"])
    for task_id in (on_time, returned, late):
        wait_for_task(stack, task_id)
    head, office = stack.as_("unit_head", lead), stack.tracking
    for action in ("sign", "submit"):
        act(head, on_time, action)
        act(head, returned, action)
    act(office, on_time, "review", decision="accept", comment="按期办结")
    act(office, returned, "review", decision="return", comment="缺少整改台账")

    advance_clock(stack, timedelta(hours=3))  # past the third task's deadline
    overdue = wait_until(lambda: envelopes(stack, OVERDUE, task_id=late), what="the overdue event")[0]
    reader = stack.scoring
    s = wait_until(lambda: len((s := score(reader, lead, year))["entries"]) == 3 and s,
                   what="the lead's three entries")
    accept_event, return_event = (
        next(e for e in envelopes(stack, STATUS_CHANGED, task_id=t) if e["data"]["action"] == a)
        for t, a in ((on_time, "accept"), (returned, "return")))

    assert rules_of(s["entries"]) == [("completed_on_time.lead", 1), ("returned.lead", -2),
                                      ("overdue.lead", -5)]
    assert s["total"] == 94 and s["points"] == -6
    for entry, event, task_id in zip(s["entries"], (accept_event, return_event, overdue),
                                     (on_time, returned, late), strict=True):
        assert entry["unit"] == lead and entry["rule_set_version"] == DEFAULT_VERSION
        assert (entry["cause_event_id"], entry["cause_event_type"]) == (event["id"], event["type"])
        assert (entry["item_id"], entry["task_id"]) == (item["id"], task_id)
        assert entry["links"] == {"item": f"/api/v1/items/{item['id']}", "task": f"/api/v1/tasks/{task_id}"}
        assert datetime.fromisoformat(entry["at"]) == datetime.fromisoformat(event["time"])
    assert stack.intake.get(s["entries"][0]["links"]["item"]).status_code == 200  # the links lead there
    assert stack.tracking.get(s["entries"][0]["links"]["task"]).json()["status"] == "accepted"
    assert "按期办结" in s["entries"][0]["reason"] and "退回重办" in s["entries"][1]["reason"]

    assert [(a["kind"], a["cause_event_id"]) for a in s["actions"]] == [("notice", overdue["id"])]
    notices = wait_until(lambda: published(stack, ACTION, unit=lead), what="the notice on the bus")
    assert [(n["kind"], n["cause_event_id"]) for n in notices] == [("notice", overdue["id"])]
    assert s["rates"] == {"tasks_due": 3, "completed": 1, "completed_on_time": 1,
                          "completion_rate": 0.3333, "on_time_rate": 0.3333, "return_rate": 0.5,
                          "reverification_rate": 0, "overdue_count": 1, "missed_report_count": 0}

    co = wait_until(lambda: len((c := score(reader, co_a, year))["entries"]) == 2 and c,
                    what="the first co-unit's entries")
    # a return costs the co-units nothing (0 points: no entry)
    assert rules_of(co["entries"]) == [("completed_on_time.co", 1), ("overdue.co", -3)]
    assert co["total"] == 98 and co["actions"] == []  # a co-unit's overdue task does not escalate
    assert [e["task_id"] for e in co["entries"]] == [on_time, late]
    assert co["rates"]["tasks_due"] == 0  # rates count the tasks a unit leads
    assert rules_of(score(reader, co_b, year)["entries"]) == [("completed_on_time.co", 1)]


def test_a_late_acceptance_costs_one_point_and_half_a_point_per_working_day(stack):
    """Due Wed 2026-09-30 17:30, accepted Sat 2026-10-10 (a 调休 working day after the National
    Day holiday): 3 working days late, so the lead loses 5 (overdue) + 1 + 0.5 × 3 and the co-unit
    3 (overdue) + 1."""
    lead, co = unit(), unit()
    set_clock(stack, beijing("2026-09-29T10:00:00"))
    try:
        item = register(stack, [{"lead_unit": lead, "co_units": [co], "due": "2026-09-30T17:30:00+08:00"}])
        task_id = item["tasks"][0]["id"]
        wait_for_task(stack, task_id)
        head = stack.as_("unit_head", lead)
        act(head, task_id, "sign")
        act(head, task_id, "submit", comment="整改完毕")
        set_clock(stack, beijing("2026-10-10T10:00:00"))
        wait_until(lambda: envelopes(stack, OVERDUE, task_id=task_id), what="the overdue event")
        act(stack.tracking, task_id, "review", decision="accept")
        accepted = wait_until(lambda: [e for e in envelopes(stack, STATUS_CHANGED, task_id=task_id)
                                       if e["data"]["action"] == "accept"], what="the acceptance")[0]
        assert accepted["data"]["working_days_late"] == 3

        reader = stack.scoring
        s = wait_until(lambda: len((s := score(reader, lead, "2026-10"))["entries"]) == 2 and s,
                       what="the overdue and late acceptance entries")
        assert rules_of(s["entries"]) == [("overdue.lead", -5), ("completed_late.lead", -2.5)]
        assert "逾期 3 个工作日" in s["entries"][1]["reason"]
        assert s["entries"][1]["cause_event_id"] == accepted["id"]
        assert s["total"] == 92.5
        assert score(reader, lead, "2026-Q4")["entries"] == score(reader, lead, "2026")["entries"] == s["entries"]
        assert score(reader, lead, "2026-09")["total"] == 100  # nothing happened in September
        co_score = wait_until(lambda: len((c := score(reader, co, "2026-H2"))["entries"]) == 2 and c,
                              what="the co-unit's entries")
        assert rules_of(co_score["entries"]) == [("overdue.co", -3), ("completed_late.co", -1)]
        assert co_score["total"] == 96
        rates = score(reader, lead, "2026-09")["rates"]  # the task was due in September
        assert (rates["tasks_due"], rates["completed"], rates["completed_on_time"], rates["on_time_rate"],
                rates["completion_rate"]) == (1, 1, 0, 0, 1)
        assert score(reader, lead, "2026-10")["rates"]["tasks_due"] == 0
    finally:
        set_clock(stack, datetime.now(UTC))


def test_a_bad_period_is_422(stack):
    for bad in ("2026-13", "2026-Q5", "26", "2026-W47"):
        response = stack.scoring.get(f"/api/v1/units/{unit()}/score", params={"period": bad})
        assert response.status_code == 422 and bad in response.json()["detail"]
        assert stack.scoring.get("/api/v1/rankings", params={"period": bad}).status_code == 422


# ---- 3. a month of 50 tasks across 5 units -------------------------------------------------------

D1, D2 = "2026-06-12T17:30:00+08:00", "2026-06-29T17:30:00+08:00"  # a Friday; a Monday
# Each unit leads ten tasks due in June 2026; how each goes (co-units by letter):
#   on_time     signed, submitted and accepted on 1 June                         +1 lead, +1 each co-unit
#   returned    returned once, submitted again and accepted on 1 June            −2 lead, then +1
#   reverified  sent for re-verification (复核), then accepted on 1 June          +1
#   late        submitted, not reviewed by D1, overdue; accepted Tue 16 June,    −5 lead / −3 co, then
#               2 working days late (15th, 16th)                                 −1 −0.5×2 lead / −1 co
#   overdue     signed, still open on 16 June                                    −5 lead / −3 co
#   unreported  as overdue, with a 旬 reporting cycle: the 1–10 June report,      −5 and −1
#               due 12 June, never came
#   open        due D2 (29 June), still open on 16 June                          nothing yet
PLAN = {
    "A": [("on_time", "E"), ("on_time", "E")] + [("on_time", "")] * 8,
    "B": [("on_time", "")] * 7 + [("returned", "")] * 2 + [("open", "")],
    "C": [("on_time", "")] * 5 + [("reverified", ""), ("late", "A"), ("overdue", ""), ("open", ""),
                                  ("open", "")],
    "D": [("on_time", "")] * 4 + [("returned", ""), ("reverified", ""), ("overdue", "B"), ("overdue", ""),
                                  ("open", ""), ("open", "")],
    "E": [("on_time", "")] * 2 + [("unreported", ""), ("overdue", ""), ("overdue", "")] + [("open", "")] * 5,
}
# Worked out by hand. Besides the tasks: the committee commends A (+5), the office criticises E (−3).
#
# unit | points                                                          | total | rank
# A    | +10 on time; −3 −1 as co-unit of C's late task; +5 commendation | 111   | 1
# B    | +9 on time (7 + 2 returned); −2 × 2 returns; −3 co of D overdue | 102   | 2
# C    | +6 on time (5 + reverified); −5 × 2 overdue; −2 late acceptance | 94    | 3 (tie)
# D    | +6 on time (4 + returned + reverified); −2 return; −5 × 2       | 94    | 3 (tie)
# E    | +2 on time; +1 +1 co of A's; −5 × 3 overdue; −1 missed; −3      | 85    | 5
#
# Rates, of the ten tasks each unit leads (submitted: at least once; returned / re-verified: of those):
# unit | done | on time | submitted | returned | re-verified | completion | on time | return | re-verif. | overdue | missed
# A    | 10   | 10      | 10        | 0        | 0           | 1          | 1       | 0      | 0         | 0       | 0
# B    | 9    | 9       | 9         | 2        | 0           | 0.9        | 0.9     | 0.2222 | 0         | 0       | 0
# C    | 7    | 6       | 7         | 0        | 1           | 0.7        | 0.6     | 0      | 0.1429    | 2       | 0
# D    | 6    | 6       | 6         | 1        | 1           | 0.6        | 0.6     | 0.1667 | 0.1667    | 2       | 0
# E    | 2    | 2       | 2         | 0        | 0           | 0.2        | 0.2     | 0      | 0         | 3       | 1
EXPECTED = {  # unit: (rank, total, completed, on time, completion, on-time, return, re-verif., overdue, missed)
    "A": (1, 111, 10, 10, 1, 1, 0, 0, 0, 0),
    "B": (2, 102, 9, 9, 0.9, 0.9, 0.2222, 0, 0, 0),
    "C": (3, 94, 7, 6, 0.7, 0.6, 0, 0.1429, 2, 0),
    "D": (3, 94, 6, 6, 0.6, 0.6, 0.1667, 0.1667, 2, 0),
    "E": (5, 85, 2, 2, 0.2, 0.2, 0, 0, 3, 1),
}
EXPECTED_ENTRIES = {
    "A": {("completed_on_time.lead", 1): 10, ("overdue.co", -3): 1, ("completed_late.co", -1): 1,
          ("commendation.committee", 5): 1},
    "B": {("completed_on_time.lead", 1): 9, ("returned.lead", -2): 2, ("overdue.co", -3): 1},
    "C": {("completed_on_time.lead", 1): 6, ("overdue.lead", -5): 2, ("completed_late.lead", -2): 1},
    "D": {("completed_on_time.lead", 1): 6, ("returned.lead", -2): 1, ("overdue.lead", -5): 2},
    "E": {("completed_on_time.lead", 1): 2, ("completed_on_time.co", 1): 2, ("overdue.lead", -5): 3,
          ("report_missed.lead", -1): 1, ("criticism.office", -3): 1},
}
EXPECTED_ACTIONS = {"A": [], "B": [], "C": ["notice", "written_inquiry"], "D": ["notice", "written_inquiry"],
                    "E": ["notice", "written_inquiry", "talk"]}
NAMES = {"A": "甲局", "B": "乙局", "C": "丙局", "D": "丁局", "E": "戊局"}


def _standings(ranking: dict, letter_of: dict[str, str]) -> dict[str, tuple]:
    return {letter_of[s["unit"]]: (s["rank"], s["total"], s["rates"]["completed"], s["rates"]["completed_on_time"],
                                   s["rates"]["completion_rate"], s["rates"]["on_time_rate"],
                                   s["rates"]["return_rate"], s["rates"]["reverification_rate"],
                                   s["rates"]["overdue_count"], s["rates"]["missed_report_count"])
            for s in ranking["units"]}


def _drive(stack: ServiceStack, tenant: str, task: dict, fate: str) -> None:
    head, office = stack.as_("unit_head", task["lead_unit"], tenant=tenant), stack.as_("office", tenant=tenant)
    steps = {
        "on_time": [(head, "sign", {}), (head, "submit", {}), (office, "review", {"decision": "accept"})],
        "returned": [(head, "sign", {}), (head, "submit", {}),
                     (office, "review", {"decision": "return", "comment": "佐证材料不全"}),
                     (head, "submit", {"comment": "已补充"}), (office, "review", {"decision": "accept"})],
        "reverified": [(head, "sign", {}), (head, "submit", {}),
                       (office, "review", {"decision": "reverify", "comment": "复核现场"}),
                       (office, "review", {"decision": "accept"})],
        "late": [(head, "sign", {}), (head, "submit", {})],
        "overdue": [(head, "sign", {})],
        "unreported": [(head, "sign", {})],
        "open": [],
    }[fate]
    for client, action, body in steps:
        act(client, task["id"], action, **body)


@pytest.fixture(scope="module")
def june(stack):
    """Tenant-of-its-own month: 5 units, 50 tasks due in June 2026, driven as PLAN says; returns
    the ids and what scoring showed on 16 June (before the clock goes back to today)."""
    tenant = f"june-{uuid.uuid4().hex[:8]}"
    ids = {letter: unit() for letter in PLAN}
    letter_of = {u: letter for letter, u in ids.items()}
    admin = stack.as_("admin", service="intake", tenant=tenant)
    for letter, unit_id in ids.items():
        response = admin.post("/api/v1/units", json={"id": unit_id, "name": NAMES[letter], "parent_id": None})
        assert response.status_code == 201, response.text
    office = scoring(stack, tenant=tenant)
    wait_until(lambda: len(office.get("/api/v1/rankings", params={"period": "2026-06"}).json()["units"]) == 5,
               what="scoring's copy of the five units")

    # The month holds exactly the fifty tasks worked out by hand: no follow-up items for the
    # written inquiries and talks it triggers (those are tested on their own).
    set_clock(stack, beijing("2026-05-29T09:00:00"))
    try:
        admin = scoring(stack, "admin", tenant=tenant)
        assert publish(admin, rule_set("june-2026", follow_up={})).status_code == 201
        assert admin.post("/api/v1/rule-sets/switch", json={"version": "june-2026", "from_period": "2026-06"}
                          ).status_code == 200
        set_clock(stack, beijing("2026-06-01T09:00:00"))
        fates: dict[str, str] = {}
        tasks: list[dict] = []
        for letter, plan in PLAN.items():
            item = register(stack, tenant=tenant, title=f"{NAMES[letter]}2026年6月重点工作", tasks=[
                {"lead_unit": ids[letter], "co_units": [ids[c] for c in co], "due": D2 if fate == "open" else D1,
                 "title": f"{NAMES[letter]}任务{n + 1}",
                 "reporting_cycle": "ten_days" if fate == "unreported" else "none"}
                for n, (fate, co) in enumerate(plan)])
            for t, (fate, _) in zip(item["tasks"], plan, strict=True):
                fates[t["id"]] = fate
                tasks.append(t)
        assert len(tasks) == 50
        ledger = stack.as_("office", tenant=tenant)
        wait_until(lambda: ledger.get("/api/v1/tasks", params={"with_total": "true", "limit": 500}
                                      ).json()["total"] == 50, what="tracking to file the 50 tasks")
        for t in tasks:
            _drive(stack, tenant, t, fates[t["id"]])

        set_clock(stack, beijing("2026-06-16T09:00:00"))  # Tuesday, after D1
        flagged = {t for t, f in fates.items() if f in ("late", "overdue", "unreported")}
        wait_until(lambda: flagged <= {e["task_id"] for e in published(stack, OVERDUE)},
                   what="the seven overdue events")
        unreported = next(t for t, f in fates.items() if f == "unreported")
        missed = wait_until(lambda: published(stack, REPORT_MISSED, task_id=unreported), what="the missed report")
        assert [m["period"] for m in missed] == ["2026-06-1"]
        late = next(t for t, f in fates.items() if f == "late")
        act(stack.as_("office", tenant=tenant), late, "review", decision="accept", comment="逾期办结")
        bulletin(office, "commendation", "committee", [ids["A"]], reason="六月督办工作成效突出")
        bulletin(office, "criticism", "office", [ids["E"]], persons=["王五"], reason="多项任务逾期")

        wanted = {letter: (row[1], row[8], row[9]) for letter, row in EXPECTED.items()}
        wait_until(lambda: {k: (v[1], v[8], v[9]) for k, v in _standings(
            office.get("/api/v1/rankings", params={"period": "2026-06"}).json(), letter_of).items()} == wanted,
            timeout=60, what="scoring to take in the month")
        seen = {
            "ranking": office.get("/api/v1/rankings", params={"period": "2026-06"}).json(),
            "normalised": office.get("/api/v1/rankings", params={"period": "2026-06", "normalise": "true"}).json(),
            "scores": {letter: score(office, u, "2026-06") for letter, u in ids.items()},
        }
    finally:
        set_clock(stack, datetime.now(UTC))
    return {"tenant": tenant, "ids": ids, "letter_of": letter_of, "fates": fates, **seen}


def test_a_month_of_fifty_tasks_scores_rates_and_ranks_as_worked_out_by_hand(stack, june):
    ids, letter_of = june["ids"], june["letter_of"]
    ranking = june["ranking"]
    assert ranking["period"] == "2026-06" and ranking["normalised"] is False
    assert _standings(ranking, letter_of) == EXPECTED
    # Highest first; C and D share rank 3 (listed by unit id) and E comes 5th, not 4th.
    assert [letter_of[s["unit"]] for s in ranking["units"]][:2] == ["A", "B"]
    assert [s["rank"] for s in ranking["units"]] == [1, 2, 3, 3, 5]
    assert [s["unit"] for s in ranking["units"]][2:4] == sorted([ids["C"], ids["D"]])
    assert all(s["workload"] == 10 and s["rates"]["tasks_due"] == 10 for s in ranking["units"])
    assert [s["name"] for s in ranking["units"]] == [NAMES[letter_of[s["unit"]]] for s in ranking["units"]]
    # Everyone leads ten tasks: scaling to the average workload changes nothing.
    assert [(s["unit"], s["score"], s["rank"]) for s in june["normalised"]["units"]] == [
        (s["unit"], s["total"], s["rank"]) for s in ranking["units"]]

    for letter, s in june["scores"].items():
        rank, total, *_ = EXPECTED[letter]
        assert s["total"] == total and s["base"] == 100, letter
        assert Counter((e["rule"], e["points"]) for e in s["entries"]) == EXPECTED_ENTRIES[letter], letter
        assert [a["kind"] for a in s["actions"]] == EXPECTED_ACTIONS[letter], letter
        assert s["award_eligible"] is True
        assert all(datetime.fromisoformat(e["at"]).astimezone(BEIJING).month == 6 for e in s["entries"])
        assert s["rates"] == next(x["rates"] for x in ranking["units"] if x["unit"] == ids[letter])
    late = next(e for e in june["scores"]["C"]["entries"] if e["rule"] == "completed_late.lead")
    assert "逾期 2 个工作日" in late["reason"] and june["fates"][late["task_id"]] == "late"

    # After the clock went back to today, June is what it was (the open tasks fell overdue in November).
    office = scoring(stack, tenant=june["tenant"])
    again = office.get("/api/v1/rankings", params={"period": "2026-06"}).json()
    assert _standings(again, letter_of) == EXPECTED
    # A unit's own view of the ranking is its subtree; the office may narrow it the same way.
    mine = scoring(stack, "unit_head", ids["C"], tenant=june["tenant"]).get(
        "/api/v1/rankings", params={"period": "2026-06"}).json()
    assert [(s["unit"], s["rank"], s["total"]) for s in mine["units"]] == [(ids["C"], 1, 94)]
    assert mine["under"] == ids["C"]
    narrowed = office.get("/api/v1/rankings", params={"period": "2026-06", "under": ids["E"]}).json()
    assert [(s["unit"], s["total"]) for s in narrowed["units"]] == [(ids["E"], 85)]


# ---- 4. appeals ----------------------------------------------------------------------------------


def test_an_appeal_reversed_books_a_compensating_entry_and_upheld_changes_nothing(stack):
    lead, other, year = unit(), unit(), this_year(stack)
    office, head = stack.scoring, scoring(stack, "unit_head", lead)
    first = bulletin(office, "criticism", "office", [lead], persons=["李四"], reason="台账不实")
    second = bulletin(office, "criticism", "office", [lead], persons=["李四"], reason="迟报漏报")
    before = score(office, lead, year)
    assert before["total"] == 94 and [a["kind"] for a in before["actions"]] == ["admonishment"]
    contested = next(e for e in before["entries"] if e["cause_event_id"] == second["id"])

    assert office.post("/api/v1/appeals", json={"entry_id": contested["id"], "reason": "x"}).status_code == 403
    stranger = scoring(stack, "unit_head", other)
    response = stranger.post("/api/v1/appeals", json={"entry_id": contested["id"], "reason": "不是我单位"})
    assert response.status_code == 404
    assert head.post("/api/v1/appeals", json={"entry_id": 10**9, "reason": "x"}).status_code == 404
    assert head.post("/api/v1/appeals", json={"entry_id": contested["id"]}).status_code == 422

    filed = head.post("/api/v1/appeals", json={"entry_id": contested["id"], "reason": "已按时报送，有回执"})
    assert filed.status_code == 201, filed.text
    appeal = filed.json()
    assert (appeal["entry_id"], appeal["unit"], appeal["status"], appeal["filed_by"]) == (
        contested["id"], lead, "pending", f"unit_head@{lead}")
    again = head.post("/api/v1/appeals", json={"entry_id": contested["id"], "reason": "再次申诉"})
    assert again.status_code == 409 and "pending" in again.json()["detail"]
    assert head.get(f"/api/v1/appeals/{appeal['id']}").json() == appeal
    assert stranger.get(f"/api/v1/appeals/{appeal['id']}").status_code == 404

    decided = office.post(f"/api/v1/appeals/{appeal['id']}/decide",
                          json={"decision": "reverse", "comment": "核实有回执，撤销批评"})
    assert decided.status_code == 200, decided.text
    assert (decided.json()["status"], decided.json()["decided_by"], decided.json()["comment"]) == (
        "reversed", "office@default", "核实有回执，撤销批评")
    assert office.post(f"/api/v1/appeals/{appeal['id']}/decide", json={"decision": "uphold"}).status_code == 409

    after = score(office, lead, year)
    assert after["entries"][:2] == before["entries"]  # the original, unchanged, still listed
    reversal = after["entries"][2]
    assert (reversal["rule"], reversal["points"], reversal["cause_event_type"]) == (
        "appeal.reversal", 3, "duban.scoring.appeal.decided.v1")
    assert "criticism.office" in reversal["reason"]
    assert after["total"] == 97
    # The reversed criticism no longer counts: one criticism left, no admonishment.
    assert after["actions"] == [] and after["award_eligible"] is True
    # An entry is contested once; the compensating entry cannot be contested either.
    for entry_id in (contested["id"], reversal["id"]):
        assert head.post("/api/v1/appeals", json={"entry_id": entry_id, "reason": "x"}).status_code == 409

    third = bulletin(office, "criticism", "office", [lead], persons=["赵六"], reason="第三次")
    s = score(office, lead, year)
    assert s["total"] == 94
    # Two criticisms count (the first and the third): admonished, still eligible for awards.
    assert [(a["kind"], a["cause_event_id"], a["persons"]) for a in s["actions"]] == [
        ("admonishment", third["id"], ["李四", "赵六"])]
    assert s["award_eligible"] is True

    first_entry = next(e for e in s["entries"] if e["cause_event_id"] == first["id"])
    upheld = head.post("/api/v1/appeals", json={"entry_id": first_entry["id"], "reason": "理由不充分"}).json()
    decided = office.post(f"/api/v1/appeals/{upheld['id']}/decide", json={"decision": "uphold"})
    assert decided.status_code == 200 and decided.json()["status"] == "upheld"
    assert score(office, lead, year)["entries"] == s["entries"]  # nothing booked
    assert head.post("/api/v1/appeals", json={"entry_id": first_entry["id"], "reason": "x"}).status_code == 409


def test_an_overdue_penalty_reversed_on_appeal_no_longer_escalates(stack):
    lead = unit()
    item = register(stack, [{"lead_unit": lead, "due": (simulated_now(stack) + timedelta(hours=2)).isoformat()}])
    wait_for_task(stack, item["tasks"][0]["id"])
    advance_clock(stack, timedelta(hours=3))
    year, office = this_year(stack), stack.scoring
    s = wait_until(lambda: (s := score(office, lead, year))["actions"] and s, what="the overdue entry")
    assert rules_of(s["entries"]) == [("overdue.lead", -5)] and [a["kind"] for a in s["actions"]] == ["notice"]
    appeal = scoring(stack, "unit_head", lead).post("/api/v1/appeals", json={
        "entry_id": s["entries"][0]["id"], "reason": "已获批延期，系统未及时更新"}).json()
    assert office.post(f"/api/v1/appeals/{appeal['id']}/decide", json={"decision": "reverse"}).status_code == 200
    after = score(office, lead, year)
    assert rules_of(after["entries"]) == [("overdue.lead", -5), ("appeal.reversal", 5)]
    assert after["total"] == 100 and after["actions"] == []
    assert after["rates"]["overdue_count"] == 1  # the task did go overdue; only its penalty is reversed


def _resend(stack: ServiceStack, event: dict) -> None:
    """Publish a CloudEvent again under a new Nats-Msg-Id, as a producer retrying after a lost ack would."""
    async def send() -> None:
        nc = await nats.connect(stack.nats.url)
        try:
            await nc.jetstream().publish(event["type"], json.dumps(event).encode(),
                                         headers={"Nats-Msg-Id": uuid.uuid4().hex})
        finally:
            await nc.close()
    asyncio.run(send())


def test_a_written_inquiry_opens_one_follow_up_item_due_in_five_working_days(stack):
    lead, intake = unit(), stack.as_("office", service="intake")
    set_clock(stack, beijing("2026-09-22T10:00:00"))  # a Tuesday before 中秋 and 国庆
    try:
        item = register(stack, [{"lead_unit": lead, "due": beijing("2026-09-23T17:30:00").isoformat()}] * 2)
        for t in item["tasks"]:
            wait_for_task(stack, t["id"])
        set_clock(stack, beijing("2026-09-24T10:00:00"))  # both overdue: 通报, then 函询
        inquiry = wait_until(lambda: envelopes(stack, ACTION, unit=lead, kind="written_inquiry"),
                             what="the written inquiry")[0]
        assert inquiry["data"]["follow_up_working_days"] == 5
        assert [e["data"]["follow_up_working_days"] for e in envelopes(stack, ACTION, unit=lead, kind="notice")
                ] == [None]
        head = stack.as_("unit_head", lead, service="tracking")

        def follow_ups() -> list[dict]:
            return [t for t in head.get("/api/v1/tasks").json()["items"] if t["item_id"] != item["id"]]
        [follow_up] = wait_until(follow_ups, what="the follow-up task in tracking")
        # Five working days after Thursday 24 Sep: 25 Sep and 1–7 Oct are holidays (中秋, 国庆).
        assert datetime.fromisoformat(follow_up["due"]) == beijing("2026-10-09T17:30:00")
        assert (follow_up["title"], follow_up["urgency"], follow_up["status"]) == (
            "就函询事项作出书面说明", "urgent", "assigned")
        opened = intake.get(f"/api/v1/items/{follow_up['item_id']}").json()
        assert (opened["title"], opened["regime"], opened["source"]) == (
            "2026年度考核函询整改", "time_limited", {"kind": "other", "ref": f"考核函询 {inquiry['id']}"})
        assert inquiry["data"]["reason"] in opened["requirements"]

        _resend(stack, inquiry)  # the same action again: still one follow-up item
        other = unit()
        _resend(stack, {**inquiry, "id": uuid.uuid4().hex, "data": {**inquiry["data"], "unit": other}})
        wait_until(lambda: stack.as_("unit_head", other, service="tracking").get("/api/v1/tasks").json()["items"],
                   what="the second unit's follow-up, after the resent one")
        assert len(follow_ups()) == 1
    finally:
        set_clock(stack, datetime.now(UTC))


# ---- 5. rule sets --------------------------------------------------------------------------------

DEFAULT_YAML = yaml.safe_load(open(__file__.replace("tests/e2e/test_scoring.py",
                                                    "services/scoring/rulesets/default.yaml"),
                                   encoding="utf-8"))


def rule_set(version: str, **changes) -> dict:
    document = json.loads(json.dumps(DEFAULT_YAML))
    document["version"] = version
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = document
        for key in parents:
            node = node[key]
        node[last] = value
    return document


def publish(client, document: dict | str, as_yaml: bool = True):
    if isinstance(document, str):
        body, kind = document, "application/yaml"
    elif as_yaml:
        body, kind = yaml.safe_dump(document, allow_unicode=True), "application/yaml"
    else:
        body, kind = json.dumps(document, ensure_ascii=False), "application/json"
    return client.post("/api/v1/rule-sets", content=body.encode(), headers={"content-type": kind})


def test_an_invalid_rule_set_is_422_naming_each_bad_field(stack):
    admin = scoring(stack, "admin", tenant=f"rules-{uuid.uuid4().hex[:8]}")
    bad = rule_set("bad version!", base_score=-5, points__returned__lead="lots", bonus=1)
    del bad["points"]["overdue"]
    bad["thresholds"]["escalation"].append({"count": 4, "action": "firing"})
    for as_yaml in (True, False):
        response = publish(admin, bad, as_yaml=as_yaml)
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert detail["message"] == "invalid rule set"
        assert sorted(tuple(e["loc"]) for e in detail["errors"]) == sorted([
            ("version",), ("base_score",), ("points", "returned", "lead"), ("points", "overdue"),
            ("thresholds", "escalation", 3, "action"), ("bonus",)])
    unordered = rule_set("v-unordered", thresholds__escalation=[{"count": 2, "action": "talk"},
                                                                {"count": 1, "action": "notice"}])
    errors = publish(admin, unordered).json()["detail"]["errors"]
    assert [(e["loc"], "rise step by step" in e["msg"]) for e in errors] == [(["thresholds"], True)]
    for garbage in ("version: [unclosed", '{"version": "x",', "", "- just\n- a list\n"):
        response = publish(admin, garbage)
        assert response.status_code == 422, garbage
        assert response.json()["detail"]["errors"][0]["loc"] == []
    assert [r["version"] for r in admin.get("/api/v1/rule-sets").json()] == [DEFAULT_VERSION]


def test_rule_set_versions_are_immutable_and_a_switch_scores_facts_from_its_period_on(stack):
    tenant = f"rules-{uuid.uuid4().hex[:8]}"
    admin, office = scoring(stack, "admin", tenant=tenant), scoring(stack, tenant=tenant)
    stricter = rule_set("strict-2026.12", name="从严考核细则", points__criticism__office=-4,
                        points__commendation__office=4)
    created = publish(admin, stricter)
    assert created.status_code == 201, created.text
    assert (created.json()["version"], created.json()["name"], created.json()["published_by"]) == (
        "strict-2026.12", "从严考核细则", f"admin@{tenant}")
    same = publish(admin, stricter, as_yaml=False)  # the same rules again, as JSON
    assert same.status_code == 201 and same.json() == created.json()
    changed = publish(admin, {**stricter, "base_score": 90})
    assert changed.status_code == 409 and "strict-2026.12" in changed.json()["detail"]
    assert publish(admin, rule_set(DEFAULT_VERSION)).status_code == 201  # the default, as it is
    assert publish(admin, rule_set(DEFAULT_VERSION, base_score=90)).status_code == 409
    listed = admin.get("/api/v1/rule-sets").json()
    assert [r["version"] for r in listed] == [DEFAULT_VERSION, "strict-2026.12"]
    assert listed[1]["rules"]["points"]["criticism"] == {"committee": -5, "office": -4}
    assert listed[0]["rules"]["points"]["late_per_working_day"] == {"lead": -0.5, "co": 0, "cap": -5}
    assert publish(admin, listed[1]["rules"], as_yaml=False).json() == created.json()  # read back, sent back

    assert admin.post("/api/v1/rule-sets/switch", json={"version": "nope", "from_period": "2026-12"}
                      ).status_code == 404
    assert admin.post("/api/v1/rule-sets/switch", json={"version": "strict-2026.12", "from_period": "12/2026"}
                      ).status_code == 422
    assert office.post("/api/v1/periods/2026-10/close").status_code == 201
    closed = admin.post("/api/v1/rule-sets/switch", json={"version": "strict-2026.12", "from_period": "2026-10"})
    assert closed.status_code == 409 and "closed" in closed.json()["detail"]

    lead = unit()
    set_clock(stack, beijing("2026-11-20T10:00:00"))
    try:
        november = bulletin(office, "criticism", "office", [lead], reason="十一月")
        switched = admin.post("/api/v1/rule-sets/switch",
                              json={"version": "strict-2026.12", "from_period": "2026-12"})
        assert switched.status_code == 200, switched.text
        assert switched.json() == {"version": "strict-2026.12", "from": "2026-12-01"}
        still_november = bulletin(office, "criticism", "office", [lead], reason="仍是十一月")
        set_clock(stack, beijing("2026-12-01T10:00:00"))
        december = bulletin(office, "criticism", "office", [lead], reason="十二月")
        praised = bulletin(office, "commendation", "office", [lead], reason="整改到位")
    finally:
        set_clock(stack, datetime.now(UTC))

    assert [datetime.fromisoformat(b["issued_at"]).astimezone(BEIJING).month
            for b in (november, still_november, december, praised)] == [11, 11, 12, 12]
    nov, dec = score(office, lead, "2026-11"), score(office, lead, "2026-12")
    assert [(e["cause_event_id"], e["rule_set_version"], e["points"]) for e in nov["entries"]] == [
        (november["id"], DEFAULT_VERSION, -3), (still_november["id"], DEFAULT_VERSION, -3)]
    assert [(e["cause_event_id"], e["rule_set_version"], e["points"]) for e in dec["entries"]] == [
        (december["id"], "strict-2026.12", -4), (praised["id"], "strict-2026.12", 4)]
    assert (nov["total"], dec["total"], score(office, lead, "2026")["total"]) == (94, 100, 94)


def test_a_rule_set_without_rankings_makes_rankings_409_from_its_period_on(stack):
    tenant = f"rules-{uuid.uuid4().hex[:8]}"
    admin, office = scoring(stack, "admin", tenant=tenant), scoring(stack, tenant=tenant)
    assert publish(admin, rule_set("no-ranks-1", rankings={"enabled": False})).status_code == 201
    set_clock(stack, beijing("2026-11-20T10:00:00"))
    try:
        response = admin.post("/api/v1/rule-sets/switch", json={"version": "no-ranks-1", "from_period": "2026-12"})
        assert response.status_code == 200, response.text
        for period in ("2026-12", "2027"):
            refused = office.get("/api/v1/rankings", params={"period": period})
            assert refused.status_code == 409 and "no-ranks-1" in refused.json()["detail"], period
        for period in ("2026-11", "2026"):
            assert office.get("/api/v1/rankings", params={"period": period}).status_code == 200, period
    finally:
        set_clock(stack, datetime.now(UTC))


def test_a_rule_set_cannot_be_switched_for_a_period_that_has_begun(stack):
    """A period is scored by one rule set: a switch in its middle would score its first facts by
    one set live and, in a replay, maybe otherwise; so it is refused and changes nothing."""
    tenant = f"rules-{uuid.uuid4().hex[:8]}"
    admin, office = scoring(stack, "admin", tenant=tenant), scoring(stack, tenant=tenant)
    assert publish(admin, rule_set("late-1", points__criticism__office=-9)).status_code == 201
    set_clock(stack, beijing("2026-11-20T10:00:00"))
    try:
        lead = unit()
        for begun in ("2026-11", "2026-Q4", "2026-H2", "2026", "2026-01"):
            refused = admin.post("/api/v1/rule-sets/switch", json={"version": "late-1", "from_period": begun})
            assert refused.status_code == 409 and "has begun" in refused.json()["detail"], begun
        bulletin(office, "criticism", "office", [lead], reason="十一月")
        assert [e["rule_set_version"] for e in score(office, lead, "2026-11")["entries"]] == [DEFAULT_VERSION]
        assert not envelopes(stack, "duban.scoring.rule_set.switched.v1", version="late-1")
    finally:
        set_clock(stack, datetime.now(UTC))


# ---- 6. periods ----------------------------------------------------------------------------------

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADER = ["名次", "单位", "单位编号", "总分", "任务数", "办结率", "按期办结率", "退回率", "复查复议率", "逾期数",
          "漏报数"]


def test_closing_a_period_keeps_its_report_and_exports_it_to_excel(stack, june):
    office, letter_of, ids = scoring(stack, tenant=june["tenant"]), june["letter_of"], june["ids"]
    closed = office.post("/api/v1/periods/2026-06/close")
    assert closed.status_code == 201, closed.text
    report = closed.json()
    assert report["period"] == "2026-06" and _standings(report, letter_of) == EXPECTED
    again = office.post("/api/v1/periods/2026-06/close")
    assert again.status_code == 409 and "already closed" in again.json()["detail"]
    assert office.get("/api/v1/periods/2026-06/report").json() == report
    assert score(office, ids["A"], "2026-06")["closed"] is True
    assert score(office, ids["A"], "2026-07")["closed"] is False

    # A fact dated in June after the close: the unit's live score moves, the kept report does not.
    set_clock(stack, beijing("2026-06-20T10:00:00"))
    try:
        late_news = bulletin(office, "criticism", "office", [ids["A"]], reason="六月补充通报")
    finally:
        set_clock(stack, datetime.now(UTC))
    assert datetime.fromisoformat(late_news["issued_at"]).astimezone(BEIJING).date().isoformat() == "2026-06-20"
    assert score(office, ids["A"], "2026-06")["total"] == 108
    assert office.get("/api/v1/periods/2026-06/report").json() == report

    exported = office.get("/api/v1/periods/2026-06/export")
    assert exported.status_code == 200
    assert exported.headers["content-type"] == XLSX
    assert 'filename="duban-scores-2026-06.xlsx"' in exported.headers["content-disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(exported.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == HEADER
    assert len(rows) == 6
    by_letter = {letter_of[r[2]]: r for r in rows[1:]}
    for letter, (rank, total, _done, _on_time, completion, on_time, ret, reverif, overdue, missed) in EXPECTED.items():
        assert by_letter[letter] == (rank, NAMES[letter], ids[letter], total, 10, completion, on_time, ret,
                                     reverif, overdue, missed), letter
    assert [r[0] for r in rows[1:]] == [1, 2, 3, 3, 5]
    assert sheet.title == "考核 2026-06" and sheet["F2"].number_format == "0.00%"

    # An open period's report is as of now; a bad period is 422.
    july = office.get("/api/v1/periods/2026-07/report").json()
    assert {s["unit"]: (s["total"], s["workload"]) for s in july["units"]} == {u: (100, 0) for u in ids.values()}
    assert office.get("/api/v1/periods/2026-13/report").status_code == 422
    assert office.post("/api/v1/periods/June/close").status_code == 422


# ---- 7. who may call scoring's routes --------------------------------------------------------------

OTHER = "other"


@pytest.fixture(scope="module")
def tree(stack):
    """P → C and O in tenant "default", known to scoring's copy of the org tree."""
    ids = org_units(stack, {"单位P": None, "单位C": "单位P", "单位O": None})
    units = {"P": ids["单位P"], "C": ids["单位C"], "O": ids["单位O"], "X": unit()}
    office = scoring(stack, "office")
    known = {units["P"], units["C"], units["O"]}
    wait_until(lambda: known <= {s["unit"] for s in office.get("/api/v1/rankings").json()["units"]},
               what="scoring's copy of the tree")
    head = scoring(stack, "unit_head", units["P"])
    wait_until(lambda: head.get(f"/api/v1/units/{units['C']}/score").status_code == 200,
               what="C under P in scoring's copy of the tree")
    return units


def _caller(stack, tree, role, where, tenant="default"):
    return scoring(stack, role, tree.get(where, where) if where else None, tenant=tenant)


def _ranking_cases():
    for role in ROLES:  # bound to P: its subtree, by default or asked for; nothing outside it
        yield role, "P", "default", None, 200, {"P", "C"}
        yield role, "P", "default", "C", 200, {"C"}
        yield role, "P", "default", "O", 403, None
        yield role, "C", "default", "P", 403, None
        yield role, "X", OTHER, "P", 403, None  # the default tenant's P is not in X's scope
        yield role, "X", OTHER, None, 200, {"X"}
    for role in TENANT_WIDE:
        yield role, None, "default", "P", 200, {"P", "C"}
        yield role, None, "default", None, 200, {"P", "C", "O"}  # (and every other unit)
        yield role, None, OTHER, None, 200, set()  # its own tenant: nothing of the default's


@pytest.mark.parametrize("role,where,tenant,under,status,expected", [
    pytest.param(*c, id=f"{c[0]}@{c[1] or 'tenant'}.{c[2]}-under-{c[3]}-{c[4]}") for c in _ranking_cases()])
def test_access_rankings(stack, tree, role, where, tenant, under, status, expected):
    params = {"under": tree[under]} if under else {}
    response = _caller(stack, tree, role, where, tenant).get("/api/v1/rankings", params=params)
    assert response.status_code == status, response.text
    if status == 200:
        listed = {s["unit"] for s in response.json()["units"]}
        named = {tree[k] for k in expected}
        assert listed == named if (where or under) else named <= listed
        if tenant == OTHER:
            assert not listed & {tree["P"], tree["C"], tree["O"]}


@pytest.mark.parametrize("role,where,units,status", [
    ("admin", None, ["P", "O"], 201), ("office", None, ["C", "O"], 201),
    ("office", "P", ["P", "C"], 201), ("office", "P", ["C", "O"], 403), ("office", "C", ["P"], 403),
    ("admin", "P", ["O"], 403),
    *[(r, None, ["P"], 403) for r in ("leader", "viewer")],
    *[(r, "P", ["P"], 403) for r in ("leader", "viewer", "unit_head", "unit_handler")],
])
def test_access_bulletins(stack, tree, role, where, units, status):
    year = this_year(stack)
    before = {k: score(stack.scoring, tree[k], year)["points"] for k in ("P", "C", "O")}
    response = _caller(stack, tree, role, where).post("/api/v1/bulletins", json={
        "kind": "commendation", "issuer": "office", "units": [tree[u] for u in units], "reason": "表扬"})
    assert response.status_code == status, response.text
    after = {k: score(stack.scoring, tree[k], year)["points"] for k in ("P", "C", "O")}
    assert after == {k: v + (3 if status == 201 and k in units else 0) for k, v in before.items()}


def test_access_bulletins_of_another_tenant_land_in_that_tenant(stack, tree):
    year = this_year(stack)
    before, elsewhere = score(stack.scoring, tree["P"], year), f"elsewhere-{uuid.uuid4().hex[:8]}"
    bulletin(scoring(stack, tenant=elsewhere), "criticism", "office", [tree["P"]], reason="另一租户")
    assert score(stack.scoring, tree["P"], year) == before  # unit ids are per tenant
    assert score(scoring(stack, tenant=elsewhere), tree["P"], year)["total"] == 97


def _criticise(stack, tree, key: str) -> dict:
    """A fresh criticism entry of unit ``key`` (so each appeal has its own)."""
    issued = bulletin(stack.scoring, "criticism", "office", [tree[key]], reason=f"通报{uuid.uuid4().hex[:4]}")
    entries = score(stack.scoring, tree[key], this_year(stack))["entries"]
    return next(e for e in entries if e["cause_event_id"] == issued["id"])


@pytest.mark.parametrize("role,where,tenant,status", [
    ("unit_head", "C", "default", 201), ("unit_head", "P", "default", 201),  # its unit, or above it
    ("unit_head", "O", "default", 404), ("unit_head", "X", OTHER, 404),
    ("unit_handler", "C", "default", 403),
    *[(r, None, "default", 403) for r in TENANT_WIDE],
    ("office", "P", "default", 403),
])
def test_access_filing_an_appeal(stack, tree, role, where, tenant, status):
    entry = _criticise(stack, tree, "C")
    response = _caller(stack, tree, role, where, tenant).post(
        "/api/v1/appeals", json={"entry_id": entry["id"], "reason": "申诉"})
    assert response.status_code == status, response.text


@pytest.fixture(scope="module")
def pending_appeal(stack, tree):
    entry = _criticise(stack, tree, "C")
    response = scoring(stack, "unit_head", tree["C"]).post(
        "/api/v1/appeals", json={"entry_id": entry["id"], "reason": "申诉"})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize("role,where,tenant,status", [
    *[(r, "P", "default", 200) for r in ROLES], *[(r, "C", "default", 200) for r in ROLES],
    *[(r, "O", "default", 404) for r in ROLES], *[(r, None, "default", 200) for r in TENANT_WIDE],
    *[(r, None, OTHER, 404) for r in TENANT_WIDE], ("unit_head", "X", OTHER, 404),
])
def test_access_reading_an_appeal(stack, tree, pending_appeal, role, where, tenant, status):
    response = _caller(stack, tree, role, where, tenant).get(f"/api/v1/appeals/{pending_appeal['id']}")
    assert response.status_code == status, response.text


@pytest.mark.parametrize("role,where,tenant,status", [
    ("office", None, OTHER, 404), ("office", "O", "default", 404),
    *[(r, None, "default", 403) for r in ("leader", "viewer")],
    *[(r, "C", "default", 403) for r in UNIT_ROLES],
    ("office", "P", "default", 200), ("admin", None, "default", 200), ("office", None, "default", 200),
])
def test_access_deciding_an_appeal(stack, tree, role, where, tenant, status):
    entry = _criticise(stack, tree, "C")
    appeal = scoring(stack, "unit_head", tree["C"]).post(
        "/api/v1/appeals", json={"entry_id": entry["id"], "reason": "申诉"}).json()
    response = _caller(stack, tree, role, where, tenant).post(
        f"/api/v1/appeals/{appeal['id']}/decide", json={"decision": "uphold"})
    assert response.status_code == status, response.text
    assert stack.scoring.get(f"/api/v1/appeals/{appeal['id']}").json()["status"] == (
        "upheld" if status == 200 else "pending")


@pytest.mark.parametrize("role,where,status", [
    ("admin", None, 201), ("admin", "P", 403),
    *[(r, None, 403) for r in ("office", "leader", "viewer")], *[(r, "P", 403) for r in UNIT_ROLES],
])
def test_access_publishing_and_switching_rule_sets(stack, tree, role, where, status):
    caller = _caller(stack, tree, role, where)
    version = f"v-{uuid.uuid4().hex[:8]}"
    assert publish(caller, rule_set(version)).status_code == status
    # A switch from far ahead to the default rules: allowed or not, it changes nothing today.
    switched = caller.post("/api/v1/rule-sets/switch", json={"version": DEFAULT_VERSION, "from_period": "2099"})
    assert switched.status_code == (200 if status == 201 else status)
    listed = caller.get("/api/v1/rule-sets")
    assert listed.status_code == 200
    assert (version in {r["version"] for r in listed.json()}) is (status == 201)


@pytest.mark.parametrize("role,where,close,read", [
    ("admin", None, 201, 200), ("office", None, 201, 200),
    *[(r, None, 403, 200) for r in ("leader", "viewer")],
    *[(r, "P", 403, 403) for r in ROLES],  # a subtree is not the tenant: /rankings?under= is theirs
])
def test_access_periods(stack, tree, role, where, close, read):
    tenant = f"periods-{uuid.uuid4().hex[:8]}"  # each closes its own tenant's period
    caller = _caller(stack, tree, role, where, tenant)
    assert caller.post("/api/v1/periods/2026-05/close").status_code == close
    assert caller.get("/api/v1/periods/2026-05/report").status_code == read
    exported = caller.get("/api/v1/periods/2026-05/export")
    assert exported.status_code == read
    if read == 200:
        assert exported.headers["content-type"] == XLSX


def test_normalised_rankings_weigh_each_task_by_its_urgency(stack):
    """Two units leading two tasks each in a month, one's 特急: its workload is 4 (2 × 2), the
    other's 2; the ranking shows the weighed workload the normalisation scales by."""
    busy, calm = unit(), unit()
    due = "2027-03-15T17:30:00+08:00"
    for lead, urgency in ((busy, "extra_urgent"), (calm, "normal")):
        response = stack.intake.post("/api/v1/items", json={
            "title": "加权测试", "source": {"kind": "other"}, "urgency": urgency,
            "tasks": [{"lead_unit": lead, "due": due}, {"lead_unit": lead, "due": due}]})
        assert response.status_code == 201, response.text

    def workloads():
        units = stack.scoring.get("/api/v1/rankings", params={"period": "2027-03", "normalise": "true"}).json()["units"]
        return {s["unit"]: s["workload"] for s in units if s["unit"] in (busy, calm)}
    assert wait_until(lambda: len(found := workloads()) == 2 and found, what="both units ranked") == {
        busy: 4, calm: 2}


# ---- replay ---------------------------------------------------------------------------------------


def test_replay_rebuilds_everything_this_module_scored(stack, tmp_path):
    """Last in the module: every score, rate, rank and action above — the seed 004 year, the
    50-task scenario, appeals, rule sets, closed periods — rebuilt from the streams alone."""
    from services.scoring.replay import compare
    from tests.e2e.test_scoring_replay import run_replay

    live = stack.database_url("scoring")
    attempts = iter(range(1, 100))

    def rebuilt_equal() -> bool:
        into = f"sqlite:///{tmp_path / f'replay-{next(attempts)}.db'}"
        done = run_replay(stack, into)
        assert done.returncode == 0, done.stderr
        return asyncio.run(compare(live, into)) == []  # until scoring has applied the last events

    wait_until(rebuilt_equal, timeout=120, interval=1, what="a replay equal to the live store")
