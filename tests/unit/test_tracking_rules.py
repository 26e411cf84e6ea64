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
