"""notify's rules, as pure functions: what a notice says (its template's fields, per language),
who gets it, on which channels, and when (quiet hours)."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.notify import templates
from shared.workdays import WorkCalendar

DISPLAY_ZONE = ZoneInfo("Asia/Shanghai")
PERSON_CHANNELS = ("email", "sms")  # sent to a person's address
ROBOT_CHANNELS = ("wecom", "dingtalk", "feishu")  # sent to a unit's group
DEFAULT_CHANNELS = ("email",)  # besides the in-app inbox, which everyone has
UNIT_ROLES = ("head", "handler")  # who hears of their unit's tasks


@dataclass(frozen=True)
class Message:
    kind: str
    title: str
    body: str


def local(moment: datetime | None) -> str:
    return moment.astimezone(DISPLAY_ZONE).strftime("%Y-%m-%d %H:%M") if moment else ""


def compose(kind: str, values: Mapping[str, str], template: tuple[str, str] | None = None,
            language: str = "zh-CN") -> Message:
    """The notice of ``kind`` in ``language``, from the tenant's template or the default."""
    title, body = template or templates.DEFAULTS[(kind, language)]
    return Message(kind, templates.render(title, values).strip(), templates.render(body, values).strip())


# ---- each kind's fields, in each language ---------------------------------------------------

_WORDS = {
    "zh-CN": {"within": "{n} 个工作日内", "overdue_since": "已超过办结时限 {due}", "due_soon": "办结时限 {due} 将至",
              "granted": "已批准，办结时限调整为 {due}", "refused": "未获批准，办结时限仍为 {due}",
              "comment": "（{c}）", "persons": "（涉及人员：{p}）", "responsible": "，责任人：{p}", "sep": "、"},
    "en": {"within": "within {n} working days", "overdue_since": "overdue since {due}", "due_soon": "due {due}",
           "granted": "granted (now due {due})", "refused": "refused (still due {due})",
           "comment": "({c})", "persons": " (persons: {p})", "responsible": "; responsible: {p}", "sep": ", "},
}
BULLETIN_WORDS = {
    "zh-CN": {("commendation", "committee"): "督查委员会通报表扬", ("commendation", "office"): "督查办通报表扬",
              ("criticism", "committee"): "督查委员会通报批评", ("criticism", "office"): "督查办通报批评"},
    "en": {("commendation", "committee"): "commendation by the supervision committee",
           ("commendation", "office"): "commendation by the supervision office",
           ("criticism", "committee"): "criticism by the supervision committee",
           ("criticism", "office"): "criticism by the supervision office"},
}
ACTION_WORDS = {
    "zh-CN": {"notice": "通报", "written_inquiry": "函询", "talk": "约谈", "admonishment": "诫勉谈话",
              "award_ineligible": "取消评优资格", "discipline": "移交纪检"},
    "en": {"notice": "notice", "written_inquiry": "written inquiry", "talk": "talk",
           "admonishment": "admonishment talk", "award_ineligible": "loss of award eligibility",
           "discipline": "referral to discipline inspection"},
}


def _w(language: str, key: str, **kw) -> str:
    return _WORDS[language][key].format(**kw)


def comment(text: str, language: str) -> str:
    return _w(language, "comment", c=text) if text else ""


def deadline(due: datetime | None, working_days: int | None, language: str) -> str:
    return local(due) if due else _w(language, "within", n=working_days)


def reminder_deadline(due: datetime, overdue: bool, language: str) -> str:
    return _w(language, "overdue_since" if overdue else "due_soon", due=local(due))


def decision(granted: bool, due: datetime, language: str) -> str:
    return _w(language, "granted" if granted else "refused", due=local(due))


def persons(names: Iterable[str], language: str, key: str = "persons") -> str:
    names = list(names)
    return _w(language, key, p=_WORDS[language]["sep"].join(names)) if names else ""


def bulletin_word(kind: str, issuer: str, language: str) -> str:
    return BULLETIN_WORDS[language][(kind, issuer)]


def action_word(kind: str, language: str) -> str:
    return ACTION_WORDS[language].get(kind, kind)


def action_kind(kind: str) -> str:
    """The template an action's notice uses: its own for admonishment, the common one otherwise."""
    return kind if kind == "admonishment" else "action"


# ---- who, where, when -----------------------------------------------------------------------

def assignment_recipients(lead_unit: str, co_units: list[str]) -> list[str]:
    """The lead unit and every co-unit, each once."""
    return list(dict.fromkeys([lead_unit, *co_units]))


def channels_of(preferred: list[str] | None, *, email: str, mobile: str,
                available: Iterable[str]) -> list[str]:
    """The person's channels (default: e-mail) that this deployment has and the person has an
    address for."""
    address = {"email": email, "sms": mobile}
    wanted = DEFAULT_CHANNELS if preferred is None else preferred
    return [c for c in wanted if c in PERSON_CHANNELS and c in available and address[c]]


@dataclass(frozen=True)
class QuietHours:
    """No message on ``channels`` between ``start`` and ``end`` (local time): it waits for the
    next working day's ``end``."""

    start: time = time(22, 0)
    end: time = time(8, 0)
    channels: tuple[str, ...] = ("sms",)


def send_at(now: datetime, channel: str, quiet: QuietHours, calendar: WorkCalendar) -> datetime:
    """When a message on ``channel`` made at ``now`` may go: at once, or deferred to the morning
    of the next working day when ``now`` falls in the quiet hours or on a day off."""
    if channel not in quiet.channels:
        return now
    here = now.astimezone(DISPLAY_ZONE)
    in_quiet = here.time() >= quiet.start or here.time() < quiet.end
    if not in_quiet and calendar.is_workday(here.date()):
        return now
    day = here.date() if here.time() < quiet.end else here.date() + timedelta(days=1)
    while not calendar.is_workday(day):
        day += timedelta(days=1)
    return datetime.combine(day, quiet.end, DISPLAY_ZONE)


def backoff(attempts: int, base_s: float, cap_s: float) -> timedelta:
    """Wait before try ``attempts + 1``: base, 2×base, 4×base… at most ``cap_s``."""
    return timedelta(seconds=min(cap_s, base_s * 2 ** max(0, attempts - 1)))


def digest_lines(tasks: Iterable, now: datetime, language: str) -> tuple[int, int, str]:
    """(late, due soon, one line per task) for a unit head's daily digest; ``tasks`` have
    ``title``, ``item_number`` and ``due``, in deadline order."""
    late = soon = 0
    lines = []
    for t in tasks:
        is_late = t.due is not None and t.due <= now
        late, soon = late + is_late, soon + (not is_late)
        mark = ("【逾期】" if is_late else "【临期】") if language == "zh-CN" else ("[late] " if is_late else "[due] ")
        lines.append(f"{mark}{t.item_number} {t.title} — {local(t.due)}")
    return late, soon, "\n".join(lines)
