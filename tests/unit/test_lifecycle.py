from datetime import UTC, datetime, timedelta

import pytest

from services.tracking.lifecycle import (
    ACTOR_OF,
    CLOCK_RUNNING_STATUSES,
    CLOSED_STATUSES,
    OPEN_STATUSES,
    Action,
    HistoryEntry,
    Status,
    TransitionRefused,
    allowed_actions,
    record,
    transition,
)

S, A = Status, Action
T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)

ALLOWED = [
    (S.ASSIGNED, A.SIGN, S.SIGNED),
    (S.SIGNED, A.PROGRESS, S.IN_PROGRESS),
    (S.IN_PROGRESS, A.PROGRESS, S.IN_PROGRESS),
    (S.SIGNED, A.SUBMIT, S.SUBMITTED),
    (S.IN_PROGRESS, A.SUBMIT, S.SUBMITTED),
    (S.SUBMITTED, A.ACCEPT, S.ACCEPTED),
    (S.SUBMITTED, A.RETURN, S.IN_PROGRESS),
    (S.SUBMITTED, A.REVERIFY, S.SUBMITTED),
    *[(s, A.CANCEL, S.CANCELLED) for s in OPEN_STATUSES],
    *[(s, A.SUSPEND, S.SUSPENDED) for s in CLOCK_RUNNING_STATUSES],
]


@pytest.mark.parametrize(("status", "action", "after"), ALLOWED)
def test_allowed_transitions(status, action, after):
    assert transition(status, action) is after


def test_the_table_above_is_every_allowed_move_but_resume():
    expected = {(s, a) for s, a, _ in ALLOWED}
    actual = {(s, a) for s in Status for a in allowed_actions(s) if a is not A.RESUME}
    assert actual == expected


@pytest.mark.parametrize(("status", "action", "reason"), [
    (S.ASSIGNED, A.SUBMIT, "cannot submit a task that is assigned: sign for it first"),
    (S.ASSIGNED, A.PROGRESS, "cannot report progress on a task that is assigned: sign for it"),
    (S.SIGNED, A.SIGN, "cannot sign a task that is signed: it has already been signed for"),
    (S.SUBMITTED, A.SUBMIT, "cannot submit a task that is submitted: it is awaiting the office"),
    (S.SUBMITTED, A.PROGRESS, "awaiting the office's review"),
    (S.IN_PROGRESS, A.ACCEPT,
     "cannot accept a task that is in_progress: only a submitted task can be reviewed"),
    (S.SIGNED, A.RETURN, "cannot return a task that is signed: only a submitted task"),
    (S.ASSIGNED, A.REVERIFY, "cannot re-verify a task that is assigned"),
    (S.IN_PROGRESS, A.RESUME, "cannot resume a task that is in_progress: it is not suspended"),
    (S.SUSPENDED, A.SUSPEND, "cannot suspend a task that is suspended: it is already suspended"),
    (S.SUSPENDED, A.SUBMIT, "cannot submit a task that is suspended: resume it first"),
    (S.SUSPENDED, A.ACCEPT, "resume it first"),
    (S.ACCEPTED, A.RETURN, "cannot return a task that is accepted: the task is accepted and"),
    (S.CANCELLED, A.SIGN, "the task is cancelled and closed"),
])
def test_refused_transitions_say_why(status, action, reason):
    with pytest.raises(TransitionRefused) as refused:
        transition(status, action)
    assert reason in refused.value.reason
    assert str(refused.value) == refused.value.reason
    assert (refused.value.status, refused.value.action) == (status, action)


def test_happy_path_with_one_return():
    status, history, at = S.ASSIGNED, [], T0
    steps = [
        ("U-1", A.SIGN, S.SIGNED),
        ("U-1", A.PROGRESS, S.IN_PROGRESS),
        ("U-1", A.SUBMIT, S.SUBMITTED),
        ("office", A.RETURN, S.IN_PROGRESS),
        ("U-1", A.PROGRESS, S.IN_PROGRESS),
        ("U-1", A.SUBMIT, S.SUBMITTED),
        ("office", A.ACCEPT, S.ACCEPTED),
    ]
    for actor, action, expected in steps:
        at += timedelta(hours=1)
        status, entry = record(status, action, at=at, actor=actor, comment=f"{action} done")
        assert status is expected
        history.append(entry)
    assert [(e.from_status, e.to_status) for e in history] == [
        ("assigned", "signed"), ("signed", "in_progress"), ("in_progress", "submitted"),
        ("submitted", "in_progress"), ("in_progress", "in_progress"),
        ("in_progress", "submitted"), ("submitted", "accepted"),
    ]
    assert history[3] == HistoryEntry(
        T0 + timedelta(hours=4), "office", "return", "submitted", "in_progress", "return done"
    )
    assert all(ACTOR_OF[A(e.action)] == ("office" if e.actor == "office" else "unit")
               for e in history)
    assert allowed_actions(status) == []


