"""scoring's pure rules as a supervision office sees them: rule sets (考核细则), assessment periods,
the points each fact earns, the actions thresholds trigger (seed 004), rates and rankings.

Every expected number here is worked out by hand from the rule set, never by calling the code under
test a second time."""

import json
import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import yaml

from services.scoring import domain, periods, rules
from services.scoring.domain import Entry, Fact, Outcome, Standing
from services.scoring.rules import RuleSetError

RULES = rules.DEFAULT
BEIJING = ZoneInfo("Asia/Shanghai")


def points_by_unit(entries: list[Entry]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for e in entries:
        totals[e.unit] += e.points
    return dict(totals)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# ---- 1. rule sets ------------------------------------------------------------------------------

COUNTY_YAML = """
version: county-2026.2
name: 睢县督查考核细则
base_score: 100
points:
  completed_on_time: {lead: 1, co: 0.5}
  completed_late: {lead: -1, co: -1}
  late_per_working_day: {lead: -0.5, co: -0.25, cap: -4}
  returned: {lead: -2, co: 0}
  overdue: {lead: -5, co: -3}
  report_missed: {lead: -1, co: 0}
  commendation: {committee: 5, office: 3}
  criticism: {committee: -5, office: -3}
thresholds:
  admonishment_after_criticisms: 2
  unit_ineligible_after_criticisms: 3
  escalation:
    - {count: 1, action: notice}
    - {count: 2, action: written_inquiry}
    - {count: 3, action: talk}
    - {count: 4, action: admonishment}
"""


def county() -> dict:
    return yaml.safe_load(COUNTY_YAML)


def test_the_shipped_default_rule_set_parses_with_seed_004s_numbers():
    assert RULES.version == "default-2026.1"
    assert RULES.base_score == Decimal(100)
    p = RULES.points
    assert (p.completed_on_time.lead, p.completed_on_time.co) == (Decimal(1), Decimal(1))
    assert (p.late_per_working_day.lead, p.late_per_working_day.cap) == (Decimal("-0.5"), Decimal(-5))
    assert (p.commendation.committee, p.commendation.office) == (Decimal(5), Decimal(3))
    assert (p.criticism.committee, p.criticism.office) == (Decimal(-5), Decimal(-3))
    assert RULES.thresholds.admonishment_after_criticisms == 2
    assert RULES.thresholds.unit_ineligible_after_criticisms == 3
    assert [(s.count, s.action) for s in RULES.thresholds.escalation] == [
        (1, "notice"), (2, "written_inquiry"), (3, "talk")]
    assert RULES.rankings.enabled
    assert RULES.follow_up == {"written_inquiry": 5, "talk": 10}  # 函询 and 约谈 open a follow-up item


def test_yaml_and_json_give_the_same_rule_set_with_exact_decimals():
    from_yaml = rules.parse(COUNTY_YAML)
    compact = rules.parse(json.dumps(county(), ensure_ascii=False))
    tabbed = rules.parse(json.dumps(county(), indent="\t"))  # what some editors and exports write
    assert from_yaml == compact == tabbed
    assert from_yaml.points.late_per_working_day.co == Decimal("-0.25")  # not a binary float
    assert from_yaml.points.completed_on_time.co == Decimal("0.5")
    assert rules.parse(rules.to_json(from_yaml)) == from_yaml  # what is stored reads back the same


def test_the_version_is_recorded_and_required():
    parsed = rules.parse(COUNTY_YAML)
    assert parsed.version == "county-2026.2"
    assert json.loads(rules.to_json(parsed))["version"] == "county-2026.2"
    doc = county()
    del doc["version"]
    with pytest.raises(RuleSetError, match=r"^version: Field required$"):
        rules.parse(yaml.safe_dump(doc))
    doc["version"] = "2026 第二版"  # spaces cannot go in a version
    with pytest.raises(RuleSetError, match=r"^version: "):
        rules.parse(yaml.safe_dump(doc, allow_unicode=True))


def _without_points(d):
    del d["points"]


def _set(path, value):
    def change(d):
        *parents, last = path.split(".")
        for key in parents:
            d = d[key]
        d[last] = value
    return change


def _escalation(*counts):
    return _set("thresholds.escalation", [{"count": c, "action": "notice"} for c in counts])


@pytest.mark.parametrize("change,fmt,bad_field,says", [
    (_without_points, "yaml", "points", "Field required"),
    (_set("points.overdue.lead", "minus five"), "yaml", "points.overdue.lead", "valid decimal"),
    (_set("points.overdue.lead", True), "yaml", "points.overdue.lead", "Decimal input"),  # `yes`
    (_set("points.overdue.lead", float("nan")), "yaml", "points.overdue.lead", "finite number"),
    (_set("points.overdue.deputy", -1), "yaml", "points.overdue.deputy", "Extra inputs are not permitted"),
    (_set("bonus", {"lead": 1}), "json", "bonus", "Extra inputs are not permitted"),
    (_escalation(1, 3, 2), "yaml", "thresholds", "escalation counts must rise"),
    (_escalation(1, 1, 2), "json", "thresholds", "escalation counts must rise"),
    (_set("points.late_per_working_day.lead", -0.125), "yaml", "points.late_per_working_day.lead",
     "no more than 2 decimal places"),
    (_set("points.late_per_working_day.cap", 2), "yaml", "points.late_per_working_day.cap",
     "less than or equal to 0"),
    (_set("thresholds.escalation", [{"count": 1, "action": "fine"}]), "json",
     "thresholds.escalation.0.action", "Input should be"),
    (_set("follow_up", {"written_inquiry": 0}), "yaml", "follow_up.written_inquiry", "greater than or equal to 1"),
    (_set("follow_up", {"talk": 61}), "json", "follow_up.talk", "less than or equal to 60"),
    (_set("follow_up", {"fine": 5}), "json", "follow_up.fine.[key]", "Input should be 'notice'"),
])
def test_a_bad_rule_set_is_refused_naming_the_field(change, fmt, bad_field, says):
    doc = county()
    change(doc)
    text = json.dumps(doc) if fmt == "json" else yaml.safe_dump(doc, allow_unicode=True)
    with pytest.raises(RuleSetError) as refused:
        rules.parse(text)
    assert [".".join(map(str, e["loc"])) for e in refused.value.errors] == [bad_field]
    assert str(refused.value).startswith(f"{bad_field}: ")
    assert says in str(refused.value)


def test_every_bad_field_is_named_at_once():
    doc = county()
    del doc["points"]
    doc["base_score"] = "a hundred"
    doc["thresholds"]["typo"] = 1
    with pytest.raises(RuleSetError) as refused:
        rules.parse(yaml.safe_dump(doc, allow_unicode=True))
    message = str(refused.value)
    for field in ("base_score: ", "points: Field required", "thresholds.typo: Extra inputs"):
        assert field in message
    assert len(refused.value.errors) == 3


@pytest.mark.parametrize("text,says", [
    ("", "a rule set is a mapping"),
    ("42", "a rule set is a mapping"),
    ("- version: x\n- name: y\n", "a rule set is a mapping"),
    ('"just a string"', "a rule set is a mapping"),
    ("version: [county\nname: x\n", "not YAML or JSON"),
    ('{"version": "x",', "not YAML or JSON"),
])
def test_a_document_that_is_not_a_mapping_or_not_yaml_is_refused_as_a_whole(text, says):
    with pytest.raises(RuleSetError, match=f"^document: {says}") as refused:
        rules.parse(text)
    assert refused.value.errors[0]["loc"] == ()


# ---- 2. periods --------------------------------------------------------------------------------

@pytest.mark.parametrize("name,start,end", [
    ("2026", date(2026, 1, 1), date(2027, 1, 1)),
    ("2026-H1", date(2026, 1, 1), date(2026, 7, 1)),
    ("2026-H2", date(2026, 7, 1), date(2027, 1, 1)),
    ("2026-Q1", date(2026, 1, 1), date(2026, 4, 1)),
    ("2026-Q3", date(2026, 7, 1), date(2026, 10, 1)),
    ("2026-Q4", date(2026, 10, 1), date(2027, 1, 1)),
    ("2026-02", date(2026, 2, 1), date(2026, 3, 1)),
    ("2026-11", date(2026, 11, 1), date(2026, 12, 1)),
    ("2026-12", date(2026, 12, 1), date(2027, 1, 1)),
])
def test_periods_start_on_their_first_day_and_end_on_the_first_day_after(name, start, end):
    period = periods.parse(name)
    assert (period.start, period.end, period.name, period.year) == (start, end, name, start.year)


@pytest.mark.parametrize("name", [
    "", "26", "2026-", "2026-1", "2026-00", "2026-13", "2026-H3", "2026-H0", "2026-Q5", "2026-Q0",
    "2026-h2", "2026-q4", "2026/11", "2026-11-01", " 2026", "2026 ", "2026\n", "1999", "2101",
    "２０２６",  # full-width digits are not a period name
])
def test_bad_period_names_are_refused(name):
    with pytest.raises(ValueError, match="bad period"):
        periods.parse(name)


@pytest.mark.parametrize("moment,inside,outside", [
    # 2026-12-31T16:30Z is 2027-01-01 00:30 in Beijing
    (utc(2026, 12, 31, 16, 30), ["2027", "2027-H1", "2027-Q1", "2027-01"], ["2026", "2026-Q4", "2026-12"]),
    # one second before Beijing's midnight
    (utc(2026, 12, 31, 15, 59, 59), ["2026", "2026-H2", "2026-Q4", "2026-12"], ["2027", "2027-01"]),
    # 2025-12-31T16:00Z is the first moment of 2026 in Beijing
    (utc(2025, 12, 31, 16, 0), ["2026", "2026-H1", "2026-Q1", "2026-01"], ["2025", "2025-12"]),
    # 2026-11-30T16:00Z is 1 December in Beijing: out of November, still in Q4 and H2
    (utc(2026, 11, 30, 16, 0), ["2026-12", "2026-Q4", "2026-H2", "2026"], ["2026-11"]),
    (datetime(2027, 1, 1, 0, 30, tzinfo=BEIJING), ["2027"], ["2026"]),
])
def test_a_moment_belongs_to_the_period_of_its_day_in_beijing(moment, inside, outside):
    assert all(periods.parse(name).holds(moment) for name in inside)
    assert not any(periods.parse(name).holds(moment) for name in outside)


def test_year_and_month_of_a_moment_are_beijings():
    assert periods.year_of(utc(2026, 12, 31, 16, 30)).name == "2027"
    assert periods.month_of(utc(2026, 12, 31, 16, 30)).name == "2027-01"
    assert periods.month_of(utc(2026, 11, 30, 15, 59)).name == "2026-11"


# ---- 3. the entries each fact earns ------------------------------------------------------------

def test_on_time_acceptance_earns_one_point_for_the_lead_and_each_co_unit_once():
    entries = domain.accepted(RULES, lead="A", co_units=["B", "C", "B", "A"], title="修缮县道",
                              on_time=True, working_days_late=0)
    assert [(e.unit, e.points, e.rule) for e in entries] == [
        ("A", Decimal(1), "completed_on_time.lead"),
        ("B", Decimal(1), "completed_on_time.co"),
        ("C", Decimal(1), "completed_on_time.co"),
    ]
    assert all("修缮县道" in e.reason for e in entries)


@pytest.mark.parametrize("days,lead", [
    (0, "-1"),     # late on the deadline day itself: the flat −1 only
    (1, "-1.5"),
    (3, "-2.5"),   # −1 − 3 × 0.5
    (9, "-5.5"),
    (10, "-6"),    # −1 − 5: the per-day deduction reaches its cap
    (20, "-6"),    # and stays there
])
def test_late_acceptance_costs_the_lead_one_point_plus_half_a_point_per_working_day_capped(days, lead):
    entries = domain.accepted(RULES, lead="A", co_units=["B"], title="修缮县道", on_time=False,
                              working_days_late=days)
    assert points_by_unit(entries) == {"A": Decimal(lead), "B": Decimal(-1)}  # co: −1, no per-day
    assert {e.rule for e in entries} == {"completed_late.lead", "completed_late.co"}
    assert f"逾期 {days} 个工作日" in entries[0].reason


@pytest.mark.parametrize("days,co", [(1, "-1.25"), (3, "-1.75"), (16, "-5"), (30, "-5")])
def test_co_units_lose_per_day_as_their_rule_set_says(days, co):
    county_rules = rules.parse(COUNTY_YAML)  # co: −1 − 0.25/day, cap −4
    entries = domain.accepted(county_rules, lead="A", co_units=["B"], title="t", on_time=False,
                              working_days_late=days)
    assert points_by_unit(entries)["B"] == Decimal(co)


def test_a_returned_task_costs_its_lead_two_points_and_its_co_units_nothing():
    totals = points_by_unit(domain.returned(RULES, lead="A", co_units=["B"], title="t"))
    assert totals["A"] == Decimal(-2)
    assert totals.get("B", Decimal(0)) == 0


def test_an_overdue_task_costs_the_lead_five_and_each_co_unit_three():
    entries = domain.overdue(RULES, lead="A", co_units=["B", "C", "C"], title="t")
    assert points_by_unit(entries) == {"A": Decimal(-5), "B": Decimal(-3), "C": Decimal(-3)}
    assert [e.rule for e in entries] == ["overdue.lead", "overdue.co", "overdue.co"]


def test_a_missed_report_costs_the_lead_one_point():
    entries = domain.report_missed(RULES, lead="A", title="t", period="2026-10")
    assert [(e.unit, e.points, e.rule) for e in entries] == [("A", Decimal(-1), "report_missed.lead")]
    assert "2026-10" in entries[0].reason


@pytest.mark.parametrize("kind,issuer,points,words", [
    ("commendation", "committee", "5", "督查委员会通报表扬"),
    ("commendation", "office", "3", "督查办通报表扬"),
    ("criticism", "committee", "-5", "督查委员会通报批评"),
    ("criticism", "office", "-3", "督查办通报批评"),
])
def test_a_bulletin_scores_each_unit_it_names_once(kind, issuer, points, words):
    entries = domain.bulletin(RULES, kind=kind, issuer=issuer, units=["A", "B", "A"], reason="秋粮收储")
    assert [(e.unit, e.points, e.rule) for e in entries] == [
        ("A", Decimal(points), f"{kind}.{issuer}"), ("B", Decimal(points), f"{kind}.{issuer}")]
    assert all(e.reason == f"{words}：秋粮收储" for e in entries)


@pytest.mark.parametrize("points", ["-3", "-2.5", "5", "1"])
def test_an_upheld_appeal_books_the_negation_of_the_contested_entry(points):
    undo = domain.reversal(Decimal(points), "criticism.office", "材料已按时报送")
    assert undo.points == -Decimal(points)
    assert Decimal(points) + undo.points == 0
    assert undo.rule == "appeal.reversal"
    assert "criticism.office" in undo.reason and "材料已按时报送" in undo.reason


@pytest.mark.parametrize("points", [Decimal(0), Decimal("0.00"), Decimal("-0")])
def test_reversing_a_zero_entry_books_nothing(points):
    assert domain.reversal(points, "returned.co", "r") is None


@pytest.mark.parametrize("action, counter", [("submit", "submissions"), ("reverify", "reverifications"),
                                             ("return", "returns"), ("accept", "accepted"),
                                             ("sign", None), ("suspend", None)])
def test_a_task_move_adds_to_one_counter_of_its_outcome(action, counter):
    at, due = utc(2026, 3, 2, 1), utc(2026, 3, 3, 1)
    found, entries = domain.status_change(RULES, action=action, lead="U1", co_units=["U2"], title="t",
                                          at=at, due=due, working_days_late=0)
    assert found == counter
    points = {"return": {"U1": Decimal(-2)}, "accept": {"U1": Decimal(1), "U2": Decimal(1)}}
    assert points_by_unit(entries) == points.get(action, {})


def test_the_latest_stated_deadline_wins_whatever_order_the_events_come_in():
    first, second = utc(2026, 3, 10), utc(2026, 3, 20)
    told_early, told_late = utc(2026, 3, 1), utc(2026, 3, 5)
    assert domain.later_due(None, None, first, told_early) == (first, told_early)
    assert domain.later_due(first, told_early, second, told_late) == (second, told_late)
    assert domain.later_due(second, told_late, first, told_early) == (second, told_late)  # older news
    assert domain.later_due(second, told_late, None, utc(2026, 4, 1)) == (second, told_late)  # no deadline


# ---- 4. seed 004: criticisms in a year, and the escalation ladder ------------------------------

UNIT = "town-baimiao"  # a township (乡镇)


def criticism(n: int, at: datetime, *persons: str) -> Fact:
    return Fact(at=at, cause_event_id=f"evt-crit-{n}", persons=persons)


COMMENDED = utc(2026, 3, 10, 2)
FIRST = criticism(1, utc(2026, 5, 20, 2), "张伟")
SECOND = criticism(2, utc(2026, 9, 8, 2), "李娜")
THIRD = criticism(3, utc(2026, 11, 2, 2), "王强")


def test_seed_004_one_commendation_two_criticisms_scores_99():
    entries = (domain.bulletin(RULES, kind="commendation", issuer="committee", units=[UNIT], reason="抗旱")
               + domain.bulletin(RULES, kind="criticism", issuer="office", units=[UNIT], reason="进度滞后")
               + domain.bulletin(RULES, kind="criticism", issuer="office", units=[UNIT], reason="报送不实"))
    assert [e.points for e in entries] == [Decimal(5), Decimal(-3), Decimal(-3)]
    assert RULES.base_score + sum(e.points for e in entries) == Decimal(99)  # 100 + 5 − 3 − 3


def test_seed_004_one_criticism_triggers_nothing():
    assert domain.actions(RULES, UNIT, 2026, [FIRST], []) == []
    assert domain.award_eligible(RULES, 1)


def test_seed_004_the_second_criticism_flags_the_responsible_persons_for_admonishment():
    [action] = domain.actions(RULES, UNIT, 2026, [FIRST, SECOND], [])
    assert action.kind == "admonishment"
    assert (action.unit, action.year) == (UNIT, 2026)
    assert (action.cause_event_id, action.at) == ("evt-crit-2", SECOND.at)
    assert action.persons == ("张伟", "李娜")
    assert "诫勉" in action.reason
    assert domain.award_eligible(RULES, 2)  # the unit itself keeps its award eligibility


def test_seed_004_the_third_criticism_makes_the_unit_ineligible():
    found = domain.actions(RULES, UNIT, 2026, [FIRST, SECOND, THIRD], [])
    assert [(a.kind, a.cause_event_id) for a in found] == [
        ("admonishment", "evt-crit-2"), ("award_ineligible", "evt-crit-3")]
    assert found[1].persons == ()
    assert not domain.award_eligible(RULES, 3)


def test_seed_004_facts_out_of_order_trigger_the_same_actions():
    in_order = domain.actions(RULES, UNIT, 2026, [FIRST, SECOND, THIRD], [])
    for seed in range(6):
        shuffled = [FIRST, SECOND, THIRD]
        random.Random(seed).shuffle(shuffled)
        assert domain.actions(RULES, UNIT, 2026, shuffled, []) == in_order
    assert domain.actions(RULES, UNIT, 2026, [THIRD, SECOND, FIRST], []) == in_order


def test_seed_004_criticisms_of_different_years_do_not_add_up():
    """actions() takes one year's facts; the caller groups facts by their year in Beijing."""
    facts = [
        criticism(1, utc(2025, 6, 1, 2), "张伟"),
        criticism(2, utc(2025, 12, 31, 15, 30), "张伟"),  # 2025-12-31 23:30 Beijing: 2025
        criticism(3, utc(2025, 12, 31, 16, 30), "李娜"),  # 2026-01-01 00:30 Beijing: 2026
        criticism(4, utc(2026, 12, 31, 16, 30), "李娜"),  # 2027-01-01 00:30 Beijing: 2027
    ]
    by_year: dict[int, list[Fact]] = defaultdict(list)
    for fact in facts:
        by_year[periods.year_of(fact.at).year].append(fact)
    assert {year: [f.cause_event_id for f in fs] for year, fs in by_year.items()} == {
        2025: ["evt-crit-1", "evt-crit-2"], 2026: ["evt-crit-3"], 2027: ["evt-crit-4"]}
    found = [a for year, fs in sorted(by_year.items()) for a in domain.actions(RULES, UNIT, year, fs, [])]
    assert [(a.kind, a.year, a.cause_event_id, a.persons) for a in found] == [
        ("admonishment", 2025, "evt-crit-2", ("张伟",))]  # persons named once


def overdue_fact(n: int, at: datetime) -> Fact:
    return Fact(at=at, cause_event_id=f"evt-overdue-{n}")


def test_the_nth_overdue_task_of_a_year_climbs_notice_written_inquiry_talk():
    late = [overdue_fact(1, utc(2026, 2, 3, 1)), overdue_fact(2, utc(2026, 4, 7, 1)),
            overdue_fact(3, utc(2026, 8, 19, 1)), overdue_fact(4, utc(2026, 10, 9, 1))]
    ladder = [("notice", "evt-overdue-1"), ("written_inquiry", "evt-overdue-2"), ("talk", "evt-overdue-3")]
    for n in range(5):
        found = domain.actions(RULES, UNIT, 2026, [], late[:n])
        assert [(a.kind, a.cause_event_id) for a in found] == ladder[:min(n, 3)]
    assert domain.actions(RULES, UNIT, 2026, [], late[::-1]) == domain.actions(RULES, UNIT, 2026, [], late)
    [notice, inquiry, talk] = domain.actions(RULES, UNIT, 2026, [], late)
    assert notice.at == late[0].at and talk.at == late[2].at
    assert "第 2 项任务逾期" in inquiry.reason


def test_criticism_and_overdue_actions_come_in_time_order():
    late = [overdue_fact(1, utc(2026, 6, 1, 1)), overdue_fact(2, utc(2026, 10, 1, 1))]
    found = domain.actions(RULES, UNIT, 2026, [SECOND, FIRST], late)
    assert [a.kind for a in found] == ["notice", "admonishment", "written_inquiry"]


# ---- 5. rates ----------------------------------------------------------------------------------

DUE = utc(2026, 6, 30, 9)


def test_rates_by_hand():
    before, after = DUE - timedelta(days=2), DUE + timedelta(days=4)
    outcomes = [
        Outcome(DUE, accepted_at=before, submissions=1),                    # on time
        Outcome(DUE, accepted_at=DUE, submissions=2, returns=1),            # on time, to the minute
        Outcome(DUE, accepted_at=before, submissions=1, reverifications=1),  # on time
        Outcome(DUE, accepted_at=after, submissions=2, returns=1),          # late
        Outcome(DUE, accepted_at=after, submissions=1),                     # late
        Outcome(DUE, submissions=1),                                        # submitted, not accepted
        Outcome(DUE),                                                       # nothing yet
        Outcome(DUE),
    ]
    r = domain.rates(outcomes, overdue_count=3, missed_report_count=2)
    assert (r.tasks_due, r.completed, r.completed_on_time) == (8, 5, 3)
    assert r.completion_rate == Decimal("0.6250")       # 5 / 8
    assert r.on_time_rate == Decimal("0.3750")          # 3 / 8
    assert r.return_rate == Decimal("0.3333")           # 2 returned of 6 submitted
    assert r.reverification_rate == Decimal("0.1667")   # 1 of 6, rounded half up
    assert (r.overdue_count, r.missed_report_count) == (3, 2)


def test_no_tasks_due_gives_no_rates_not_a_division_error():
    r = domain.rates([], overdue_count=0, missed_report_count=0)
    assert (r.tasks_due, r.completion_rate, r.on_time_rate, r.return_rate, r.reverification_rate) == (
        0, None, None, None, None)
    r = domain.rates([Outcome(DUE), Outcome(DUE)], 0, 0)  # due but nothing submitted
    assert (r.completion_rate, r.return_rate, r.reverification_rate) == (Decimal(0), None, None)


# ---- 6. rankings -------------------------------------------------------------------------------

def standing(unit: str, score: str, workload: int = 0) -> Standing:
    return Standing(unit, Decimal(score), workload, Decimal(score))


def test_competition_ranking_with_ties_listed_by_unit_id():
    result = domain.ranked([standing("d", "80"), standing("b", "95"), standing("c", "101"),
                            standing("a", "95"), standing("e", "80"), standing("f", "79.5")])
    assert [(s.rank, s.unit) for s in result] == [(1, "c"), (2, "a"), (2, "b"), (4, "d"), (4, "e"), (6, "f")]


def test_normalising_by_workload_lifts_a_busy_unit_above_a_quiet_one():
    # busy: 20 tasks, 90 (−10); quiet: 4 tasks, 96 (−4). Mean workload (20 + 4) / 2 = 12.
    # busy: 100 − 10 × 12 / 20 = 94.00; quiet: 100 − 4 × 12 / 4 = 88.00
    busy, quiet = standing("busy", "90", 20), standing("quiet", "96", 4)
    assert [s.unit for s in domain.ranked([busy, quiet])] == ["quiet", "busy"]
    scored = domain.normalised([busy, quiet], Decimal(100))
    assert [(s.unit, s.total, s.score) for s in scored] == [
        ("busy", Decimal(90), Decimal("94.00")), ("quiet", Decimal(96), Decimal("88.00"))]
    assert [(s.rank, s.unit) for s in domain.ranked(scored)] == [(1, "busy"), (2, "quiet")]


def test_a_unit_leading_no_task_is_not_divided_by_zero_nor_scaled_up():
    # mean over units with work: (20 + 5) / 2 = 12.5
    # idle: leads nothing, one office criticism → 97, kept as it is (not 100 − 3 × 12.5 = 62.50)
    # busy: 100 − 20 × 12.5 / 20 = 87.50; mid: 100 − 5 × 12.5 / 5 = 87.50
    scored = domain.normalised([standing("idle", "97", 0), standing("mid", "95", 5),
                                standing("busy", "80", 20)], Decimal(100))
    assert {s.unit: s.score for s in scored} == {
        "idle": Decimal("97.00"), "mid": Decimal("87.50"), "busy": Decimal("87.50")}
    assert [(s.rank, s.unit) for s in domain.ranked(scored)] == [(1, "idle"), (2, "busy"), (2, "mid")]
    nobody_works = domain.normalised([standing("a", "97"), standing("b", "103")], Decimal(100))
    assert [s.score for s in nobody_works] == [Decimal("97.00"), Decimal("103.00")]


# ---- 7. a year of 50 tasks across 5 units ------------------------------------------------------

# Each task is due in 2026. "late" tasks are accepted the given number of working days late (the
# tracking service counts them on the holiday calendar); "overdue" tasks went red and are still open
# at the end of the year. `ret` is how many times the report was returned for redo, `rv` whether
# it was sent for re-verification. An "overdue" task with ret > 0 was submitted and returned.
TASKS = [
    # task   lead   co-units            outcome    days ret rv
    ("T01", "u1", ["u2"],               "on_time",  0, 0, 0),
    ("T02", "u1", [],                   "on_time",  0, 0, 0),
    ("T03", "u1", ["u3"],               "on_time",  0, 0, 0),
    ("T04", "u1", [],                   "on_time",  0, 1, 0),
    ("T05", "u1", [],                   "on_time",  0, 0, 0),
    ("T06", "u1", ["u2", "u3"],         "on_time",  0, 0, 0),
    ("T07", "u1", [],                   "late",     3, 0, 0),
    ("T08", "u1", [],                   "late",    12, 0, 0),
    ("T09", "u1", ["u4"],               "late",     1, 0, 0),
    ("T10", "u1", [],                   "on_time",  0, 0, 1),
    ("T11", "u1", [],                   "overdue",  0, 0, 0),
    ("T12", "u1", ["u5"],               "overdue",  0, 0, 0),
    ("T13", "u1", [],                   "on_time",  0, 2, 0),
    ("T14", "u1", [],                   "on_time",  0, 0, 0),  # accepted at the deadline minute
    ("T15", "u2", [],                   "on_time",  0, 0, 0),
    ("T16", "u2", ["u1"],               "on_time",  0, 0, 0),
    ("T17", "u2", [],                   "on_time",  0, 0, 0),
    ("T18", "u2", [],                   "on_time",  0, 1, 0),
    ("T19", "u2", ["u3"],               "late",     2, 0, 0),
    ("T20", "u2", [],                   "on_time",  0, 0, 0),
    ("T21", "u2", [],                   "on_time",  0, 0, 1),
    ("T22", "u2", [],                   "overdue",  0, 1, 0),
    ("T23", "u2", ["u4"],               "on_time",  0, 0, 0),
    ("T24", "u2", [],                   "late",    10, 0, 0),
    ("T25", "u2", [],                   "on_time",  0, 0, 0),
    ("T26", "u2", [],                   "on_time",  0, 0, 0),
    ("T27", "u3", [],                   "on_time",  0, 0, 0),
    ("T28", "u3", ["u2"],               "on_time",  0, 0, 0),
    ("T29", "u3", [],                   "on_time",  0, 0, 0),
    ("T30", "u3", [],                   "on_time",  0, 0, 0),
    ("T31", "u3", ["u5"],               "on_time",  0, 0, 0),
    ("T32", "u3", [],                   "on_time",  0, 0, 0),
    ("T33", "u3", [],                   "late",     4, 0, 0),
    ("T34", "u3", [],                   "on_time",  0, 1, 0),
    ("T35", "u3", [],                   "on_time",  0, 0, 0),
    ("T36", "u3", ["u1"],               "on_time",  0, 0, 0),
    ("T37", "u4", [],                   "on_time",  0, 0, 0),
    ("T38", "u4", ["u5"],               "late",     6, 0, 0),
    ("T39", "u4", [],                   "overdue",  0, 0, 0),
    ("T40", "u4", [],                   "overdue",  0, 0, 0),
    ("T41", "u4", [],                   "on_time",  0, 1, 1),
    ("T42", "u4", ["u3"],               "on_time",  0, 0, 0),
    ("T43", "u4", [],                   "late",    20, 0, 0),
    ("T44", "u4", [],                   "on_time",  0, 0, 0),
    ("T45", "u5", [],                   "on_time",  0, 0, 0),
    ("T46", "u5", ["u4"],               "on_time",  0, 0, 0),
    ("T47", "u5", [],                   "on_time",  0, 0, 0),
    ("T48", "u5", [],                   "overdue",  0, 0, 0),
    ("T49", "u5", ["u4", "u4", "u5"],   "on_time",  0, 0, 0),  # u4 once; the lead is not its own co
    ("T50", "u5", [],                   "on_time",  0, 0, 0),
]
MISSED_REPORTS = [("T22", "2026-05"), ("T39", "2026-10"), ("T40", "2026-11"), ("T48", "2026-09")]
BULLETINS = [  # (kind, issuer, units, reason)
    ("commendation", "committee", ["u1", "u3"], "防汛抢险工作成效明显"),
    ("criticism", "office", ["u4", "u5"], "重点项目推进不力"),
]

# By hand, under the default rule set (base 100; late = −1 − 0.5/day, per-day part capped at −5:
# T07 3d −2.5, T08 12d −6, T09 1d −1.5, T19 2d −2, T24 10d −6, T33 4d −3, T38 6d −4, T43 20d −6).
#
# unit | as lead: on time | returns (−2) | late       | overdue (−5) | missed | as co-unit                          | bulletin | total
# u1   | 9 → +9          | 3 → −6       | −10        | 2 → −10      |  0     | T16 +1, T36 +1             = +2     | +5       | 100 − 17 + 2 + 5 =  90
# u2   | 9 → +9          | 2 → −4       | −2 −6 = −8 | 1 → −5       | −1     | T01 +1, T06 +1, T28 +1     = +3     |  0       | 100 −  9 + 3     =  94
# u3   | 9 → +9          | 1 → −2       | −3         | 0            |  0     | T03 +1, T06 +1, T19 −1, T42 +1 = +2 | +5       | 100 +  4 + 2 + 5 = 111
# u4   | 4 → +4          | 1 → −2       | −4 −6 = −10| 2 → −10      | −2     | T09 −1, T23 +1, T46 +1, T49 +1 = +2 | −3       | 100 − 20 + 2 − 3 =  79
# u5   | 5 → +5          | 0            | 0          | 1 → −5       | −1     | T12 −3, T31 +1, T38 −1     = −3     | −3       | 100 −  1 − 3 − 3 =  93
#
# Rates of the tasks each unit leads (submitted = accepted, plus T22 which was submitted and returned):
# unit | due | done | on time | submitted | returned≥1 | re-verified | completion    | on time       | return        | re-verification
# u1   |  14 |  12  |    9    |    12     | T04 T13: 2 | T10: 1      | 12/14 = .8571 |  9/14 = .6429 | 2/12 = .1667  | 1/12 = .0833
# u2   |  12 |  11  |    9    |    12     | T18 T22: 2 | T21: 1      | 11/12 = .9167 |  9/12 = .7500 | 2/12 = .1667  | 1/12 = .0833
# u3   |  10 |  10  |    9    |    10     | T34: 1     | 0           | 10/10 = 1     |  9/10 = .9000 | 1/10 = .1000  | 0
# u4   |   8 |   6  |    4    |     6     | T41: 1     | T41: 1      |  6/8  = .7500 |  4/8  = .5000 | 1/6  = .1667  | 1/6 = .1667
# u5   |   6 |   5  |    5    |     5     | 0          | 0           |  5/6  = .8333 |  5/6  = .8333 | 0/5  = 0      | 0
#
# Ranking by total: u3 111, u2 94, u5 93, u1 90, u4 79.
# Normalised, mean workload 50 / 5 = 10, score = 100 + (total − 100) × 10 / workload:
#   u1 100 − 10 × 10/14 = 92.857 → 92.86   u2 100 − 6 × 10/12 = 95.00   u3 100 + 11 × 10/10 = 111.00
#   u4 100 − 21 × 10/8  = 73.75            u5 100 − 7 × 10/6  = 88.333 → 88.33
# so the busy u1 climbs above u5: u3, u2, u1, u5, u4.
D = Decimal
EXPECTED = {
    # unit: (total, due, done, on time, completion, on-time rate, return rate, re-verification,
    #        overdue, missed, rank, normalised score, normalised rank)
    "u1": (D(90), 14, 12, 9, D("0.8571"), D("0.6429"), D("0.1667"), D("0.0833"), 2, 0, 4, D("92.86"), 3),
    "u2": (D(94), 12, 11, 9, D("0.9167"), D("0.7500"), D("0.1667"), D("0.0833"), 1, 1, 2, D("95.00"), 2),
    "u3": (D(111), 10, 10, 9, D("1.0000"), D("0.9000"), D("0.1000"), D("0.0000"), 0, 0, 1, D("111.00"), 1),
    "u4": (D(79), 8, 6, 4, D("0.7500"), D("0.5000"), D("0.1667"), D("0.1667"), 2, 2, 5, D("73.75"), 5),
    "u5": (D(93), 6, 5, 5, D("0.8333"), D("0.8333"), D("0.0000"), D("0.0000"), 1, 1, 3, D("88.33"), 4),
}
# The escalation ladder for the overdue tasks each unit leads; one criticism each is below seed 004's
# thresholds, so nothing else is triggered and every unit stays award-eligible.
EXPECTED_ACTIONS = {
    "u1": [("notice", "evt-overdue-T11"), ("written_inquiry", "evt-overdue-T12")],
    "u2": [("notice", "evt-overdue-T22")],
    "u3": [],
    "u4": [("notice", "evt-overdue-T39"), ("written_inquiry", "evt-overdue-T40")],
    "u5": [("notice", "evt-overdue-T48")],
}


def due_of(task: str) -> datetime:
    return utc(2026, 1, 5, 1) + timedelta(days=6 * int(task[1:]))  # 09:00 Beijing, T50 on 11 Nov


def test_a_year_of_fifty_tasks_scores_rates_and_ranks_as_worked_out_by_hand():
    assert len(TASKS) == 50 and len({t[0] for t in TASKS}) == 50
    assert all(periods.parse("2026").holds(due_of(t[0])) for t in TASKS)
    lead_of = {task: lead for task, lead, *_ in TASKS}
    entries: list[Entry] = []
    outcomes: dict[str, list[Outcome]] = defaultdict(list)
    overdue: dict[str, list[Fact]] = defaultdict(list)
    for task, lead, co, outcome, days, ret, rv in TASKS:
        due, who = due_of(task), {"lead": lead, "co_units": co, "title": f"任务 {task}"}
        for _ in range(ret):
            entries += domain.returned(RULES, **who)
        if outcome == "overdue":
            entries += domain.overdue(RULES, **who)
            overdue[lead].append(Fact(due + timedelta(days=1), f"evt-overdue-{task}"))
            outcomes[lead].append(Outcome(due, None, submissions=ret, returns=ret, reverifications=rv))
        else:
            on_time = outcome == "on_time"
            accepted_at = (due if task == "T14" else due - timedelta(days=2)) if on_time \
                else due + timedelta(days=days)
            entries += domain.accepted(RULES, **who, on_time=on_time, working_days_late=days)
            outcomes[lead].append(Outcome(due, accepted_at, submissions=ret + 1, returns=ret,
                                          reverifications=rv))
    for task, month in MISSED_REPORTS:
        entries += domain.report_missed(RULES, lead=lead_of[task], title=f"任务 {task}", period=month)
    criticised: dict[str, list[Fact]] = defaultdict(list)
    for n, (kind, issuer, units, reason) in enumerate(BULLETINS):
        entries += domain.bulletin(RULES, kind=kind, issuer=issuer, units=units, reason=reason)
        if kind == "criticism":
            for u in units:
                criticised[u].append(Fact(utc(2026, 7, 1 + n, 2), f"evt-bulletin-{n}"))

    points = points_by_unit(entries)
    totals = {u: RULES.base_score + points.get(u, Decimal(0)) for u in EXPECTED}
    assert {u: totals[u] for u in EXPECTED} == {u: e[0] for u, e in EXPECTED.items()}

    missed = {u: sum(lead_of[t] == u for t, _ in MISSED_REPORTS) for u in EXPECTED}
    for unit, (_, due, done, on_time, completion, on_time_rate, return_rate, reverification,
               overdue_count, missed_count, *_) in EXPECTED.items():
        r = domain.rates(outcomes[unit], len(overdue[unit]), missed[unit])
        assert (r.tasks_due, r.completed, r.completed_on_time, r.completion_rate, r.on_time_rate,
                r.return_rate, r.reverification_rate, r.overdue_count, r.missed_report_count) == (
            due, done, on_time, completion, on_time_rate, return_rate, reverification,
            overdue_count, missed_count), unit

    standings = [Standing(u, totals[u], len(outcomes[u]), totals[u]) for u in sorted(EXPECTED)]
    by_total = domain.ranked(standings)
    assert [(s.rank, s.unit, s.score) for s in by_total] == sorted(
        (e[10], u, e[0]) for u, e in EXPECTED.items())
    by_load = domain.ranked(domain.normalised(standings, RULES.base_score))
    assert [(s.rank, s.unit, s.score, s.total) for s in by_load] == sorted(
        (e[12], u, e[11], e[0]) for u, e in EXPECTED.items())

    for unit, expected in EXPECTED_ACTIONS.items():
        found = domain.actions(RULES, unit, 2026, criticised[unit], overdue[unit])
        assert [(a.kind, a.cause_event_id) for a in found] == expected, unit
        assert domain.award_eligible(RULES, len(criticised[unit]))



def test_a_units_workload_weighs_each_task_by_its_urgency():
    weights = rules.DEFAULT.rankings.workload_weights
    assert domain.workload(["extra_urgent", "urgent", "normal", "normal"], weights) == Decimal("5.5")
    assert domain.workload([], weights) == 0
    assert domain.workload(["", "unheard-of"], weights) == 2  # unknown urgencies count as normal
    document = rules.DEFAULT.model_dump(mode="json")
    document["rankings"]["workload_weights"] = {"extra_urgent": 3, "urgent": 2, "normal": 1}
    custom = rules.parse(json.dumps(document))
    assert domain.workload(["extra_urgent", "urgent"], custom.rankings.workload_weights) == 5
