"""A task's one time-ordered timeline: its history (signing, reviews, urging, extensions, …), its
progress reports with their evidence and the reporting periods flagged as missed — and the parts
around it (the current period's report from each co-unit)."""

from urllib.parse import quote

from services.console.client import Api, ApiError
from services.console.i18n import parse_moment


def merged(history: list[dict], reports: list[dict], missed: list[dict]) -> list[dict]:
    """Every event, oldest first. A report is also the lifecycle's "progress" entry at the same
    moment: it is shown once, as the report (with its unit and evidence)."""
    reported_at = {parse_moment(r["at"]) for r in reports}
    events = [{"kind": "history", **h} for h in history
              if not (h["action"] == "progress" and parse_moment(h["at"]) in reported_at)]
    events += [{"kind": "report", **r} for r in reports]
    events += [{"kind": "missed", "at": m["flagged_at"], **m} for m in missed]
    order = {"history": 0, "report": 1, "missed": 2}
    return sorted(events, key=lambda e: (parse_moment(e["at"]), order[e["kind"]]))


async def around(api: Api, task_id: str) -> tuple[list[dict], dict | None]:
    """The periods flagged as missed, and the latest period's parts (None if tracking refuses)."""
    base = f"/api/v1/tasks/{quote(task_id)}/reports"
    try:
        missed = await api.get("tracking", f"{base}/missing")
        parts = await api.get("tracking", f"{base}/consolidated")
    except ApiError:
        return [], None
    return missed, parts
