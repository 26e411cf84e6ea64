"""A task's lifecycle: which action moves it where, who may take it, and its history.

Pure: no I/O and no clock; the caller passes the time of each action.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal


class Status(StrEnum):
    ASSIGNED = "assigned"
    SIGNED = "signed"  # 签收
    IN_PROGRESS = "in_progress"
    SUBMITTED = "submitted"  # 报结
    ACCEPTED = "accepted"  # 办结
    CANCELLED = "cancelled"
    SUSPENDED = "suspended"


class Action(StrEnum):
    SIGN = "sign"
    PROGRESS = "progress"
    SUBMIT = "submit"
    ACCEPT = "accept"
    RETURN = "return"  # 退回重办
    REVERIFY = "reverify"  # 复核
    CANCEL = "cancel"
    SUSPEND = "suspend"
    RESUME = "resume"


Actor = Literal["unit", "office"]

ACTOR_OF: dict[Action, Actor] = {
    Action.SIGN: "unit",
    Action.PROGRESS: "unit",
    Action.SUBMIT: "unit",
    Action.ACCEPT: "office",
    Action.RETURN: "office",
    Action.REVERIFY: "office",
    Action.CANCEL: "office",
    Action.SUSPEND: "office",
    Action.RESUME: "office",
}

CLOCK_RUNNING_STATUSES = frozenset(
    {Status.ASSIGNED, Status.SIGNED, Status.IN_PROGRESS, Status.SUBMITTED}
)
OPEN_STATUSES = CLOCK_RUNNING_STATUSES | {Status.SUSPENDED}
CLOSED_STATUSES = frozenset({Status.ACCEPTED, Status.CANCELLED})

_MOVES: dict[tuple[Status, Action], Status] = {
    (Status.ASSIGNED, Action.SIGN): Status.SIGNED,
    (Status.SIGNED, Action.PROGRESS): Status.IN_PROGRESS,
    (Status.IN_PROGRESS, Action.PROGRESS): Status.IN_PROGRESS,
    (Status.SIGNED, Action.SUBMIT): Status.SUBMITTED,
    (Status.IN_PROGRESS, Action.SUBMIT): Status.SUBMITTED,
    (Status.SUBMITTED, Action.ACCEPT): Status.ACCEPTED,
    (Status.SUBMITTED, Action.RETURN): Status.IN_PROGRESS,
    (Status.SUBMITTED, Action.REVERIFY): Status.SUBMITTED,
    **{(s, Action.CANCEL): Status.CANCELLED for s in OPEN_STATUSES},
    **{(s, Action.SUSPEND): Status.SUSPENDED for s in CLOCK_RUNNING_STATUSES},
}

_VERBS = {Action.REVERIFY: "re-verify", Action.PROGRESS: "report progress on"}


class TransitionRefused(Exception):
    def __init__(self, status: Status, action: Action, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.action = action
        self.reason = reason


def _why_not(status: Status, action: Action) -> str:
    if status in CLOSED_STATUSES:
        return f"the task is {status} and closed: nothing more can be done"
    if status is Status.SUSPENDED:
        return "it is already suspended" if action is Action.SUSPEND else "resume it first"
    if action is Action.RESUME:
        return "it is not suspended"
    if status is Status.ASSIGNED and action in (Action.PROGRESS, Action.SUBMIT):
        return "sign for it first"
    if action is Action.SIGN:
        return "it has already been signed for"
    if status is Status.SUBMITTED and ACTOR_OF[action] == "unit":
        return "it is awaiting the office's review"
    if action in (Action.ACCEPT, Action.RETURN, Action.REVERIFY):
        return "only a submitted task can be reviewed"
    return "this move is not part of the lifecycle"


def transition(status: Status, action: Action, *, suspended_from: Status | None = None) -> Status:
    """The status after action, or TransitionRefused; resume needs the status before suspension."""
    status, action = Status(status), Action(action)
    if action is Action.RESUME and status is Status.SUSPENDED:
        if suspended_from is None:
            why = "the status before suspension is unknown"
        elif suspended_from not in CLOCK_RUNNING_STATUSES:
            why = f"it cannot go back to {suspended_from!s}"
        else:
            return Status(suspended_from)
        raise TransitionRefused(status, action, f"cannot resume a task that is suspended: {why}")
    if (new := _MOVES.get((status, action))) is not None:
        return new
    verb = _VERBS.get(action, str(action))
    raise TransitionRefused(
        status, action, f"cannot {verb} a task that is {status}: {_why_not(status, action)}"
    )


def allowed_actions(status: Status, *, suspended_from: Status | None = None) -> list[Action]:
    allowed = []
    for action in Action:
        try:
            transition(status, action, suspended_from=suspended_from)
        except TransitionRefused:
            continue
        allowed.append(action)
    return allowed


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    actor: str
    action: str
    from_status: str
    to_status: str
    comment: str = ""

    def __post_init__(self) -> None:
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError(f"history time must be timezone-aware, got {self.at.isoformat()}")


def record(
    status: Status,
    action: Action,
    *,
    at: datetime,
    actor: str,
    comment: str = "",
    suspended_from: Status | None = None,
) -> tuple[Status, HistoryEntry]:
    new = transition(status, action, suspended_from=suspended_from)
    entry = HistoryEntry(at, actor, Action(action).value, Status(status).value, new.value, comment)
    return new, entry
