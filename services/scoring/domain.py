"""scoring's rules, as pure functions.

A placeholder rule until the rule sets arrive: an overdue task costs its lead unit one point.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Points:
    points: int
    rule: str
    reason: str


def points_for_overdue(task_title: str | None = None) -> Points:
    reason = "任务逾期未办结" + (f": {task_title}" if task_title else "")
    return Points(points=-1, rule="overdue.placeholder", reason=reason)


def total(points: list[int]) -> int:
    return sum(points)