@pytest.mark.parametrize("before", sorted(CLOCK_RUNNING_STATUSES))
def test_suspend_then_resume_returns_to_the_status_before(before):
    suspended, entry = record(before, A.SUSPEND, at=T0, actor="office")
    assert suspended is S.SUSPENDED
    came_from = S(entry.from_status)
    assert came_from is before
    resumed, back = record(suspended, A.RESUME, at=T0, actor="office", suspended_from=came_from)
    assert resumed is before
    assert (back.from_status, back.to_status) == ("suspended", before.value)


@pytest.mark.parametrize(("suspended_from", "reason"), [
    (None, "the status before suspension is unknown"),
    (S.ACCEPTED, "it cannot go back to accepted"),
    (S.SUSPENDED, "it cannot go back to suspended"),
])
def test_resume_needs_a_resumable_previous_status(suspended_from, reason):
    with pytest.raises(TransitionRefused, match=reason):
        transition(S.SUSPENDED, A.RESUME, suspended_from=suspended_from)


def test_suspended_task_allows_only_cancel_and_resume():
    assert allowed_actions(S.SUSPENDED, suspended_from=S.SIGNED) == [A.CANCEL, A.RESUME]
    assert allowed_actions(S.SUSPENDED) == [A.CANCEL]


@pytest.mark.parametrize("status", sorted(OPEN_STATUSES))
def test_cancel_from_every_open_status(status):
    assert transition(status, A.CANCEL) is S.CANCELLED


@pytest.mark.parametrize("status", sorted(CLOSED_STATUSES))
@pytest.mark.parametrize("action", list(Action))
def test_nothing_is_allowed_once_closed(status, action):
    with pytest.raises(TransitionRefused, match="closed"):
        transition(status, action, suspended_from=S.IN_PROGRESS)


def test_status_sets():
    assert OPEN_STATUSES == CLOCK_RUNNING_STATUSES | {S.SUSPENDED}
    assert S.SUSPENDED not in CLOCK_RUNNING_STATUSES
    assert OPEN_STATUSES.isdisjoint(CLOSED_STATUSES)
    assert OPEN_STATUSES | CLOSED_STATUSES == set(Status)


def test_actors():
    assert {a for a, who in ACTOR_OF.items() if who == "unit"} == {A.SIGN, A.PROGRESS, A.SUBMIT}
    assert {a for a, who in ACTOR_OF.items() if who == "office"} == {
        A.ACCEPT, A.RETURN, A.REVERIFY, A.CANCEL, A.SUSPEND, A.RESUME
    }


def test_plain_strings_are_accepted():
    assert A("return") is A.RETURN
    assert transition("signed", "progress") is S.IN_PROGRESS
    new, entry = record("assigned", "sign", at=T0, actor="U-1")
    assert new is S.SIGNED and entry.action == "sign" and entry.to_status == "signed"


def test_reverify_keeps_the_task_submitted():
    status = S.SUBMITTED
    for _ in range(2):
        status, entry = record(status, A.REVERIFY, at=T0, actor="office", comment="复核")
        assert entry.action == "reverify"
    assert status is S.SUBMITTED
    assert record(status, A.ACCEPT, at=T0, actor="office")[0] is S.ACCEPTED


def test_history_needs_an_aware_time():
    with pytest.raises(ValueError, match="timezone-aware"):
        record(S.ASSIGNED, A.SIGN, at=datetime(2026, 11, 16, 9), actor="U-1")


def test_a_refused_action_records_nothing():
    with pytest.raises(TransitionRefused):
        record(S.ASSIGNED, A.ACCEPT, at=T0, actor="office")
