"""The services' rules as pure functions: no bus, no database."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from services.intake import domain as intake
from services.intake.models import ItemCreate
from services.notify import domain as notify
from services.tracking import domain as tracking
from shared.events import ActionTriggered, ItemRegistered, TaskAssigned

NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def item(*dues: datetime, co_units=()) -> ItemCreate:
    return ItemCreate.model_validate({
        "title": "整治", "source": {"kind": "hotline_case", "ref": "12345-001"},
        "tasks": [{"lead_unit": f"U-{i}", "co_units": list(co_units), "due": d} for i, d in enumerate(dues)],
    })


def test_deadlines_must_lie_ahead_of_the_clock():
    cmd = item(NOW + timedelta(days=1), NOW, NOW - timedelta(days=1))
    errors = intake.deadline_errors(cmd.tasks, NOW)
    assert [e["loc"] for e in errors] == [["body", "tasks", 1, "due"], ["body", "tasks", 2, "due"]]
    assert intake.deadline_errors(item(NOW + timedelta(seconds=1)).tasks, NOW) == []


def test_plan_keeps_task_order_and_drops_the_lead_from_its_co_units():
    cmd = item(NOW + timedelta(days=1), NOW + timedelta(days=2), co_units=["U-0", "U-9", "U-9"])
    planned, tasks = intake.plan_item(cmd, tenant="acme", number="DB-2026-0001", now=NOW)
    assert [t.position for t in tasks] == [0, 1]
    assert [t.lead_unit for t in tasks] == ["U-0", "U-1"]
    assert tasks[0].co_units == ["U-9"] and tasks[1].co_units == ["U-0", "U-9"]
    assert all(t.item_id == planned.id and t.tenant == "acme" for t in tasks)
    assert tasks[0].title == "整治"


def test_registration_emits_item_registered_then_one_assignment_per_task():
    planned, tasks = intake.plan_item(item(NOW + timedelta(days=1), NOW + timedelta(days=3)),
                                      tenant="acme", number="DB-2026-0007", now=NOW)
    events = intake.registration_events(planned, tasks)
    assert [type(e) for e in events] == [ItemRegistered, TaskAssigned, TaskAssigned]
    assert events[0].task_ids == [t.id for t in tasks]
    assert events[0].number == "DB-2026-0007"
    assert [e.task_id for e in events[1:]] == [t.id for t in tasks]
    assert events[2].due == NOW + timedelta(days=3)


def test_overdue_only_when_open_and_past_the_deadline():
    due = NOW
    assert tracking.is_overdue(due=due, status="assigned", now=NOW)
    assert tracking.is_overdue(due=due, status="in_progress", now=NOW + timedelta(days=1))
    assert not tracking.is_overdue(due=due, status="assigned", now=NOW - timedelta(seconds=1))
    assert not tracking.is_overdue(due=due, status="accepted", now=NOW + timedelta(days=1))
    assert not tracking.is_overdue(due=due, status="cancelled", now=NOW + timedelta(days=1))


def test_assignment_notice_goes_to_lead_and_each_co_unit_once():
    assert notify.assignment_recipients("U-1", ["U-2", "U-1", "U-2"]) == ["U-1", "U-2"]


def test_item_numbers_restart_each_beijing_year_and_grow_past_four_digits():
    assert intake.item_number(2026, 1) == "DB-2026-0001"
    assert intake.item_number(2026, 12345) == "DB-2026-12345"
    new_year_eve_utc = datetime(2026, 12, 31, 16, 30, tzinfo=UTC)  # 00:30 on 1 Jan in Beijing
    assert intake.numbering_year(new_year_eve_utc) == 2027


def test_same_request_same_fingerprint_and_a_changed_one_differs():
    a = item(NOW + timedelta(days=1))
    assert intake.request_fingerprint(a) == intake.request_fingerprint(item(NOW + timedelta(days=1)))
    assert intake.request_fingerprint(a) != intake.request_fingerprint(item(NOW + timedelta(days=2)))


def test_deadlines_are_stored_in_utc():
    beijing = datetime(2026, 12, 1, 17, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    _, tasks = intake.plan_item(item(beijing), tenant="acme", number="DB-2026-0001", now=NOW)
    assert tasks[0].due == beijing and tasks[0].due.tzinfo is UTC


def test_an_item_closes_when_every_task_is_accepted_or_cancelled():
    assert intake.progress(["accepted", "in_progress", "cancelled"]) == (2, 3)
    assert not intake.closes_item(["accepted", "submitted"])
    assert intake.closes_item(["accepted", "cancelled"])
    assert not intake.closes_item([])


def test_milestones_lie_ahead_and_not_after_their_tasks_deadline():
    cmd = ItemCreate.model_validate({
        "title": "网络推进图", "source": {"kind": "annual_key_work"},
        "tasks": [{"lead_unit": "U-1", "due": NOW + timedelta(days=30), "milestones": [
            {"title": "方案", "due": NOW + timedelta(days=10)},
            {"title": "过期", "due": NOW - timedelta(days=1)},
            {"title": "超期", "due": NOW + timedelta(days=31)},
        ]}],
    })
    errors = intake.deadline_errors(cmd.tasks, NOW)
    assert [(e["loc"], e["type"]) for e in errors] == [
        (["body", "tasks", 0, "milestones", 1, "due"], "value_error.due_in_past"),
        (["body", "tasks", 0, "milestones", 2, "due"], "value_error.after_task_due"),
    ]


def test_tasks_added_later_continue_the_order_and_carry_the_items_attributes():
    cmd = ItemCreate.model_validate({
        "title": "整治", "source": {"kind": "superior_requirement", "ref": "文号"}, "regime": "time_limited",
        "urgency": "extra_urgent", "supervisor": "督办员甲",
        "tasks": [{"lead_unit": "U-1", "due": NOW + timedelta(days=3)}],
    })
    planned, tasks = intake.plan_item(cmd, tenant="acme", number="DB-2026-0002", now=NOW)
    added = intake.plan_tasks(planned, [cmd.tasks[0].model_copy(update={"lead_unit": "U-2"})],
                              first_position=len(tasks))
    assert added[0].position == 1 and added[0].item_id == planned.id
    (event,) = intake.assignment_events(planned, added)
    assert (event.lead_unit, event.item_number, event.regime, event.urgency, event.source_kind,
            event.supervisor) == ("U-2", "DB-2026-0002", "time_limited", "extra_urgent",
                                  "superior_requirement", "督办员甲")


def test_a_follow_up_item_gives_the_unit_one_urgent_task_due_in_the_rule_sets_working_days():
    talk = ActionTriggered(unit="U-1", kind="talk", year=2026, persons=["王五"], reason="一年内第 3 项任务逾期",
                           cause_event_id="evt-3", follow_up_working_days=10)
    body = intake.follow_up_item(talk, event_id="evt-talk")
    assert (body.title, body.regime, body.urgency, body.source.kind, body.source.ref) == (
        "2026年度考核约谈整改", "time_limited", "urgent", "other", "考核约谈 evt-talk")
    assert body.requirements == "一年内第 3 项任务逾期。涉及人员：王五。"
    [task] = body.tasks
    assert (task.lead_unit, task.title, task.responsible_person, task.due_working_days, task.due) == (
        "U-1", "落实约谈要求，报送整改报告", "王五", 10, None)
