from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.tracking.lifecycle import CLOCK_RUNNING_STATUSES, Status
from services.tracking.alerts import (
    Light,
    WarningPolicy,
    WorkingDays,
    is_stagnant,
    light,
    next_reminder,
    reminder_key,
    reminder_times,
)

SH = ZoneInfo("Asia/Shanghai")


class MonToFri:
    """Mon–Fri working days on Asia/Shanghai local dates; no holidays."""

    @staticmethod
    def _date(moment: datetime) -> date:
        assert moment.tzinfo is not None
        return moment.astimezone(SH).date()

    def working_days_between(self, start: datetime, end: datetime) -> int:
        day, last, count = self._date(start), self._date(end), 0
        while day < last:
            day += timedelta(days=1)
            count += day.weekday() < 5
        return count

    def working_days_before(self, due: datetime, n: int) -> datetime:
        local = due.astimezone(SH)
        day = local.date()
        while n:
            day -= timedelta(days=1)
            n -= day.weekday() < 5
        return datetime.combine(day, local.time(), SH)


CAL: WorkingDays = MonToFri()
POLICY = WarningPolicy()


def sh(day: int, hour: int = 9, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SH)


ASSIGNED = sh(16)  # Monday
DUE = sh(27, 17, 30)  # Friday of the next week


def light_at(now, *, status=Status.IN_PROGRESS, pending=False, policy=POLICY,
             assigned_at=ASSIGNED, due=DUE) -> Light:
    return light(now=now, assigned_at=assigned_at, due=due, status=status,
                 extension_pending=pending, policy=policy, calendar=CAL)


def test_fake_calendar():
    assert CAL.working_days_between(sh(20), sh(23)) == 1  # Fri → Mon
    assert CAL.working_days_between(sh(16, 8), sh(16, 20)) == 0
    assert CAL.working_days_between(sh(27), sh(20)) == 0
    assert CAL.working_days_before(sh(30, 17, 30), 1) == sh(27, 17, 30)


@pytest.mark.parametrize("status", sorted(CLOCK_RUNNING_STATUSES))
def test_green_early_on(status):
    assert light_at(sh(17, 10), status=status) is Light.GREEN


def test_yellow_when_few_working_days_remain():
    days_only = WarningPolicy(yellow_time_used=1.0)
    assert light_at(sh(24, 23), policy=days_only) is Light.GREEN  # Wed, Thu, Fri remain
    assert light_at(sh(25, 0, 1), policy=days_only) is Light.YELLOW  # Thu, Fri remain
    assert light_at(sh(27, 17, 29), policy=days_only) is Light.YELLOW


def test_yellow_by_days_even_with_little_time_used():
    # Assigned Friday morning, due Tuesday: only Mon and Tue remain though 1% of the time is used.
    assert light_at(sh(20, 10), assigned_at=sh(20, 9), due=sh(24, 17, 30)) is Light.YELLOW
    assert light_at(sh(20, 10), assigned_at=sh(20, 9), due=sh(24, 17, 30),
                    policy=WarningPolicy(yellow_working_days=1)) is Light.GREEN


def test_yellow_by_fraction_of_time_used():
    # 272.5 hours from assignment to due; 75% is 204.4 hours, on Tuesday 24th at 21:22.
    assert light_at(sh(24, 21)) is Light.GREEN
    assert light_at(sh(24, 21, 30)) is Light.YELLOW
    assert light_at(sh(24, 21, 30), policy=WarningPolicy(yellow_time_used=0.8)) is Light.GREEN


def test_due_before_assignment_counts_as_all_time_used():
    no_days = WarningPolicy(yellow_working_days=0)
    assert light_at(sh(16), assigned_at=sh(30), due=sh(17), policy=no_days) is Light.YELLOW


def test_red_from_the_deadline_on():
    assert light_at(DUE) is Light.RED
    assert light_at(sh(30)) is Light.RED
    assert light_at(DUE.astimezone(UTC)) is Light.RED


def test_pending_extension_is_never_red():
    assert light_at(DUE, pending=True) is Light.YELLOW
    assert light_at(sh(11, month=12), pending=True) is Light.YELLOW
    assert light_at(sh(17, 10), pending=True) is Light.GREEN


@pytest.mark.parametrize("status", [Status.ACCEPTED, Status.CANCELLED, Status.SUSPENDED])
def test_closed_and_suspended_tasks_are_green(status):
    assert light_at(sh(30), status=status) is Light.GREEN
    assert light_at(sh(26), status=status) is Light.GREEN


def stagnant(now, *, status=Status.IN_PROGRESS, last=sh(16, 10), policy=POLICY) -> bool:
    return is_stagnant(now=now, last_activity_at=last, status=status, policy=policy, calendar=CAL)


def test_stagnant_after_five_quiet_working_days():
    assert not stagnant(sh(20, 18))  # Tue–Fri: 4 working days
    assert not stagnant(sh(22, 23))  # the weekend does not count
    assert stagnant(sh(23, 8))
    assert stagnant(sh(23, 8), status=Status.SUBMITTED)
    assert not stagnant(sh(23, 8), last=sh(20, 17))
    assert not stagnant(sh(23, 8), policy=WarningPolicy(stagnant_after_working_days=6))


