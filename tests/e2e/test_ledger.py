"""The ledger (台账): tracking's filtered, paged list of tasks, with the org tree from intake."""

from datetime import datetime, timedelta

import pytest

from tests.e2e.helpers import advance_clock, org_units, simulated_now, unit, wait_for_task
from tests.support import wait_until

pytestmark = pytest.mark.e2e


def make_tree(stack) -> dict[str, str]:
    return org_units(stack, {"root": None, "a": "root", "b": "root", "a1": "a", "outside": None})


def register(stack, lead: str, due: datetime, **item) -> str:
    body = {"title": item.pop("title", "台账测试事项"), "source": {"kind": item.pop("kind", "other")},
            **item, "tasks": [{"lead_unit": lead, "due": due.isoformat()}]}
    response = stack.intake.post("/api/v1/items", json=body)
    assert response.status_code == 201, response.text
    task_id = response.json()["tasks"][0]["id"]
    wait_for_task(stack, task_id)
    return task_id


def ledger(stack, **params) -> dict:
    response = stack.tracking.get("/api/v1/tasks", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def ids(page: dict) -> set[str]:
    return {row["id"] for row in page["items"]}


def test_filters_by_unit_subtree_and_attributes(stack):
    tree = make_tree(stack)
    far = simulated_now(stack) + timedelta(days=400)
    t = {
        "root": register(stack, tree["root"], far, regime="comprehensive", kind="annual_key_work",
                         supervisor="甲", urgency="urgent", title="生态修复"),
        "a": register(stack, tree["a"], far + timedelta(days=1), regime="special",
                      kind="leader_instruction", supervisor="乙"),
        "a1": register(stack, tree["a1"], far + timedelta(days=2), regime="special",
                       kind="hotline_case", supervisor="甲", urgency="extra_urgent"),
        "b": register(stack, tree["b"], far + timedelta(days=3), regime="ledger", kind="other"),
        "outside": register(stack, tree["outside"], far, regime="special"),
    }
    root = tree["root"]
    everything = wait_until(lambda: (p := ledger(stack, unit=root)) and len(p["items"]) == 4 and p,
                            what="the org copy to reach tracking")
    assert ids(everything) == {t["root"], t["a"], t["a1"], t["b"]}
    assert [r["id"] for r in everything["items"]] == [t["root"], t["a"], t["a1"], t["b"]]  # by due
    assert ids(ledger(stack, unit=root, include_sub_units="false")) == {t["root"]}
    assert ids(ledger(stack, unit=tree["a"])) == {t["a"], t["a1"]}
    assert ids(ledger(stack, unit=root, regime="special")) == {t["a"], t["a1"]}
    assert ids(ledger(stack, unit=root, regime=["special", "ledger"])) == {t["a"], t["a1"], t["b"]}
    assert ids(ledger(stack, unit=root, source_kind="hotline_case")) == {t["a1"]}
    assert ids(ledger(stack, unit=root, supervisor="甲")) == {t["root"], t["a1"]}
    assert ids(ledger(stack, unit=root, urgency="extra_urgent")) == {t["a1"]}
    assert ids(ledger(stack, unit=root, q="生态")) == {t["root"]}
    window = {"due_from": (far + timedelta(days=1)).isoformat(), "due_to": (far + timedelta(days=3)).isoformat()}
    assert ids(ledger(stack, unit=root, **window)) == {t["a"], t["a1"]}
    row = next(r for r in everything["items"] if r["id"] == t["root"])
    assert (row["regime"], row["source_kind"], row["supervisor"], row["light"]) == (
        "comprehensive", "annual_key_work", "甲", "green")

    assert stack.as_("unit_head", tree["a"]).post(f"/api/v1/tasks/{t['a']}/sign").status_code == 200
    assert ids(ledger(stack, unit=root, status="signed")) == {t["a"]}
    assert ids(ledger(stack, unit=root, status=["signed", "assigned"])) == ids(everything)


def test_filter_by_light_and_page_with_cursors(stack):
    lead = unit()
    now = simulated_now(stack)
    red = register(stack, lead, now + timedelta(hours=1))
    yellow = register(stack, lead, now + timedelta(hours=30))
    greens = [register(stack, lead, now + timedelta(days=100 + i)) for i in range(5)]
    advance_clock(stack, timedelta(hours=2))

    # tracking follows the clock (and files the last tasks) by events: wait until it sees the red one
    wait_until(lambda: ids(ledger(stack, unit=lead, light="red")) == {red}, what="the red light")
    assert ids(ledger(stack, unit=lead, light="yellow")) == {yellow}
    assert ids(ledger(stack, unit=lead, light="green")) == set(greens)
    lights = {r["id"]: (r["light"], r["overdue"]) for r in ledger(stack, unit=lead)["items"]}
    assert lights[red] == ("red", True) and lights[yellow] == ("yellow", False)
    assert stack.tracking.get(f"/api/v1/tasks/{yellow}").json()["light"] == "yellow"

    seen, cursor, pages = [], None, 0
    while True:
        page = ledger(stack, unit=lead, limit=2, **({"cursor": cursor} if cursor else {}))
        seen += [r["id"] for r in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [red, yellow, *greens] and pages == 4
    backwards = ledger(stack, unit=lead, sort="-due", limit=3)
    assert [r["id"] for r in backwards["items"]] == list(reversed(greens))[:3]
    assert ledger(stack, unit=lead, with_total="true", limit=1)["total"] == 7


def test_bad_ledger_parameters_are_422(stack):
    assert stack.tracking.get("/api/v1/tasks", params={"light": "blue"}).status_code == 422
    assert stack.tracking.get("/api/v1/tasks", params={"cursor": "garbage!"}).status_code == 422
    assert stack.tracking.get("/api/v1/tasks", params={"limit": 0}).status_code == 422
    assert stack.tracking.get("/api/v1/tasks", params={"due_from": "2026-01-01"}).status_code == 422
