"""The leaders' views: the items a leader supervises, the red list, the ranking, and the
read-only large screen (大屏) that refreshes itself."""

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from services.console import figures
from services.console.client import Api, ApiError
from services.console.i18n import TZ
from services.console.pages import LIGHTS, OPEN_STATUSES, Ctx, failed, render, signed_in

router = APIRouter()
RED_LIMIT = 200
SCREEN_RED_ROWS = 12
SCREEN_RANKS = 5
SCREEN_REFRESH_S = 60


async def red_list(api: Api, limit: int = RED_LIMIT) -> tuple[list[dict], int]:
    """Overdue tasks (red: the clock running past the deadline) grouped by lead unit — the units in
    the order of their most overdue task, each unit's tasks most overdue first; the ``limit`` most
    overdue of them, and how many there are."""
    page = await api.get("tracking", "/api/v1/tasks", light="red", sort="due", limit=limit,
                         with_total="true")
    groups: dict[str, list[dict]] = {}
    for row in page["items"]:
        groups.setdefault(row["lead_unit"], []).append(row)
    return [{"unit": unit, "tasks": rows} for unit, rows in groups.items()], page.get("total") or 0


async def year_ranking(api: Api, now: datetime) -> dict | None:
    try:
        return await api.get("scoring", "/api/v1/rankings", period=str(now.astimezone(TZ).year))
    except ApiError:  # rankings switched off for the tenant, or scoring unreachable
        return None


def leader_names(ctx: Ctx, asked: str) -> list[str]:
    """Whom "my items" are for: the name asked for, else the signed-in person's name and id (an
    item names its supervising leader either way)."""
    if asked.strip():
        return [asked.strip()]
    return [n for n in dict.fromkeys((ctx.user.name.strip(), ctx.user.subject)) if n]


@router.get("/leader", response_class=HTMLResponse)
async def leader_page(request: Request, leader: str = "") -> HTMLResponse:
    ctx = await signed_in(request)
    names = leader_names(ctx, leader)
    try:
        items = await ctx.api.get("intake", "/api/v1/items", supervising_leader=names, limit=100)
        red, red_total = await red_list(ctx.api)
    except ApiError as exc:
        return failed(ctx, exc)
    ranking = await year_ranking(ctx.api, datetime.now(UTC))
    return render(request, "leader.html", user=ctx.user, names=names, asked=leader.strip(),
                  items=items, red=red, red_shown=sum(len(g["tasks"]) for g in red),
                  red_total=red_total,
                  ranking=ranking)


async def _count(api: Api, **filters) -> int:
    page = await api.get("tracking", "/api/v1/tasks", limit=1, with_total="true", **filters)
    return page.get("total") or 0


@router.get("/screen", response_class=HTMLResponse)
async def screen(request: Request) -> HTMLResponse:
    """The large screen (大屏): read-only, big figures, refreshing itself every minute."""
    ctx = await signed_in(request)
    now = datetime.now(UTC)
    try:
        counts = {light: await _count(ctx.api, status=OPEN_STATUSES, light=light) for light in LIGHTS}
        counts["closed"] = await _count(ctx.api, status=["accepted"])
        red = await ctx.api.get("tracking", "/api/v1/tasks", light="red", sort="due",
                                limit=SCREEN_RED_ROWS, with_total="true")
        by_unit = await figures.load_by_unit(ctx.api, limit=8)
    except ApiError as exc:
        return failed(ctx, exc)
    ranking = await year_ranking(ctx.api, now)
    units = ranking["units"] if ranking else []
    top = units[:SCREEN_RANKS]
    bottom = units[max(SCREEN_RANKS, len(units) - SCREEN_RANKS):][::-1]
    return render(request, "screen.html", user=ctx.user, counts=counts, red=red["items"],
                  red_total=red.get("total") or 0, top=top, bottom=bottom, by_unit=by_unit,
                  refresh_s=SCREEN_REFRESH_S, updated=now, year=now.astimezone(TZ).year)
