"""The ledger's stored yellow moment agrees with the light the task view computes; its text
search finds a short phrase as the range of trigrams it begins."""

from datetime import UTC, datetime, timedelta
from itertools import product

import pytest

from services.tracking import domain, search
from shared.workdays import builtin_calendar

CAL = builtin_calendar()
START = datetime(2026, 9, 20, 1, 0, tzinfo=UTC)


class Task:
    def __init__(self, assigned_at, due, status="in_progress", extension_due=None):
        self.assigned_at, self.due, self.status, self.extension_due = assigned_at, due, status, extension_due


@pytest.mark.parametrize("days", [1, 3, 5, 9, 16, 30])
@pytest.mark.parametrize("status", ["assigned", "in_progress", "submitted", "suspended", "accepted"])
def test_stored_yellow_moment_gives_the_same_light_as_the_view_at_every_hour(days, status):
    due = START + timedelta(days=days, hours=7)
    task = Task(START, due, status)
    yellow = domain.yellow_at(assigned_at=START, due=due, calendar=CAL)
    for hours in range(int((due - START).total_seconds() // 3600) + 30):
        now = START + timedelta(hours=hours)
        view = domain.task_light(task=task, now=now, calendar=CAL)
        stored = domain.ledger_light(status=status, due=due, yellow=yellow, extension_pending=False,
                                     now=now)
        assert stored == view, (now, view, stored)


def test_pending_extension_is_yellow_not_red_in_both():
    due = START + timedelta(days=3)
    task = Task(START, due, extension_due=due + timedelta(days=5))
    now = due + timedelta(hours=1)
    assert domain.task_light(task=task, now=now, calendar=CAL) == "yellow"
    assert domain.ledger_light(status="in_progress", due=due, yellow=None, extension_pending=True,
                               now=now) == "yellow"


def test_unit_paths_match_intakes():
    from shared.org_copy import unit_path

    assert unit_path(["U-1", "U-7"]) == "/U-1/U-7/"


@pytest.mark.parametrize("start_hour", [0, 9, 17, 23])
@pytest.mark.parametrize("start_day", range(0, 21, 3))
def test_stored_stagnant_moment_agrees_with_the_views_stagnation(start_day, start_hour):
    last = START + timedelta(days=start_day, hours=start_hour)
    task = Task(START, last + timedelta(days=60))
    task.last_activity_at = last
    moment = domain.stagnant_at(last_activity=last, calendar=CAL)
    for hours in range(24 * 20):
        now = last + timedelta(hours=hours)
        assert domain.task_stagnant(task=task, now=now, calendar=CAL) == (now >= moment), now


def test_the_warning_policy_comes_from_the_environment(monkeypatch):
    from services.tracking.config import load_policy

    monkeypatch.setenv("DUBAN_TRACKING_YELLOW_WORKING_DAYS", "4")
    monkeypatch.setenv("DUBAN_TRACKING_REMINDER_DAYS_BEFORE", "[5, 2]")
    policy = load_policy()
    assert policy.yellow_working_days == 4 and policy.reminder_days_before == (5, 2)
    monkeypatch.setenv("DUBAN_TRACKING_YELLOW_TIME_USED", "1.5")
    with pytest.raises(ValueError, match="yellow_time_used"):
        load_policy()


@pytest.mark.parametrize("q", ["水", "水利", "利水", "a", "Db", "-2", "%", "\x1f", "9\x1f"])
def test_a_short_phrase_is_the_range_of_the_trigrams_it_begins(q):
    low, high = search.trigram_range(q)
    near = {chr(ord(c) + d) for c in q.lower() + "a\x1f" for d in (-1, 0, 1)}
    terms = ["".join(t) for t in product(sorted(near), repeat=3)]  # as the index folds them
    assert {t for t in terms if low <= t < high} == {t for t in terms if t.startswith(q.lower())}


@pytest.mark.parametrize("q", ["É", "aÉ", "ß", "Ω"])
def test_a_short_phrase_with_letters_python_may_fold_unlike_sqlite_is_not_looked_up(q):
    assert search.trigram_range(q) is None
