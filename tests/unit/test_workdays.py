"""Working days on the Chinese official calendar: pure functions, no servers."""

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest

from services.tracking.domain import late_working_days
from services.tracking.lifecycle import Action
from shared.workdays import (
    BUILTIN,
    TZ,
    CalendarError,
    WorkCalendar,
    YearCalendar,
    builtin_calendar,
    working_days_late,
)

CAL = builtin_calendar()


def local(y, m, d, hh=9, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=TZ)


def starts_in_2026(step: int = 1):
    day = date(2026, 1, 1)
    while day.year == 2026:
        yield datetime.combine(day, time(10, 15), TZ)
        day += timedelta(days=step)


@pytest.mark.parametrize("start", [
    local(2026, 9, 30, 0, 0), local(2026, 9, 30, 12, 0), local(2026, 9, 30, 23, 59),
    datetime(2026, 9, 29, 16, 30, tzinfo=UTC),  # 2026-09-30 00:30 in Shanghai
])
def test_three_working_days_from_sept_30_end_on_the_working_saturday_oct_10(start):
    result = CAL.add_working_days(start, 3)
    assert result.due == local(2026, 10, 10, 17, 30)
    assert result.due.utcoffset() == timedelta(hours=8)
    assert result.due.tzinfo == TZ
    assert result.fallback_years == frozenset()


def test_the_local_date_in_shanghai_is_the_one_that_counts():
    late_on_29th = datetime(2026, 9, 29, 15, 0, tzinfo=UTC)  # 23:00 on the 29th in Shanghai
    assert CAL.add_working_days(late_on_29th, 3).due == local(2026, 10, 9, 17, 30)


def test_end_of_day_is_a_parameter():
    due = CAL.add_working_days(local(2026, 9, 30), 1, end_of_day=time(18, 0)).due
    assert due == local(2026, 10, 8, 18, 0)


@pytest.mark.parametrize("day, working", [
    (date(2026, 10, 1), False), (date(2026, 10, 8), True), (date(2026, 10, 10), True),
    (date(2026, 9, 20), True), (date(2026, 10, 11), False), (date(2026, 2, 16), False),
    (date(2026, 2, 15), False), (date(2026, 2, 14), True), (date(2026, 3, 2), True),
    (date(2025, 10, 8), False), (date(2025, 10, 11), True), (date(2025, 10, 9), True),
])
def test_is_workday_follows_the_official_arrangement(day, working):
    assert CAL.is_workday(day) is working


def test_a_year_without_data_is_plain_monday_to_friday_and_reported():
    assert not CAL.has_year(2031) and CAL.has_year(2026) and CAL.has_year(2025)
    assert CAL.is_workday(date(2031, 10, 1))  # a Wednesday, no holiday known
    assert not CAL.is_workday(date(2031, 10, 4))  # a Saturday
    result = CAL.add_working_days(local(2031, 10, 1), 3)  # Wednesday
    assert result.due == local(2031, 10, 6, 17, 30)  # Thu, Fri, then Monday
    assert result.fallback_years == {2031}


def test_crossing_into_a_year_without_data_reports_that_year_only():
    result = CAL.add_working_days(local(2026, 12, 30), 3)  # Wednesday
    assert result.due == local(2027, 1, 4, 17, 30)  # Dec 31, Jan 1 (no data: working), Jan 4
    assert result.fallback_years == {2027}
    ending_in_2026 = CAL.add_working_days(local(2026, 12, 30), 1)
    assert ending_in_2026.due == local(2026, 12, 31, 17, 30)
    assert ending_in_2026.fallback_years == frozenset()


def test_empty_calendar_never_errors():
    result = WorkCalendar({}).add_working_days(local(2026, 9, 30), 3)
    assert result.due == local(2026, 10, 5, 17, 30)
    assert result.fallback_years == {2026}


def test_working_days_between_counts_after_start_up_to_and_including_end():
    assert CAL.working_days_between(local(2026, 9, 30), local(2026, 10, 10)) == 3
    assert CAL.working_days_between(local(2026, 10, 8, 8), local(2026, 10, 8, 20)) == 0
    assert CAL.working_days_between(local(2026, 10, 10), local(2026, 9, 30)) == 0
    assert CAL.working_days_between(local(2026, 1, 1), local(2026, 12, 31)) == 248  # Jan 1 is off anyway


def test_working_days_before_keeps_the_time_of_day():
    due = local(2026, 10, 10, 17, 30)
    assert CAL.working_days_before(due, 1) == local(2026, 10, 9, 17, 30)
    assert CAL.working_days_before(due, 3) == local(2026, 9, 30, 17, 30)
    assert CAL.working_days_before(local(2026, 10, 8, 17, 30), 1) == local(2026, 9, 30, 17, 30)


