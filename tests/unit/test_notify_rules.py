"""notify's pure rules: templates, wording per language, channels, quiet hours, backoff, the digest."""

from datetime import UTC, datetime, time, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from services.notify import domain, templates
from shared.workdays import builtin_calendar

BEIJING = ZoneInfo("Asia/Shanghai")
CALENDAR = builtin_calendar()
QUIET = domain.QuietHours(time(22), time(8), ("sms",))


def at(*args) -> datetime:
    return datetime(*args, tzinfo=BEIJING)


def test_every_default_template_uses_only_known_fields_in_both_languages():
    assert set(templates.DEFAULTS) == {(k, lang) for k in templates.KINDS for lang in templates.LANGUAGES}
    for (kind, language), (title, body) in templates.DEFAULTS.items():
        assert templates.problems(title) == templates.problems(body) == [], (kind, language)


@pytest.mark.parametrize("text,says", [
    ("{task_title.__class__}", "unknown placeholder"),
    ("{values[0]}", "unknown placeholder"),
    ("{nope}", "unknown placeholder {nope}"),
    ("{due!r}", "no format spec or conversion"),
    ("{due:>20}", "no format spec or conversion"),
    ("{due", "bad braces"),
])
def test_a_template_may_use_only_bare_known_fields(text, says):
    [problem] = templates.problems(text)
    assert says in problem


def test_the_assignment_notice_speaks_chinese_by_default_with_the_deadline_in_beijing_time():
    due = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    zh = domain.compose("assigned", {"task_title": "整治", "deadline": domain.deadline(due, None, "zh-CN")})
    assert (zh.kind, zh.title) == ("assigned", "督办通知：整治")
    assert zh.body == "贵单位承办的督办事项「整治」已交办，办结时限 2026-12-01 17:30，请及时签收办理。"
    en = domain.compose("assigned", {"task_title": "整治", "deadline": domain.deadline(None, 5, "en")},
                        language="en")
    assert en.title == "Assigned: 整治" and "due within 5 working days" in en.body


def test_an_administrators_template_replaces_the_default_and_missing_fields_render_empty():
    mine = domain.compose("reminder", {"task_title": "整治"}, ("请办理：{task_title}", "{comment}截止{deadline}"))
    assert (mine.title, mine.body) == ("请办理：整治", "截止")


def test_wording_per_language():
    assert domain.reminder_deadline(at(2026, 11, 20, 17, 30), True, "zh-CN") == "已超过办结时限 2026-11-20 17:30"
    assert domain.decision(False, at(2026, 11, 20, 17, 30), "en") == "refused (still due 2026-11-20 17:30)"
    assert domain.persons(["张三", "李四"], "zh-CN") == "（涉及人员：张三、李四）"
    assert domain.persons([], "en") == "" and domain.comment("", "zh-CN") == ""
    assert domain.action_word("written_inquiry", "en") == "written inquiry"
    assert domain.bulletin_word("criticism", "office", "zh-CN") == "督查办通报批评"
    assert (domain.action_kind("admonishment"), domain.action_kind("talk")) == ("admonishment", "action")


def test_a_persons_channels_default_to_email_and_need_an_address_and_a_configured_channel():
    everything = {"email", "sms", "wecom"}
    assert domain.channels_of(None, email="a@b.cn", mobile="138", available=everything) == ["email"]
    assert domain.channels_of(["sms", "email"], email="", mobile="138", available=everything) == ["sms"]
    assert domain.channels_of(["email", "sms"], email="a@b.cn", mobile="138", available={"sms"}) == ["sms"]
    assert domain.channels_of(["wecom"], email="a@b.cn", mobile="138", available=everything) == []


@pytest.mark.parametrize("now,channel,expected", [
    (at(2026, 11, 18, 10), "sms", at(2026, 11, 18, 10)),          # a working day's daytime: at once
    (at(2026, 11, 18, 23), "email", at(2026, 11, 18, 23)),        # only SMS is quiet
    (at(2026, 11, 18, 23), "sms", at(2026, 11, 19, 8)),           # night: the next morning
    (at(2026, 11, 19, 6, 30), "sms", at(2026, 11, 19, 8)),        # before 08:00: the same morning
    (at(2026, 11, 20, 23), "sms", at(2026, 11, 23, 8)),           # Friday night: Monday
    (at(2026, 11, 21, 12), "sms", at(2026, 11, 23, 8)),           # a Saturday noon: Monday
    (at(2026, 10, 9, 23), "sms", at(2026, 10, 10, 8)),            # before the 调休 Saturday after 国庆
    (at(2026, 9, 30, 22, 30), "sms", at(2026, 10, 8, 8)),         # the eve of 国庆: after the holidays
])
def test_quiet_hours_defer_to_the_next_working_morning(now, channel, expected):
    assert domain.send_at(now, channel, QUIET, CALENDAR) == expected


def test_backoff_doubles_up_to_its_cap():
    assert [domain.backoff(n, 30, 300).total_seconds() for n in (1, 2, 3, 4, 5, 6)] == [30, 60, 120, 240, 300, 300]


def test_the_digest_lists_late_tasks_and_those_due_soon():
    now = at(2026, 11, 20, 8, 30)
    tasks = [SimpleNamespace(title="甲", item_number="DB-2026-0001", due=now - timedelta(days=1)),
             SimpleNamespace(title="乙", item_number="DB-2026-0002", due=now + timedelta(hours=9))]
    late, soon, lines = domain.digest_lines(tasks, now, "zh-CN")
    assert (late, soon) == (1, 1)
    assert lines.splitlines() == ["【逾期】DB-2026-0001 甲 — 2026-11-19 08:30", "【临期】DB-2026-0002 乙 — 2026-11-20 17:30"]
