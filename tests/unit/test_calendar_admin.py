"""Loading a year's calendar: the effective calendar, and which deadlines move and where."""

from datetime import datetime

import pytest

from services.tracking import domain
from services.tracking.models import TrackedTask
from shared.workdays import TZ, YearCalendar, builtin_calendar

ASSIGNED = datetime(2026, 12, 28, 10, 0, tzinfo=TZ)  # a Monday
ON_WEEKENDS = datetime(2027, 1, 4, 17, 30, tzinfo=TZ)  # 5 working days on, 2027 unknown
YEAR_2027 = YearCalendar.parse(2027, {"holidays": ["2027-01-01", "2027-01-04"],
                                      "workdays": ["2027-01-02"]})
LOADED = domain.effective_calendar(builtin_calendar(), [YEAR_2027])


def working_day_task(**overrides) -> TrackedTask:
    fields = {"id": "T-1", "tenant": "t", "item_id": "I-1", "title": "t", "lead_unit": "U-1",
              "due": ON_WEEKENDS, "due_working_days": 5, "calendar_fallback": True,
              "assigned_at": ASSIGNED, **overrides}
    return TrackedTask(**fields)


def test_loaded_years_override_the_builtin_ones_and_add_new_ones():
    empty_2026 = YearCalendar(2026)
    calendar = domain.effective_calendar(builtin_calendar(), [empty_2026, YEAR_2027])
    assert calendar.years[2026] is empty_2026 and calendar.years[2027] is YEAR_2027
    assert calendar.years[2025] == builtin_calendar().years[2025]
    assert not builtin_calendar().has_year(2027)


def test_a_years_origin_is_loaded_builtin_or_none():
    builtin = builtin_calendar()
    assert domain.calendar_origin(2026, loaded_years={2026}, builtin=builtin) == "loaded"
    assert domain.calendar_origin(2026, loaded_years={2027}, builtin=builtin) == "builtin"
    assert domain.calendar_origin(2028, loaded_years={2027}, builtin=builtin) == "none"


def test_an_open_working_day_deadline_spanning_the_year_is_affected():
    for status in ("assigned", "signed", "in_progress", "submitted", "suspended"):
        assert domain.affected_by_year(working_day_task(status=status), 2027,
                                       previous=builtin_calendar())
    assert domain.affected_by_year(working_day_task(), 2026, previous=builtin_calendar())


@pytest.mark.parametrize("overrides,year", [
    ({"due_working_days": None, "calendar_fallback": False}, 2027),  # given as a time
    ({"overdue_at": ON_WEEKENDS}, 2027),  # the overdue event already went out
    ({"status": "accepted"}, 2027),
    ({"status": "cancelled"}, 2027),
    ({}, 2025),
    ({}, 2028),
    ({"due": datetime(2027, 2, 1, 17, 30, tzinfo=TZ)}, 2027),  # moved by a granted extension
])
def test_other_tasks_are_not_affected(overrides, year):
    assert not domain.affected_by_year(working_day_task(**overrides), year,
                                       previous=builtin_calendar())


def test_a_deadline_within_one_year_is_not_affected_by_the_next():
    task = working_day_task(assigned_at=datetime(2026, 12, 1, 10, 0, tzinfo=TZ), due_working_days=3,
                            due=datetime(2026, 12, 4, 17, 30, tzinfo=TZ), calendar_fallback=False)
    assert not domain.affected_by_year(task, 2027, previous=builtin_calendar())


def test_the_deadline_is_counted_again_on_the_loaded_year():
    now = datetime(2026, 12, 29, 9, 0, tzinfo=TZ)
    recount = domain.recount(working_day_task(), calendar=LOADED, now=now)
    # 12-29, 12-30, 12-31, Saturday 01-02 (调休), then 01-04 is a holiday: Tuesday 01-05
    assert recount.due == datetime(2027, 1, 5, 17, 30, tzinfo=TZ)
    assert recount.calendar_fallback is False
    # 3 working days before: 01-02, 12-31, then 12-30 (01-01 and 01-04 are off now)
    assert recount.next_reminder_at == datetime(2026, 12, 30, 17, 30, tzinfo=TZ)


def test_a_recount_reaching_another_unknown_year_stays_flagged():
    task = working_day_task(due_working_days=270)
    previous = builtin_calendar().add_working_days(ASSIGNED, 270)
    task.due = previous.due
    assert 2028 in previous.fallback_years
    assert domain.affected_by_year(task, 2027, previous=builtin_calendar())
    recount = domain.recount(task, calendar=LOADED, now=ASSIGNED)
    assert recount.calendar_fallback is True and recount.due != previous.due


def test_no_reminder_is_scheduled_for_a_task_the_unit_does_not_hold():
    for task in (working_day_task(status="submitted"), working_day_task(status="suspended"),
                 working_day_task(extension_due=datetime(2027, 2, 1, 17, 30, tzinfo=TZ))):
        assert domain.recount(task, calendar=LOADED, now=ASSIGNED).next_reminder_at is None


def test_an_unchanged_year_gives_the_same_deadline():
    unchanged = domain.effective_calendar(builtin_calendar(), [builtin_calendar().years[2026]])
    recount = domain.recount(working_day_task(), calendar=unchanged, now=ASSIGNED)
    assert recount.due == ON_WEEKENDS and recount.calendar_fallback is True
