"""Reporting periods, their due moments, and which reports are owed and missing."""

from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest

from services.tracking import reporting
from shared.workdays import TZ


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)


def end_of(y: int, m: int, d: int) -> datetime:
    return local(y, m, d, 23, 59, 59)


@pytest.mark.parametrize("cycle,moment,key,start,end,due", [
    ("day", local(2026, 11, 21, 15), "2026-11-21", local(2026, 11, 21), local(2026, 11, 22),
     end_of(2026, 11, 22)),
    ("week", local(2026, 11, 19, 9), "2026-W47", local(2026, 11, 16), local(2026, 11, 23),
     end_of(2026, 11, 23)),
    ("ten_days", local(2026, 11, 5), "2026-11-1", local(2026, 11, 1), local(2026, 11, 11),
     end_of(2026, 11, 12)),
    ("ten_days", local(2026, 11, 20, 23), "2026-11-2", local(2026, 11, 11), local(2026, 11, 21),
     end_of(2026, 11, 22)),
    ("ten_days", local(2026, 12, 31), "2026-12-3", local(2026, 12, 21), local(2027, 1, 1),
     end_of(2027, 1, 2)),
    ("ten_days", local(2027, 2, 28), "2027-02-3", local(2027, 2, 21), local(2027, 3, 1),
     end_of(2027, 3, 2)),
    ("month", local(2026, 11, 5, 10), "2026-11", local(2026, 11, 1), local(2026, 12, 1),
     end_of(2026, 12, 2)),
    ("month", local(2026, 12, 31, 23), "2026-12", local(2026, 12, 1), local(2027, 1, 1),
     end_of(2027, 1, 2)),
    ("quarter", local(2026, 11, 5), "2026-Q4", local(2026, 10, 1), local(2027, 1, 1),
     end_of(2027, 1, 2)),
    ("half_year", local(2026, 3, 5), "2026-H1", local(2026, 1, 1), local(2026, 7, 1),
     end_of(2026, 7, 2)),
    ("year", local(2026, 11, 5), "2026", local(2026, 1, 1), local(2027, 1, 1), end_of(2027, 1, 2)),
])
def test_each_cycle_has_its_period_key_and_due_moment(cycle, moment, key, start, end, due):
    period = reporting.period_of(cycle, moment)
    assert (period.key, period.start, period.end, period.report_due) == (key, start, end, due)
    assert reporting.parse_key(cycle, key) == period


def test_periods_follow_the_local_calendar_not_utc():
    # 2026-11-30 17:00 UTC is already 1 December in Beijing.
    assert reporting.period_of("month", datetime.fromisoformat("2026-11-30T17:00:00+00:00")).key == "2026-12"


def test_a_monthly_report_is_due_by_the_2nd_of_the_next_month_or_by_report_due_day():
    november = local(2026, 11, 5)
    assert reporting.period_of("month", november).report_due == end_of(2026, 12, 2)
    assert reporting.period_of("month", november, report_due_day=5).report_due == end_of(2026, 12, 5)
    assert reporting.period_of("quarter", november, report_due_day=10).report_due == end_of(2027, 1, 10)


def test_week_keys_are_iso_weeks_across_the_year_end():
    period = reporting.period_of("week", local(2027, 1, 2))
    assert period.key == "2026-W53" and period.start == local(2026, 12, 28)
    assert reporting.period_of("week", local(2027, 1, 4)).key == "2027-W01"


def test_periods_cover_the_span_from_assignment_including_a_partial_first_one():
    found = reporting.periods("month", local(2026, 11, 5, 10), local(2027, 3, 31, 17, 30))
    assert [p.key for p in found] == ["2026-11", "2026-12", "2027-01", "2027-02", "2027-03"]
    assert [p.key for p in reporting.periods("ten_days", local(2026, 11, 15), local(2026, 12, 1))] \
        == ["2026-11-2", "2026-11-3"]
    assert len(reporting.periods("day", local(2026, 11, 1), local(2027, 11, 1))) == 365
    assert reporting.periods("none", local(2026, 11, 1), local(2027, 11, 1)) == []
    assert reporting.periods("month", local(2026, 11, 5), local(2026, 11, 5)) == []


@pytest.mark.parametrize("cycle,key", [
    ("month", "2026-13"), ("month", "2026-1"), ("month", "2026-Q1"), ("week", "2026-W54"),
    ("ten_days", "2026-11-4"), ("ten_days", "2026-11-21"), ("day", "2026-02-30"),
    ("quarter", "2026-Q5"), ("half_year", "2026-H3"), ("year", "26"), ("day", "2026-11"),
])
def test_a_key_that_names_no_period_of_the_cycle_is_refused(cycle, key):
    with pytest.raises(ValueError, match="is not a"):
        reporting.parse_key(cycle, key)


def test_unknown_cycles_have_no_periods():
    for cycle in ("none", "fortnight"):
        with pytest.raises(ValueError, match="no periods"):
            reporting.period_of(cycle, local(2026, 11, 5))


def test_missing_periods_are_past_due_and_unreported():
    found = reporting.periods("month", local(2026, 11, 5), local(2027, 1, 3))
    now = local(2027, 1, 3, 10)
    assert [p.key for p in reporting.missing(found, {"2026-11"}, now)] == ["2026-12"]
    assert reporting.missing(found, {"2026-11"}, end_of(2027, 1, 2)) == []  # due, not yet past
    assert [p.key for p in reporting.missing(found, [], now)] == ["2026-11", "2026-12"]


def test_came_due_settles_the_periods_since_the_last_check_and_says_when_the_next_falls_due():
    assigned = local(2026, 11, 5, 10)
    fallen, following = reporting.came_due("month", assigned_at=assigned, since=end_of(2026, 12, 2),
                                           now=local(2027, 1, 3))
    assert [p.key for p in fallen] == ["2026-11", "2026-12"]
    assert following == end_of(2027, 2, 2)
    fallen, following = reporting.came_due("month", assigned_at=assigned, since=end_of(2027, 1, 2),
                                           now=local(2027, 1, 3))
    assert [p.key for p in fallen] == ["2026-12"] and following == end_of(2027, 2, 2)


def test_reports_are_owed_while_the_unit_holds_the_task_not_while_suspended_or_submitted():
    found = reporting.periods("month", local(2026, 11, 5), local(2027, 4, 1))
    changes = [
        (local(2026, 11, 6), "signed"),
        (local(2026, 12, 20), "suspended"),  # December's report falls due while suspended
        (local(2027, 1, 10), "signed"),
        (local(2027, 2, 1), "submitted"),  # January's report falls due while submitted
        (local(2027, 2, 10), "in_progress"),  # returned for redo: reports are owed again
        (local(2027, 3, 20), "accepted"),
    ]
    assert [p.key for p in reporting.owed(found, changes)] == ["2026-11", "2027-02"]
    assert reporting.status_at(local(2026, 11, 5), changes) == "assigned"


def test_each_units_latest_report_counts():
    at = local(2026, 11, 5)
    reports = [SimpleNamespace(unit="U-1", at=at, text="a"),
               SimpleNamespace(unit="U-2", at=at, text="b"),
               SimpleNamespace(unit="U-1", at=at + timedelta(hours=1), text="c")]
    latest = reporting.latest_by_unit(reports)
    assert {u: r.text for u, r in latest.items()} == {"U-1": "c", "U-2": "b"}


def test_a_missed_period_has_one_event_id():
    assert reporting.missed_event_id("T-1", "2026-12") == reporting.missed_event_id("T-1", "2026-12")
    assert reporting.missed_event_id("T-1", "2026-12") != reporting.missed_event_id("T-1", "2026-11")
