"""scoring's rules, as pure functions: the entries each fact earns under a rule set, the actions
thresholds trigger, the rates of a period and the ranking of units.

Each entry depends only on the fact that caused it and the rule set in force at the fact's time,
and everything else (totals, actions, rates, ranks) is computed from the entries and task
outcomes when asked. So the same events give the same scores whatever order they arrive in —
which is what lets ``duban scoring replay`` reproduce them exactly.
"""

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from services.scoring.rules import ByRole, RuleSet

Issuer = Literal["committee", "office"]
BulletinKind = Literal["commendation", "criticism"]
ZERO = Decimal(0)


@dataclass(frozen=True)
class Entry:
    unit: str
    points: Decimal
    rule: str  # "<rule>.<lead|co|committee|office>", e.g. "overdue.lead"
    reason: str


def _by_role(rule: str, points: ByRole, lead: str, co_units: Iterable[str], reason: str) -> list[Entry]:
    entries = [Entry(lead, points.lead, f"{rule}.lead", reason)]  # kept at 0 too: rates count it
    if points.co == ZERO:
        return entries
    return entries + [Entry(u, points.co, f"{rule}.co", reason) for u in dict.fromkeys(co_units)
                      if u != lead]


def accepted(rules: RuleSet, *, lead: str, co_units: list[str], title: str, on_time: bool,
             working_days_late: int) -> list[Entry]:
    """办结: on time earns ``completed_on_time``; late costs ``completed_late`` plus a capped
    deduction per working day late."""
    table = rules.points
    if on_time:
        return _by_role("completed_on_time", table.completed_on_time, lead, co_units, f"按期办结：{title}")
    per_day = table.late_per_working_day
    late = ByRole(lead=table.completed_late.lead + max(per_day.cap, per_day.lead * working_days_late),
                  co=table.completed_late.co + max(per_day.cap, per_day.co * working_days_late))
    return _by_role("completed_late", late, lead, co_units,
                    f"逾期办结（逾期 {working_days_late} 个工作日）：{title}")


def status_change(rules: RuleSet, *, action: str, lead: str, co_units: list[str], title: str,
                  at: datetime, due: datetime, working_days_late: int) -> tuple[str | None, list[Entry]]:
    """What a task's move in its lifecycle does to its outcome — the counter it adds one to
    (``accepted`` for an acceptance, which records ``at``), or None — and the entries it earns."""
    task = {"lead": lead, "co_units": co_units, "title": title}
    if action == "submit":
        return "submissions", []
    if action == "reverify":
        return "reverifications", []
    if action == "return":
        return "returns", returned(rules, **task)
    if action == "accept":
        return "accepted", accepted(rules, **task, on_time=at <= due, working_days_late=working_days_late)
    return None, []


def later_due(due: datetime | None, as_of: datetime | None, new_due: datetime | None,
              new_as_of: datetime) -> tuple[datetime | None, datetime | None]:
    """A task's deadline and when it was stated, after an event stating ``new_due`` at
    ``new_as_of``: the latest statement wins, whatever order the streams' events come in."""
    if new_due is not None and (as_of is None or new_as_of >= as_of):
        return new_due, new_as_of
    return due, as_of


def returned(rules: RuleSet, *, lead: str, co_units: list[str], title: str) -> list[Entry]:
    return _by_role("returned", rules.points.returned, lead, co_units, f"退回重办：{title}")


def overdue(rules: RuleSet, *, lead: str, co_units: list[str], title: str) -> list[Entry]:
    return _by_role("overdue", rules.points.overdue, lead, co_units, f"任务逾期：{title}")


def report_missed(rules: RuleSet, *, lead: str, title: str, period: str) -> list[Entry]:
    return _by_role("report_missed", rules.points.report_missed, lead, [],
                    f"{period} 进展未按时报送：{title}")