@pytest.mark.parametrize("status", [Status.SUSPENDED, Status.ACCEPTED, Status.CANCELLED])
def test_stopped_or_closed_tasks_never_stagnate(status):
    assert not stagnant(sh(20, month=12), status=status)


DUE_UTC = DUE.astimezone(UTC)  # Friday 27th, 09:30 UTC


def schedule(*, until, policy=POLICY, assigned_at=None, due=DUE_UTC) -> list[datetime]:
    return reminder_times(due=due, until=until, policy=policy, calendar=CAL,
                          assigned_at=assigned_at)


def test_reminder_schedule_with_overdue_repeats():
    times = schedule(until=sh(7, 17, 30, month=12))
    assert times == [
        sh(24, 17, 30),  # 3 working days before
        sh(26, 17, 30),  # 1 working day before
        sh(27, 17, 30),  # the deadline
        sh(1, 17, 30, month=12),  # Tuesday: Mon 30 and Tue 1 overdue
        sh(3, 17, 30, month=12),
    ]  # Mon 7th 17:30 is excluded: until is exclusive
    assert all(t.tzinfo is UTC for t in times)
    assert schedule(until=sh(7, 17, 31, month=12))[-1] == sh(7, 17, 30, month=12)


def test_reminders_before_a_monday_deadline_skip_the_weekend():
    assert schedule(due=sh(30, 17, 30), until=sh(1, month=12)) == [
        sh(25, 17, 30), sh(27, 17, 30), sh(30, 17, 30)
    ]


def test_schedule_stops_when_the_task_closes_and_starts_at_assignment():
    assert schedule(until=sh(26, 10)) == [sh(24, 17, 30)]
    assert schedule(until=sh(24, 17, 30)) == []
    assert schedule(until=sh(30), assigned_at=sh(25)) == [sh(26, 17, 30), sh(27, 17, 30)]


def test_schedule_follows_the_policy():
    quiet = WarningPolicy(reminder_days_before=(1, 5, 1), remind_at_deadline=False,
                          overdue_every_working_days=0)
    assert quiet.reminder_days_before == (5, 1)
    assert schedule(until=sh(31, month=12) + timedelta(days=3650), policy=quiet) == [
        sh(20, 17, 30), sh(26, 17, 30)
    ]
    daily = WarningPolicy(reminder_days_before=(), overdue_every_working_days=1)
    assert schedule(until=sh(2, month=12), policy=daily) == [
        sh(27, 17, 30), sh(30, 17, 30), sh(1, 17, 30, month=12)
    ]


def nxt(after, *, until=None, policy=POLICY, assigned_at=None):
    return next_reminder(after=after, due=DUE_UTC, until=until, policy=policy, calendar=CAL,
                         assigned_at=assigned_at)


def test_next_reminder():
    assert nxt(sh(16)) == sh(24, 17, 30)
    assert nxt(sh(26, 17, 30)) == sh(27, 17, 30)  # strictly after
    assert nxt(sh(2, month=12)) == sh(3, 17, 30, month=12)
    assert nxt(sh(20, month=12)) == sh(21, 17, 30, month=12)  # open-ended: 1, 3, 7, ..., 17, 21
    assert nxt(sh(16), assigned_at=sh(25)) == sh(26, 17, 30)
    assert nxt(sh(27, 18), until=sh(30)) is None
    assert nxt(sh(27, 18), policy=WarningPolicy(overdue_every_working_days=0)) is None


def test_reminder_key_is_stable_across_time_zones():
    at = sh(27, 17, 30)
    assert reminder_key("T-1", at) == "T-1:2026-11-27T09:30:00+00:00"
    assert reminder_key("T-1", at.astimezone(UTC)) == reminder_key("T-1", at)
    assert reminder_key("T-1", at) != reminder_key("T-2", at)
    times = schedule(until=sh(31, month=12))
    assert len({reminder_key("T-1", t) for t in times}) == len(times) == 3 + 11  # Dec 1 … Dec 29


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"yellow_working_days": -1}, "yellow_working_days must be an integer >= 0"),
    ({"yellow_working_days": 1.5}, "yellow_working_days must be an integer >= 0"),
    ({"yellow_time_used": 0}, r"yellow_time_used must be a fraction in \(0, 1\]"),
    ({"yellow_time_used": 1.01}, r"yellow_time_used must be a fraction in \(0, 1\]"),
    ({"yellow_time_used": True}, "yellow_time_used"),
    ({"stagnant_after_working_days": 0}, "stagnant_after_working_days must be an integer >= 1"),
    ({"reminder_days_before": (3, 0)}, "reminder_days_before must be integers >= 1"),
    ({"reminder_days_before": (3, -1)}, "reminder_days_before"),
    ({"reminder_days_before": "31"}, "reminder_days_before"),
    ({"remind_at_deadline": "yes"}, "remind_at_deadline must be a bool"),
    ({"overdue_every_working_days": -2}, "overdue_every_working_days must be an integer >= 0"),
    ({"overdue_every_working_days": True}, "overdue_every_working_days"),
])
def test_policy_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WarningPolicy(**kwargs)


def test_policy_defaults_and_edges():
    assert WarningPolicy() == WarningPolicy(2, 0.75, 5, (3, 1), True, 2)
    WarningPolicy(yellow_working_days=0, yellow_time_used=1, reminder_days_before=[2])