@pytest.mark.parametrize("n", range(1, 11))
def test_round_trips_with_add_working_days(n):
    for start in starts_in_2026():
        due = CAL.add_working_days(start, n).due
        assert CAL.working_days_between(start, due) == n
        assert CAL.is_workday(due.date())
        back = CAL.working_days_before(due, n)
        assert CAL.add_working_days(back, n).due == due
        assert CAL.working_days_between(back, due) == n
        assert back.date() <= start.date()


def test_parse_accepts_holidays_on_weekends():
    cal = YearCalendar.parse(2026, {"holidays": ["2026-10-03"], "workdays": ["2026-10-10"]})
    assert cal.holidays == {date(2026, 10, 3)} and cal.workdays == {date(2026, 10, 10)}
    assert YearCalendar.parse(2027, {}) == YearCalendar(2027)


@pytest.mark.parametrize("data, named", [
    ({"holidays": ["2026-12-31", "2027-01-01"]}, "2027-01-01"),
    ({"workdays": ["2025-12-28"]}, "2025-12-28"),
    ({"holidays": ["2026-10-10"], "workdays": ["2026-10-10"]}, "2026-10-10"),
    ({"workdays": ["2026-10-09"]}, "2026-10-09"),
    ({"holidays": ["tomorrow"]}, "'tomorrow'"),
    ({"holidays": ["2026-02-30"]}, "'2026-02-30'"),
    ({"holidays": ["20261001"]}, "'20261001'"),
    ({"holidays": [20261001]}, "20261001"),
    ({"holidays": "2026-10-01"}, "'2026-10-01'"),
    ({"holiday": ["2026-10-01"]}, "holiday"),
])
def test_parse_rejects_bad_data_naming_the_bad_value(data, named):
    with pytest.raises(CalendarError, match=re.escape(named)):
        YearCalendar.parse(2026, data)


def test_calendar_error_is_a_value_error():
    assert issubclass(CalendarError, ValueError)


def test_work_calendar_rejects_a_year_filed_under_another():
    with pytest.raises(CalendarError, match="2026"):
        WorkCalendar({2027: YearCalendar(2026)})


def test_builtin_data_is_2025_and_2026():
    assert sorted(BUILTIN) == [2025, 2026]
    assert sorted(CAL.years) == [2025, 2026]
    assert len(CAL.years[2026].holidays) == 33 and len(CAL.years[2026].workdays) == 6


@pytest.mark.parametrize("call", [
    lambda: CAL.add_working_days(datetime(2026, 9, 30, 9), 3),
    lambda: CAL.working_days_between(datetime(2026, 9, 30), local(2026, 10, 10)),
    lambda: CAL.working_days_between(local(2026, 9, 30), datetime(2026, 10, 10)),
    lambda: CAL.working_days_before(datetime(2026, 10, 10, 17, 30), 1),
    lambda: CAL.add_working_days(local(2026, 9, 30), 0),
    lambda: CAL.add_working_days(local(2026, 9, 30), -1),
    lambda: CAL.working_days_before(local(2026, 10, 10), 0),
])
def test_naive_datetimes_and_counts_below_one_are_value_errors(call):
    with pytest.raises(ValueError):
        call()


# ---- working days late: the working days after the deadline's day up to and including the
# day it was done (on the deadline's day itself, or only on days off after it, 0 though late)


def late(due: datetime, at: datetime, calendar: WorkCalendar = CAL) -> int:
    return working_days_late(calendar, due=due, at=at)


FRIDAY_DEADLINE = local(2026, 3, 6, 17, 30)


@pytest.mark.parametrize("at, days", [
    (local(2026, 3, 2, 9, 0), 0),  # days early
    (local(2026, 3, 6, 17, 29), 0),
    (local(2026, 3, 6, 17, 30), 0),  # at the deadline: on time
    (local(2026, 3, 6, 17, 31), 0),  # late, but on the deadline's own day
    (local(2026, 3, 6, 23, 59), 0),
    (local(2026, 3, 7, 10, 0), 0),  # Saturday
    (local(2026, 3, 8, 23, 59), 0),  # Sunday
    (local(2026, 3, 9, 0, 0), 1),  # Monday, at midnight already
    (local(2026, 3, 9, 9, 0), 1),
    (local(2026, 3, 9, 18, 0), 1),
    (local(2026, 3, 10, 9, 0), 2),
    (local(2026, 3, 16, 9, 0), 6),  # a week and a day: the weekend between is not counted
])
def test_late_counts_working_days_after_the_deadline_day_up_to_the_day_done(at, days):
    assert late(FRIDAY_DEADLINE, at) == days