def bulletin(rules: RuleSet, *, kind: BulletinKind, issuer: Issuer, units: list[str],
             reason: str) -> list[Entry]:
    points = getattr(getattr(rules.points, kind), issuer)
    word = {"commendation": "通报表扬", "criticism": "通报批评"}[kind]
    who = {"committee": "督查委员会", "office": "督查办"}[issuer]
    return [Entry(u, points, f"{kind}.{issuer}", f"{who}{word}：{reason}") for u in dict.fromkeys(units)]


def reversal(points: Decimal, rule: str, reason: str) -> Entry | None:
    """The compensating entry of an appeal upheld in the unit's favour (never an edit)."""
    return None if points == ZERO else Entry("", -points, "appeal.reversal", f"申诉成立，冲销「{rule}」：{reason}")


# ---- thresholds --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fact:
    """A dated fact about a unit that thresholds count (a criticism, an overdue task)."""

    at: datetime
    cause_event_id: str
    persons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Triggered:
    kind: str  # admonishment, award_ineligible, notice, written_inquiry, talk
    unit: str
    year: int
    at: datetime
    cause_event_id: str
    persons: tuple[str, ...] = ()
    reason: str = ""


def _in_order(facts: Iterable[Fact]) -> list[Fact]:
    return sorted(facts, key=lambda f: (f.at, f.cause_event_id))


def actions(rules: RuleSet, unit: str, year: int, criticisms: Iterable[Fact],
            overdue_tasks: Iterable[Fact]) -> list[Triggered]:
    """What a unit's year triggers: the n-th criticism and the n-th overdue task, in time order."""
    limits = rules.thresholds
    found: list[Triggered] = []
    criticised = _in_order(criticisms)
    if len(criticised) >= limits.admonishment_after_criticisms:
        nth = criticised[limits.admonishment_after_criticisms - 1]
        persons = tuple(dict.fromkeys(p for f in criticised[:limits.admonishment_after_criticisms]
                                      for p in f.persons))
        found.append(Triggered("admonishment", unit, year, nth.at, nth.cause_event_id, persons,
                               f"一年内受到 {limits.admonishment_after_criticisms} 次通报批评：责任人诫勉谈话，取消当年评优资格"))
    if len(criticised) >= limits.unit_ineligible_after_criticisms:
        nth = criticised[limits.unit_ineligible_after_criticisms - 1]
        found.append(Triggered("award_ineligible", unit, year, nth.at, nth.cause_event_id, (),
                               f"一年内受到 {limits.unit_ineligible_after_criticisms} 次通报批评：单位取消当年评优资格"))
    late = _in_order(overdue_tasks)
    for step in limits.escalation:
        if len(late) >= step.count:
            nth = late[step.count - 1]
            found.append(Triggered(step.action, unit, year, nth.at, nth.cause_event_id, (),
                                   f"一年内第 {step.count} 项任务逾期"))
    return sorted(found, key=lambda t: (t.at, t.cause_event_id, t.kind))


def award_eligible(rules: RuleSet, criticisms_in_year: int) -> bool:
    return criticisms_in_year < rules.thresholds.unit_ineligible_after_criticisms


# ---- rates and rankings ------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    """A task a unit leads, as the rates see it."""

    due: datetime
    accepted_at: datetime | None = None
    submissions: int = 0
    returns: int = 0
    reverifications: int = 0


def workload(urgencies: list[str], weights) -> Decimal:
    """A unit's workload: each task it leads weighs by its urgency (unknown urgencies as normal)."""
    return weighed(Counter(urgencies), weights)


def weighed(tasks_by_urgency: Mapping[str, int], weights) -> Decimal:
    """``workload`` from the number of tasks of each urgency (as the store counts them)."""
    return sum((getattr(weights, u, weights.normal) * n for u, n in tasks_by_urgency.items()), ZERO)


