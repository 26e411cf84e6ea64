"""Notice templates: a title and a body per kind of notice and language, with {placeholders}.

The administrator may reword any of them per tenant; the defaults below hold otherwise. Only the
names in ``FIELDS`` may appear in braces, and only bare: str.format's attribute and index access
({x.y}, {x[0]}) and conversions would let a template reach into the values, so they are refused.
"""

import string
from collections.abc import Mapping

LANGUAGES = ("zh-CN", "en")
FIELDS = {
    "task_title": "the task's title", "item_number": "the item's number (DB-2026-0001)",
    "deadline": "the deadline as a time, or 'within N working days'", "due": "the deadline",
    "comment": "the office's comment", "period": "the reporting period", "report_due": "when the report was due",
    "milestone": "the milestone's title", "idle_days": "working days without progress",
    "decision": "the extension decision", "word": "the bulletin's or action's name",
    "reason": "the reason given", "persons": "the persons named", "unit": "the unit's name",
    "date": "the digest's day", "lines": "the digest's list of tasks", "count_due": "tasks due soon",
    "count_late": "tasks overdue", "link": "a link to the task in the console",
}

_ZH = {
    "assigned": ("督办通知：{task_title}", "贵单位承办的督办事项「{task_title}」已交办，办结时限 {deadline}，请及时签收办理。"),
    "reminder": ("催办：{task_title}", "督办事项「{task_title}」{deadline}，请抓紧办理并及时反馈。{comment}"),
    "approaching": ("临期提醒：{task_title}", "督办事项「{task_title}」将于 {due} 到期，请抓紧办理，按期办结。"),
    "overdue": ("逾期提醒：{task_title}", "督办事项「{task_title}」已超过办结时限 {due}，请立即办理并反馈。"),
    "stagnant": ("停滞提醒：{task_title}",
                 "督办事项「{task_title}」已连续 {idle_days} 个工作日无进展反馈，请及时报送办理情况。"),
    "returned": ("退回重办：{task_title}", "督办事项「{task_title}」报结材料经审核退回，请重新办理后再次报结。{comment}"),
    "accepted": ("办结确认：{task_title}", "督办事项「{task_title}」已经审核确认办结。{comment}"),
    "extension_decided": ("延期申请结果：{task_title}", "督办事项「{task_title}」的延期申请{decision}。{comment}"),
    "report_missed": ("报送提醒：{task_title}",
                      "督办事项「{task_title}」{period} 期进展情况应于 {report_due} 前报送，至今未报送，请尽快报送。"),
    "milestone_missed": ("节点预警：{task_title}",
                         "督办事项「{task_title}」的时间节点「{milestone}」（{due}）未按期完成，请抓紧推进。"),
    "bulletin": ("{word}", "贵单位受到{word}：{reason}{persons}"),
    "admonishment": ("问责提醒：{word}", "{reason}{persons}。"),
    "action": ("问责提醒：{word}", "{reason}{persons}。"),
    "digest": ("督办日报 {date}：{count_late} 项逾期，{count_due} 项临期", "{unit}今日督办事项：\n{lines}"),
}
_EN = {
    "assigned": ("Assigned: {task_title}", "Your unit has been assigned “{task_title}”, due {deadline}. "
                                          "Please sign for it and get it done."),
    "reminder": ("Reminder: {task_title}", "“{task_title}”: {deadline}. Please act and report back. {comment}"),
    "approaching": ("Due soon: {task_title}", "“{task_title}” is due on {due}. Please finish it on time."),
    "overdue": ("Overdue: {task_title}", "“{task_title}” passed its deadline of {due}. Please act at once."),
    "stagnant": ("No progress: {task_title}",
                 "“{task_title}” has had no progress report for {idle_days} working days."),
    "returned": ("Returned: {task_title}", "The submission of “{task_title}” was returned for redo. {comment}"),
    "accepted": ("Accepted: {task_title}", "“{task_title}” was accepted as done. {comment}"),
    "extension_decided": ("Extension {decision}: {task_title}",
                          "Your request to extend “{task_title}” was {decision}. {comment}"),
    "report_missed": ("Report missing: {task_title}",
                      "The {period} progress report on “{task_title}” was due by {report_due} and has not come in."),
    "milestone_missed": ("Milestone missed: {task_title}",
                         "The milestone “{milestone}” of “{task_title}” ({due}) was not met."),
    "bulletin": ("{word}", "Your unit received a {word}: {reason}{persons}"),
    "admonishment": ("Accountability: {word}", "{reason}{persons}."),
    "action": ("Accountability: {word}", "{reason}{persons}."),
    "digest": ("Daily digest {date}: {count_late} overdue, {count_due} due soon", "{unit} today:\n{lines}"),
}
DEFAULTS: dict[tuple[str, str], tuple[str, str]] = {
    **{(kind, "zh-CN"): text for kind, text in _ZH.items()},
    **{(kind, "en"): text for kind, text in _EN.items()},
}
KINDS = tuple(_ZH)


def problems(text: str) -> list[str]:
    """What is wrong with a template text: unknown or non-bare placeholders, bad braces."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        return [f"bad braces: {exc}"]
    found = []
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in FIELDS:
            found.append(f"unknown placeholder {{{name}}}; use one of {', '.join(sorted(FIELDS))}")
        elif spec or conversion:
            found.append(f"{{{name}}} takes no format spec or conversion")
    return found


def render(text: str, values: Mapping[str, str]) -> str:
    """``text`` with its placeholders filled; a field the event does not give renders empty."""
    return text.format_map({name: str(values.get(name, "")) for name in FIELDS})