@pytest.mark.parametrize("at, days", [
    (local(2026, 10, 10, 9, 0), 1),  # 调休: Saturday 10-10 is a working day
    (local(2026, 10, 11, 9, 0), 1),  # Sunday 10-11 is not
    (local(2026, 10, 12, 9, 0), 2),
])
def test_a_tiaoxiu_saturday_counts_as_a_working_day_late(at, days):
    assert late(local(2026, 10, 9, 17, 30), at) == days


def test_a_deadline_on_a_tiaoxiu_saturday_is_one_day_late_on_monday():
    due = CAL.add_working_days(local(2026, 9, 30, 10, 0), 3).due
    assert due == local(2026, 10, 10, 17, 30)
    assert late(due, local(2026, 10, 10, 20, 0)) == 0
    assert late(due, local(2026, 10, 11, 9, 0)) == 0
    assert late(due, local(2026, 10, 12, 9, 0)) == 1


@pytest.mark.parametrize("at, days", [
    *[(local(2026, 10, d, 10, 0), 0) for d in range(1, 8)],  # 国庆 10-01..10-07: all off
    (local(2026, 10, 8, 9, 0), 1),
    (local(2026, 10, 9, 9, 0), 2),
    (local(2026, 10, 10, 9, 0), 3),  # the 调休 Saturday after it
    (local(2026, 10, 11, 9, 0), 3),
    (local(2026, 10, 12, 9, 0), 4),
])
def test_the_2026_national_day_holiday_is_not_counted(at, days):
    assert late(local(2026, 9, 30, 17, 30), at) == days


def test_a_deadline_on_a_holiday_counts_from_the_next_working_day():
    assert late(local(2026, 10, 3, 12, 0), local(2026, 10, 7, 12, 0)) == 0
    assert late(local(2026, 10, 3, 12, 0), local(2026, 10, 8, 9, 0)) == 1


def test_late_across_new_year_counts_the_tiaoxiu_sunday_jan_4():
    # 2026-01-01..03 are off, Sunday 01-04 is a working day
    assert late(local(2025, 12, 31, 17, 30), local(2026, 1, 3, 9, 0)) == 0
    assert late(local(2025, 12, 31, 17, 30), local(2026, 1, 4, 9, 0)) == 1
    assert late(local(2025, 12, 31, 17, 30), local(2026, 1, 5, 9, 0)) == 2


def test_late_is_counted_on_shanghai_dates():
    assert late(FRIDAY_DEADLINE, datetime(2026, 3, 8, 15, 59, tzinfo=UTC)) == 0  # Sun 23:59
    assert late(FRIDAY_DEADLINE, datetime(2026, 3, 8, 16, 0, tzinfo=UTC)) == 1  # Mon 00:00
    due_utc = datetime(2026, 3, 6, 9, 30, tzinfo=UTC)  # the same Friday 17:30 in Shanghai
    assert late(due_utc, local(2026, 3, 9, 9, 0)) == 1


def test_late_without_holiday_data_counts_monday_to_friday():
    assert late(local(2026, 9, 30, 17, 30), local(2026, 10, 8, 9, 0), WorkCalendar({})) == 6
    assert late(local(2027, 1, 29, 17, 30), local(2027, 2, 1, 9, 0)) == 1  # no 2027 data: Mon


@pytest.mark.parametrize("n", [1, 2, 5])
def test_late_by_n_at_the_end_of_the_nth_working_day_after_the_deadline(n):
    for start in starts_in_2026(step=3):
        due = CAL.add_working_days(start, 3).due
        assert late(due, CAL.add_working_days(due, n).due) == n
        assert late(due, CAL.working_days_before(due, n)) == 0


@pytest.mark.parametrize("call", [
    lambda: late(datetime(2026, 3, 6, 17, 30), local(2026, 3, 9)),
    lambda: late(FRIDAY_DEADLINE, datetime(2026, 3, 9, 9, 0)),
])
def test_late_with_naive_datetimes_is_a_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_only_an_acceptance_carries_working_days_late():
    monday = local(2026, 3, 9, 9, 0)
    assert late_working_days(Action.ACCEPT, due=FRIDAY_DEADLINE, at=monday, calendar=CAL) == 1
    assert late_working_days(Action.ACCEPT, due=monday, at=FRIDAY_DEADLINE, calendar=CAL) == 0
    for action in Action:
        if action is not Action.ACCEPT:
            assert late_working_days(action, due=FRIDAY_DEADLINE, at=monday, calendar=CAL) == 0
