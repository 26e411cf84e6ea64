"""The lists of bulletins (通报) and appeals (申诉) shown under their pages' forms: scoring's
GET /api/v1/bulletins and /api/v1/appeals with the page's filters (a unit sees its own only)."""

from dataclasses import dataclass

from fastapi import Request

from services.console.client import Api, ApiError

LIST_LIMIT = 100
BULLETIN_FILTERS = ("period", "unit", "kind")
APPEAL_FILTERS = ("period", "unit", "status")
APPEAL_STATUSES = ("pending", "upheld", "reversed")


@dataclass
class Listing:
    filters: dict[str, str]
    rows: list[dict]
    error: str = ""  # scoring's refusal of a filter (e.g. a bad period), shown above the list


def chosen(request: Request, names: tuple[str, ...]) -> dict[str, str]:
    return {name: request.query_params.get(name, "").strip() for name in names}


async def listing(api: Api, what: str, filters: dict[str, str]) -> Listing:
    try:
        rows = await api.get("scoring", f"/api/v1/{what}", limit=LIST_LIMIT, **filters)
    except ApiError as exc:
        return Listing(filters, [], exc.message)
    return Listing(filters, rows)
