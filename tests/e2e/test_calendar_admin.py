"""Administrators load a year's calendar; open deadlines in working days move with it."""

import threading
from datetime import datetime

import pytest

from shared.workdays import WorkCalendar, YearCalendar, builtin_calendar
from tests.e2e.helpers import published, score, set_clock, unit, wait_for_task
from tests.support import free_port, wait_until

pytestmark = pytest.mark.e2e
BEIJING = "+08:00"
JANUARY_2027 = {"holidays": ["2027-01-01", "2027-01-04"], "workdays": ["2027-01-02"]}


def at(text: str) -> datetime:
    return datetime.fromisoformat(f"{text}{BEIJING}")


def register(stack, *deadlines: dict) -> list[str]:
    response = stack.intake.post("/api/v1/items", json={
        "title": "年底布置的整改", "source": {"kind": "superior_requirement", "ref": "上级通知"},
        "tasks": [{"lead_unit": unit(), **deadline} for deadline in deadlines],
    })
    assert response.status_code == 201, response.text
    return [t["id"] for t in response.json()["tasks"]]


def load(stack, year: int, data: dict) -> dict:
    """Only an administrator loads a year (the calendar is the whole deployment's)."""
    response = stack.as_("admin").put(f"/api/v1/calendar/{year}", json=data)
    assert response.status_code == 200, response.text
    return response.json()


def tracking_events(stack, event_type: str) -> list[dict]:
    return published(stack, event_type)


def test_loading_a_year_moves_the_open_deadlines_in_working_days_that_span_it(stack):
    set_clock(stack, at("2026-12-28T10:00:00"))  # a Monday
    counted, fixed = register(stack, {"due_working_days": 5}, {"due": "2027-01-04T17:30:00+08:00"})
    before = wait_for_task(stack, counted)
    # 12-29, 12-30, 12-31, then 2027 on plain weekends: Friday 01-01 and Monday 01-04
    assert datetime.fromisoformat(before["due"]) == at("2027-01-04T17:30:00")
    assert before["calendar_fallback"] is True
    fixed_before = wait_for_task(stack, fixed)
    counted_at_first = wait_until(lambda: [e for e in tracking_events(
        stack, "duban.tracking.task.deadline_changed.v1") if e["task_id"] == counted],
        what="the first count's deadline_changed")
    assert counted_at_first[0]["previous_due"] is None
    assert datetime.fromisoformat(counted_at_first[0]["due"]) == at("2027-01-04T17:30:00")
    # scoring hears of the counted deadline, so the untouched task is in its unit's rates
    wait_until(lambda: score(stack, before["lead_unit"], "2027-01")["rates"]["tasks_due"] == 1,
               what="the counted task in scoring's rates")

    saved = load(stack, 2027, JANUARY_2027)
    assert saved["origin"] == "loaded" and saved["updated_by"] == "admin@default"
    assert saved["holidays"] == JANUARY_2027["holidays"]

    after = stack.tracking.get(f"/api/v1/tasks/{counted}").json()
    # 01-01 is off, Saturday 01-02 works (调休), 01-04 is off: the fifth is Tuesday 01-05
    assert datetime.fromisoformat(after["due"]) == at("2027-01-05T17:30:00")
    assert after["calendar_fallback"] is False
    assert datetime.fromisoformat(after["next_reminder_at"]) == at("2026-12-30T17:30:00")
    assert after["history"][-1]["action"] == "deadline_changed"
    assert after["history"][-1]["actor"] == "admin@default"
    fixed_after = stack.tracking.get(f"/api/v1/tasks/{fixed}").json()
    for field in ("due", "calendar_fallback", "next_reminder_at", "history"):
        assert fixed_after[field] == fixed_before[field], field

    changed = wait_until(lambda: [e for e in tracking_events(
        stack, "duban.tracking.task.deadline_changed.v1") if e["task_id"] == counted
        and e["previous_due"] is not None], what="deadline_changed event")
    assert len(changed) == 1
    assert datetime.fromisoformat(changed[0]["previous_due"]) == at("2027-01-04T17:30:00")
    assert datetime.fromisoformat(changed[0]["due"]) == at("2027-01-05T17:30:00")
    assert changed[0]["reason"] == "calendar 2027 loaded"
    assert not [e for e in tracking_events(stack, "duban.tracking.task.deadline_changed.v1")
                if e["task_id"] == fixed]
    calendar_changed = wait_until(lambda: [e for e in tracking_events(
        stack, "duban.tracking.calendar.changed.v1") if e["year"] == 2027], what="calendar.changed")
    assert calendar_changed[0] == {"year": 2027, "holiday_count": 2, "workday_count": 1,
                                   "actor": "admin@default", **JANUARY_2027}  # the days, for copies


