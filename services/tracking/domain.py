"""tracking's rules, as pure functions."""

from datetime import datetime

OPEN_STATUSES = ("assigned", "signed", "in_progress", "submitted")
CLOSED_STATUSES = ("accepted", "cancelled")


def is_open(status: str) -> bool:
    return status in OPEN_STATUSES


def is_overdue(*, due: datetime, status: str, now: datetime) -> bool:
    """A task is overdue once its deadline has passed while it is still open."""
    return is_open(status) and now >= due