@dataclass(frozen=True)
class Rates:
    tasks_due: int
    completed: int
    completed_on_time: int
    completion_rate: Decimal | None  # 办结率: completed / due in the period
    on_time_rate: Decimal | None  # 按期办结率: completed by the deadline / due
    return_rate: Decimal | None  # 退回率: returned at least once / submitted at least once
    reverification_rate: Decimal | None  # 复查复议率: sent for re-verification / submitted
    overdue_count: int
    missed_report_count: int


def ratio(part: int, whole: int) -> Decimal | None:
    return None if whole == 0 else (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), ROUND_HALF_UP)


@dataclass(frozen=True)
class Tally:
    """A unit's tasks due in a period, counted as the rates need them. The store counts them in
    SQL with the same definitions as ``tally`` (tests hold the two to the same figures)."""

    due: int = 0
    completed: int = 0  # accepted
    on_time: int = 0  # accepted by the deadline
    submitted: int = 0  # submitted at least once
    returned: int = 0  # submitted and returned at least once
    reverified: int = 0  # submitted and sent for re-verification at least once

    def __add__(self, other: "Tally") -> "Tally":
        return Tally(self.due + other.due, self.completed + other.completed, self.on_time + other.on_time,
                     self.submitted + other.submitted, self.returned + other.returned,
                     self.reverified + other.reverified)


def tally(outcomes: list[Outcome]) -> Tally:
    done = [o for o in outcomes if o.accepted_at is not None]
    submitted = [o for o in outcomes if o.submissions > 0]
    return Tally(due=len(outcomes), completed=len(done), on_time=sum(o.accepted_at <= o.due for o in done),
                 submitted=len(submitted), returned=sum(o.returns > 0 for o in submitted),
                 reverified=sum(o.reverifications > 0 for o in submitted))


def rates(outcomes: list[Outcome], overdue_count: int, missed_report_count: int) -> Rates:
    return rates_of(tally(outcomes), overdue_count, missed_report_count)


def rates_of(counts: Tally, overdue_count: int, missed_report_count: int) -> Rates:
    return Rates(
        tasks_due=counts.due, completed=counts.completed, completed_on_time=counts.on_time,
        completion_rate=ratio(counts.completed, counts.due),
        on_time_rate=ratio(counts.on_time, counts.due),
        return_rate=ratio(counts.returned, counts.submitted),
        reverification_rate=ratio(counts.reverified, counts.submitted),
        overdue_count=overdue_count, missed_report_count=missed_report_count,
    )


@dataclass(frozen=True)
class Standing:
    unit: str
    total: Decimal  # base score plus the period's points
    workload: Decimal = ZERO  # the weights of the tasks it leads due in the period
    score: Decimal = field(default=ZERO)  # what it is ranked by (the total, or normalised)
    rank: int = 0


def normalised(standings: list[Standing], base: Decimal) -> list[Standing]:
    """Points scaled to the average workload: a unit with twice the average workload has its points
    halved, so units with much work are not ranked down for the points that work brings. A unit
    that leads no task keeps its points as they are (scaling them by the mean would multiply,
    say, one criticism's −3 by the average workload)."""
    loads = [s.workload for s in standings if s.workload > 0]
    mean = Decimal(sum(loads)) / len(loads) if loads else Decimal(1)
    return [Standing(s.unit, s.total, s.workload,
                     (base + (s.total - base) * (mean / s.workload if s.workload > 0 else 1))
                     .quantize(Decimal("0.01"), ROUND_HALF_UP))
            for s in standings]


def ranked(standings: list[Standing]) -> list[Standing]:
    """Highest score first; equal scores share a rank (1, 2, 2, 4), listed by unit id."""
    ordered = sorted(standings, key=lambda s: (-s.score, s.unit))
    result, previous, rank = [], None, 0
    for position, s in enumerate(ordered, start=1):
        if s.score != previous:
            rank, previous = position, s.score
        result.append(Standing(s.unit, s.total, s.workload, s.score, rank))
    return result