def test_the_calendar_shows_each_years_origin(stack):
    load(stack, 2027, JANUARY_2027)
    listed = {y["year"]: y for y in stack.tracking.get("/api/v1/calendar").json()}
    assert {year: y["origin"] for year, y in listed.items()} == {
        2025: "builtin", 2026: "builtin", 2027: "loaded"}
    assert listed[2027]["updated_by"] == "admin@default" and listed[2026]["updated_by"] is None

    builtin = stack.tracking.get("/api/v1/calendar/2026").json()
    assert builtin["origin"] == "builtin" and "2026-10-01" in builtin["holidays"]
    assert builtin["workdays"][-1] == "2026-10-10"
    loaded = stack.tracking.get("/api/v1/calendar/2027").json()
    assert (loaded["origin"], loaded["workdays"]) == ("loaded", ["2027-01-02"])
    assert stack.tracking.get("/api/v1/calendar/2031").json() == {
        "year": 2031, "origin": "none", "holidays": [], "workdays": [],
        "updated_at": None, "updated_by": None}


@pytest.mark.parametrize("year,data,message", [
    (2029, {"holidays": ["2029-02-30"], "workdays": []}, "not a YYYY-MM-DD date: '2029-02-30'"),
    (2029, {"holidays": [20290101], "workdays": []}, "not a YYYY-MM-DD date: 20290101"),
    (2029, {"holidays": ["2030-01-01"], "workdays": []}, "2030-01-01 is not in 2029"),
    (2029, {"holidays": [], "workdays": ["2029-01-03"]}, "Saturday or Sunday: 2029-01-03"),
    (2029, {"holidays": ["2029-01-06"], "workdays": ["2029-01-06"]}, "both holiday and workday"),
])
def test_bad_calendar_data_is_refused_naming_the_bad_value(stack, year, data, message):
    response = stack.as_("admin").put(f"/api/v1/calendar/{year}", json=data)
    assert response.status_code == 422
    assert message in response.json()["detail"]
    assert stack.tracking.get(f"/api/v1/calendar/{year}").json()["origin"] == "none"


@pytest.mark.parametrize("year,data", [
    (1999, {"holidays": [], "workdays": []}),
    (2101, {"holidays": [], "workdays": []}),
    (2029, {"workdays": []}),
])
def test_a_year_out_of_range_or_a_missing_list_is_refused(stack, year, data):
    assert stack.as_("admin").put(f"/api/v1/calendar/{year}", json=data).status_code == 422


def test_tasks_registered_while_a_year_is_saved_are_counted_on_the_saved_year(stack):
    set_clock(stack, at("2026-12-28T10:00:00"))
    other = {"holidays": ["2027-01-05", "2027-01-06"], "workdays": []}
    task_ids: list[str] = []

    def registering() -> None:
        for _ in range(15):
            task_ids.extend(register(stack, {"due_working_days": 5}, {"due_working_days": 7}))

    def loading() -> None:
        for i in range(10):
            load(stack, 2027, other if i % 2 == 0 else JANUARY_2027)

    threads = [threading.Thread(target=registering), threading.Thread(target=loading)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = WorkCalendar({**builtin_calendar().years,
                          2027: YearCalendar.parse(2027, JANUARY_2027)})
    for task_id in task_ids:
        view = wait_for_task(stack, task_id)
        counted = final.add_working_days(datetime.fromisoformat(view["assigned_at"]),
                                         view["due_working_days"])
        assert datetime.fromisoformat(view["due"]) == counted.due, view


def register_on(stack, replica) -> dict:
    set_clock(stack, at("2027-12-27T10:00:00"))  # a Monday
    [task_id] = register(stack, {"due_working_days": 5})
    view = wait_until(lambda: (r := replica.get(f"/api/v1/tasks/{task_id}")).status_code == 200
                      and r.json(), what="the task on tracking-2")
    # 12-28 .. 12-31, then 2028-01-03 is a holiday: Tuesday 01-04
    assert datetime.fromisoformat(view["due"]) == at("2028-01-04T17:30:00")
    assert view["calendar_fallback"] is False
    return view


def test_every_replica_counts_on_the_calendar_saved_by_another(stack):
    load(stack, 2027, JANUARY_2027)
    stack.stack.start_service("tracking", key="tracking-2", port=free_port())
    stack.stack.wait_ready(["tracking-2"])
    replica = stack.client("tracking-2")
    try:
        assert replica.get("/api/v1/calendar/2028").json()["origin"] == "none"
        load(stack, 2028, {"holidays": ["2028-01-03"], "workdays": []})
        assert replica.get("/api/v1/calendar/2028").json()["origin"] == "loaded"
        stack.kill("tracking")  # tracking-2 alone handles the next assignment
        try:
            view = register_on(stack, replica)
        finally:
            stack.restart("tracking")
    finally:
        stack.kill("tracking-2")
    assert stack.tracking.get(f"/api/v1/tasks/{view['id']}").json()["due"] == view["due"]
