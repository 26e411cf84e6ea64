"""tracking's rules around the lifecycle: overdue, counters, extensions."""

from datetime import UTC, datetime, timedelta

import pytest

from services.tracking import domain
from services.tracking.lifecycle import Action

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
DUE = NOW + timedelta(days=3)


def ask(**overrides):
    args = {"status": "signed", "pending": False, "due": DUE, "new_due": DUE + timedelta(days=5),
            "now": NOW, **overrides}
    domain.check_extension_request(**args)


def test_an_open_task_may_ask_for_a_later_deadline_before_the_current_one():
    ask()
    ask(status="assigned")
    ask(status="in_progress")


@pytest.mark.parametrize("overrides,reason", [
    ({"status": "submitted"}, "submitted cannot ask"),
    ({"status": "accepted"}, "accepted cannot ask"),
    ({"status": "suspended"}, "suspended cannot ask"),
    ({"pending": True}, "already pending"),
    ({"now": DUE}, "deadline has passed"),
    ({"new_due": DUE}, "must be after the current one"),
    ({"new_due": DUE - timedelta(days=1)}, "must be after the current one"),
])
def test_extension_requests_the_state_does_not_allow_are_refused_with_a_reason(overrides, reason):
    with pytest.raises(domain.ExtensionRefused, match=reason):
        ask(**overrides)


def test_only_a_pending_request_can_be_decided():
    domain.check_extension_decision(pending=True)
    with pytest.raises(domain.ExtensionRefused, match="no pending extension"):
        domain.check_extension_decision(pending=False)


def test_returns_and_reverifications_are_counted():
    assert domain.counters_after(Action.RETURN, 1, 0) == (2, 0)
    assert domain.counters_after(Action.REVERIFY, 1, 0) == (1, 1)
    assert domain.counters_after(Action.ACCEPT, 1, 1) == (1, 1)


def test_suspended_tasks_are_not_overdue():
    assert domain.is_overdue(due=NOW, status="in_progress", now=NOW)
    assert not domain.is_overdue(due=NOW, status="suspended", now=NOW + timedelta(days=1))


def test_a_deadline_in_working_days_is_counted_on_the_calendar_and_flags_missing_years():
    from shared.workdays import builtin_calendar

    start = datetime(2026, 9, 30, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
    due, fallback = domain.resolve_due(due=None, working_days=3, assigned_at=start,
                                       calendar=builtin_calendar())
    assert due == datetime(2026, 10, 10, 9, 30, tzinfo=UTC) and fallback is False
    _, fallback = domain.resolve_due(due=None, working_days=70, assigned_at=start,
                                     calendar=builtin_calendar())
    assert fallback is True
    given = datetime(2026, 12, 1, tzinfo=UTC)
    assert domain.resolve_due(due=given, working_days=None, assigned_at=start,
                              calendar=builtin_calendar()) == (given, False)


def test_working_days_left_are_counted_on_the_calendar_given_and_go_negative_once_late():
    from shared.workdays import WorkCalendar, YearCalendar, builtin_calendar

    official = builtin_calendar()
    due = datetime(2026, 10, 10, 9, 30, tzinfo=UTC)  # Saturday 17:30 in Beijing, a 调休 working day
    left = lambda now, status="signed", calendar=official: domain.working_days_left(  # noqa: E731
        due=due, status=status, now=now, calendar=calendar)
    assert left(datetime(2026, 9, 30, 2, tzinfo=UTC)) == 3  # 10-08, 10-09, 10-10
    assert left(datetime(2026, 10, 10, 1, tzinfo=UTC)) == 0  # due today
    assert left(datetime(2026, 10, 12, 1, tzinfo=UTC)) == -1  # Sunday 10-11 off: one day late
    assert left(datetime(2026, 10, 10, 10, tzinfo=UTC)) == -1  # late the same day: at least 1
    assert left(datetime(2026, 9, 30, 2, tzinfo=UTC), status="accepted") is None
    # A year loaded by the administrator counts, not weekends alone: 2027-01-04 made a holiday.
    loaded = WorkCalendar({2027: YearCalendar.parse(2027, {"holidays": ["2027-01-04"]})})
    monday, friday_before = datetime(2027, 1, 5, 9, 30, tzinfo=UTC), datetime(2027, 1, 1, 1, tzinfo=UTC)
    assert domain.working_days_left(due=monday, status="signed", now=friday_before,
                                    calendar=loaded) == 1
    assert domain.working_days_left(due=monday, status="signed", now=friday_before,
                                    calendar=WorkCalendar({})) == 2


def dispatch(**overrides):
    args = {"status": "in_progress", "parent_due": DUE, "units_below": {"U-1a", "U-1b"},
            "sub_units": ["U-1a"], "dues": [DUE], "now": NOW, **overrides}
    domain.check_dispatch(**args)


def test_a_unit_may_dispatch_to_its_own_sub_units_by_its_own_deadline():
    dispatch()
    dispatch(status="signed", sub_units=["U-1a", "U-1b"], dues=[DUE, DUE - timedelta(days=1)])


@pytest.mark.parametrize("overrides,reason", [
    ({"status": "assigned"}, "sign for it first"),
    ({"status": "submitted"}, "cannot be re-dispatched"),
    ({"sub_units": ["U-2"]}, "not sub-units of the task's unit: U-2"),
    ({"sub_units": ["U-1a", "U-1a"], "dues": [DUE, DUE]}, "once"),
    ({"dues": [DUE + timedelta(hours=1)]}, "cannot be due after the task"),
    ({"dues": [NOW]}, "after now"),
])
def test_dispatches_the_task_or_the_tree_does_not_allow_are_refused(overrides, reason):
    with pytest.raises(domain.DispatchRefused, match=reason):
        dispatch(**overrides)


def test_the_parents_progress_counts_closed_sub_tasks():
    assert domain.sub_progress(["accepted", "in_progress", "cancelled"]) == {"closed": 2, "total": 3}
    assert domain.sub_progress([]) == {"closed": 0, "total": 0}
