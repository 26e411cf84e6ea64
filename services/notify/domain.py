"""notify's rules, as pure functions: who gets a notice, and what it says (zh-CN)."""

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

DISPLAY_ZONE = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Message:
    kind: str
    title: str
    body: str


def _local(moment: datetime) -> str:
    return moment.astimezone(DISPLAY_ZONE).strftime("%Y-%m-%d %H:%M")


def assigned_message(task_title: str, due: datetime | None, working_days: int | None = None) -> Message:
    limit = _local(due) if due else f"{working_days} 个工作日内"
    return Message(
        kind="assigned",
        title=f"督办通知：{task_title}",
        body=f"贵单位承办的督办事项「{task_title}」已交办，办结时限 {limit}，请及时签收办理。",
    )


def overdue_message(task_title: str, due: datetime) -> Message:
    return Message(
        kind="overdue",
        title=f"逾期提醒：{task_title}",
        body=f"督办事项「{task_title}」已超过办结时限 {_local(due)}，请立即办理并反馈。",
    )


def reminder_message(task_title: str, due: datetime, *, overdue: bool, comment: str = "") -> Message:
    state = f"已超过办结时限 {_local(due)}" if overdue else f"办结时限 {_local(due)} 将至"
    extra = f"（{comment}）" if comment else ""
    return Message(
        kind="reminder",
        title=f"催办：{task_title}",
        body=f"督办事项「{task_title}」{state}，请抓紧办理并及时反馈。{extra}",
    )


def approaching_message(task_title: str, due: datetime) -> Message:
    return Message(
        kind="approaching",
        title=f"临期提醒：{task_title}",
        body=f"督办事项「{task_title}」将于 {_local(due)} 到期，请抓紧办理，按期办结。",
    )


def stagnant_message(task_title: str, idle_working_days: int) -> Message:
    return Message(
        kind="stagnant",
        title=f"停滞提醒：{task_title}",
        body=f"督办事项「{task_title}」已连续 {idle_working_days} 个工作日无进展反馈，请及时报送办理情况。",
    )


def milestone_missed_message(task_title: str, milestone: str, due: datetime) -> Message:
    return Message(
        kind="milestone_missed",
        title=f"节点预警：{task_title}",
        body=f"督办事项「{task_title}」的时间节点「{milestone}」（{_local(due)}）未按期完成，请抓紧推进。",
    )


def assignment_recipients(lead_unit: str, co_units: list[str]) -> list[str]:
    """The lead unit and every co-unit, each once."""
    return list(dict.fromkeys([lead_unit, *co_units]))


def report_missed_message(task_title: str, period: str, report_due: datetime) -> Message:
    return Message(
        kind="report_missed",
        title=f"报送提醒：{task_title}",
        body=f"督办事项「{task_title}」{period} 期进展情况应于 {_local(report_due)} 前报送，"
             f"至今未报送，请尽快报送。",
    )


BULLETIN_WORDS = {("commendation", "committee"): "督查委员会通报表扬", ("commendation", "office"): "督查办通报表扬",
                  ("criticism", "committee"): "督查委员会通报批评", ("criticism", "office"): "督查办通报批评"}
ACTION_WORDS = {"notice": "通报", "written_inquiry": "函询", "talk": "约谈", "admonishment": "诫勉谈话",
                "award_ineligible": "取消评优资格", "discipline": "移交纪检"}


def bulletin_message(kind: str, issuer: str, reason: str, persons: list[str]) -> Message:
    word = BULLETIN_WORDS[(kind, issuer)]
    named = f"（涉及人员：{'、'.join(persons)}）" if persons else ""
    return Message(kind="bulletin", title=f"{word}", body=f"贵单位受到{word}：{reason}{named}")


def action_message(kind: str, reason: str, persons: list[str]) -> Message:
    word = ACTION_WORDS.get(kind, kind)
    named = f"，责任人：{'、'.join(persons)}" if persons else ""
    return Message(kind=kind if kind == "admonishment" else "action", title=f"问责提醒：{word}",
                   body=f"{reason}{named}。")
