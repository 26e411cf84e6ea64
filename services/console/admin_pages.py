"""The administrator's pages: the official calendar, rule sets, notification channels (units' group
robots, the OA webhook, people's preferences), the org-unit tree and the people directory.

The office may read them (where the APIs let it); only administrators change anything, and the
services check that again. Each change is one call to a service, its refusal shown on the page.
"""

import json
import re
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.console.client import ApiError
from services.console.i18n import translator
from services.console.pages import OFFICE_ROLES, Ctx, back, failed, render, signed_in

router = APIRouter(prefix="/admin")
ROBOT_CHANNELS = ("wecom", "dingtalk", "feishu")
PERSON_ROLES = ("head", "handler", "leader", "supervisor")
NOTICE_CHANNELS = ("email", "sms")
LANGUAGES = ("zh-CN", "en")


class Refused(Exception):
    """Not the office or an administrator: the 403 page."""


async def _reader(request: Request) -> Ctx:
    ctx = await signed_in(request)
    if ctx.user.role not in OFFICE_ROLES:
        raise Refused()
    return ctx


async def _admin(request: Request) -> Ctx:
    ctx = await signed_in(request)
    if ctx.user.role != "admin":
        raise Refused()
    return ctx


def forbidden(request: Request, _exc: Refused) -> HTMLResponse:
    t = translator(request.state.lang)
    return render(request, "error.html", 403, message=t("admin_only"))


def _t(ctx: Ctx):
    return translator(ctx.request.state.lang)


def _words(text: str) -> list[str]:
    """Dates or ids typed one per line, or separated by commas or spaces."""
    return [w for w in re.split(r"[\s,，、;；]+", text) if w]


@router.get("", response_class=HTMLResponse)
async def index(request: Request) -> HTMLResponse:
    ctx = await _reader(request)
    return render(request, "admin_index.html", user=ctx.user)


# ---- the official calendar (tracking) ---------------------------------------------------------


@router.get("/calendar", response_class=HTMLResponse)
async def calendar_page(request: Request, year: str = "") -> HTMLResponse:
    ctx = await _reader(request)
    try:
        years = await ctx.api.get("tracking", "/api/v1/calendar")
        chosen = year.strip() if year.strip().isdigit() else (years[-1]["year"] if years else None)
        shown = await ctx.api.get("tracking", f"/api/v1/calendar/{chosen}") if chosen else None
    except ApiError as exc:
        return failed(ctx, exc)
    return render(request, "admin_calendar.html", user=ctx.user, years=years, shown=shown,
                  can_edit=ctx.user.role == "admin")


@router.post("/calendar")
async def save_year(request: Request) -> Response:
    ctx = await _admin(request)
    form = await request.form()
    year = str(form.get("year", "")).strip()
    if not year.isdigit():
        return back("/admin/calendar", _t(ctx)("bad_year"), error=True)
    here = f"/admin/calendar?year={year}"
    body = {"holidays": _words(str(form.get("holidays", ""))),
            "workdays": _words(str(form.get("workdays", "")))}
    try:
        saved = await ctx.api.request("PUT", "tracking", f"/api/v1/calendar/{year}", json=body)
    except ApiError as exc:
        return back(here, f"{year}: {exc.message}", error=True)
    got = saved.json()
    return back(here, _t(ctx)("calendar_saved", year=year, h=len(got["holidays"]),
                              w=len(got["workdays"])))


# ---- rule sets (scoring) -------------------------------------------------------------------------


@router.get("/rules", response_class=HTMLResponse)
async def rules_page(request: Request) -> HTMLResponse:
    ctx = await _reader(request)
    try:
        found = await ctx.api.get("scoring", "/api/v1/rule-sets")
    except ApiError as exc:
        return failed(ctx, exc)
    draft = json.dumps(found[-1]["rules"], ensure_ascii=False, indent=2) if found else ""
    return render(request, "admin_rules.html", user=ctx.user, rule_sets=found, draft=draft,
                  can_edit=ctx.user.role == "admin",
                  as_json=lambda r: json.dumps(r, ensure_ascii=False, indent=2))


@router.post("/rules")
async def publish_rules(request: Request) -> Response:
    ctx = await _admin(request)
    text = str((await request.form()).get("rules", "")).strip()
    kind = "application/json" if text.startswith("{") else "application/yaml"
    try:
        published = await ctx.api.post("scoring", "/api/v1/rule-sets", content=text.encode(),
                                       headers={"Content-Type": kind})
    except ApiError as exc:
        return back("/admin/rules", exc.message, error=True)
    return back(f"/admin/rules#rs-{published['version']}",
                _t(ctx)("rules_published", version=published["version"]))


@router.post("/rules/switch")
async def switch_rules(request: Request) -> Response:
    ctx = await _admin(request)
    form = await request.form()
    body = {"version": str(form.get("version", "")), "from_period": str(form.get("from_period", ""))}
    try:
        switched = await ctx.api.post("scoring", "/api/v1/rule-sets/switch", json=body)
    except ApiError as exc:
        return back("/admin/rules", exc.message, error=True)
    return back("/admin/rules", _t(ctx)("rules_switched", version=switched["version"],
                                         start=switched["from"]))


# ---- notification channels (notify) --------------------------------------------------------------


@router.get("/channels", response_class=HTMLResponse)
async def channels_page(request: Request) -> HTMLResponse:
    ctx = await _reader(request)
    try:
        robots = await ctx.api.get("notify", "/api/v1/robots")
    except ApiError as exc:
        return failed(ctx, exc)
    oa = None
    if ctx.user.role == "admin":
        try:
            found = await ctx.api.get("notify", "/api/v1/oa-webhook")
            oa = {"host": httpx.URL(found["url"]).host, "types": found["types"]}
        except ApiError as exc:
            if exc.status != 404:
                return failed(ctx, exc)
    return render(request, "admin_channels.html", user=ctx.user, robots=robots, oa=oa,
                  channels=ROBOT_CHANNELS, can_edit=ctx.user.role == "admin")


@router.post("/channels/robots")
async def save_robot(request: Request) -> Response:
    ctx = await _admin(request)
    form = await request.form()
    unit, channel = str(form.get("unit", "")).strip(), str(form.get("channel", ""))
    if not unit or channel not in ROBOT_CHANNELS:
        return back("/admin/channels", _t(ctx)("robot_needs"), error=True)
    body = {"url": str(form.get("url", "")).strip(), "secret": str(form.get("secret", ""))}
    try:
        saved = await ctx.api.request("PUT", "notify", f"/api/v1/units/{quote(unit)}/robots/{channel}",
                                      json=body)
    except ApiError as exc:
        return back("/admin/channels", exc.message, error=True)
    return back("/admin/channels", _t(ctx)("robot_saved", unit=unit, host=saved.json()["host"]))


@router.post("/channels/robots/{unit}/{channel}/delete")
async def delete_robot(request: Request, unit: str, channel: str) -> Response:
    ctx = await _admin(request)
    try:
        await ctx.api.request("DELETE", "notify", f"/api/v1/units/{quote(unit)}/robots/{quote(channel)}")
    except ApiError as exc:
        return back("/admin/channels", exc.message, error=True)
    return back("/admin/channels", f"{_t(ctx)('done')}: {_t(ctx)('delete')} {unit} · {channel}")


@router.post("/channels/oa")
async def save_oa(request: Request) -> Response:
    ctx = await _admin(request)
    form = await request.form()
    body = {"url": str(form.get("url", "")).strip(), "secret": str(form.get("secret", "")),
            "types": _words(str(form.get("types", "")))}
    try:
        await ctx.api.request("PUT", "notify", "/api/v1/oa-webhook", json=body)
    except ApiError as exc:
        return back("/admin/channels", exc.message, error=True)
    return back("/admin/channels", f"{_t(ctx)('done')}: {_t(ctx)('oa_webhook')}")


@router.post("/channels/oa/delete")
async def delete_oa(request: Request) -> Response:
    ctx = await _admin(request)
    try:
        await ctx.api.request("DELETE", "notify", "/api/v1/oa-webhook")
    except ApiError as exc:
        return back("/admin/channels", exc.message, error=True)
    return back("/admin/channels", f"{_t(ctx)('done')}: {_t(ctx)('delete')} {_t(ctx)('oa_webhook')}")


# ---- the org-unit tree (intake) -------------------------------------------------------------------


@router.get("/units", response_class=HTMLResponse)
async def units_page(request: Request) -> HTMLResponse:
    ctx = await _reader(request)
    try:
        units = await ctx.api.get("intake", "/api/v1/units")
    except ApiError as exc:
        return failed(ctx, exc)
    return render(request, "admin_units.html", user=ctx.user, units=units,
                  can_edit=ctx.user.role == "admin")


@router.post("/units")
async def create_unit(request: Request) -> Response:
    ctx = await _admin(request)
    form = await request.form()
    body = {"id": str(form.get("id", "")).strip(), "name": str(form.get("name", "")).strip(),
            "parent_id": str(form.get("parent_id", "")).strip() or None}
    try:
        made = await ctx.api.post("intake", "/api/v1/units", json=body)
    except ApiError as exc:
        return back("/admin/units", exc.message, error=True)
    return back(f"/admin/units#unit-{made['id']}", _t(ctx)("unit_created", id=made["id"]))


UNIT_CHANGES = ("rename", "move", "deactivate", "reactivate")


@router.post("/units/{unit_id}/{change}")
async def change_unit(request: Request, unit_id: str, change: str) -> Response:
    ctx = await _admin(request)
    form = await request.form()
    here = f"/admin/units#unit-{unit_id}"
    path = f"/api/v1/units/{quote(unit_id)}"
    try:
        if change == "rename":
            await ctx.api.request("PATCH", "intake", path, json={"name": str(form.get("name", "")).strip()})
        elif change == "move":
            parent = str(form.get("parent_id", "")).strip() or None
            await ctx.api.request("PATCH", "intake", path, json={"parent_id": parent})
        elif change in UNIT_CHANGES:
            await ctx.api.post("intake", f"{path}/{change}")
        else:
            return back(here, f"unknown change {change}", error=True)
    except ApiError as exc:
        return back(here, f"{unit_id}: {exc.message}", error=True)
    return back(here, f"{_t(ctx)('done')}: {_t(ctx)('unit_' + change)} {unit_id}")


# ---- people (intake) and their notice channels (notify) ------------------------------------------


@router.get("/people", response_class=HTMLResponse)
async def people_page(request: Request, unit: str = "") -> HTMLResponse:
    ctx = await _reader(request)
    try:
        people = await ctx.api.get("intake", "/api/v1/people", unit=unit.strip())
    except ApiError as exc:
        return failed(ctx, exc)
    return render(request, "admin_people.html", user=ctx.user, people=people, unit=unit,
                  roles=PERSON_ROLES, can_edit=ctx.user.role == "admin")


def _person_body(form) -> dict:
    fields = ("name", "email", "mobile", "wecom_user", "dingtalk_user", "feishu_user")
    body = {k: str(form.get(k, "")).strip() for k in fields}
    body["unit_id"] = str(form.get("unit_id", "")).strip() or None
    body["roles"] = [r for r in form.getlist("roles") if r in PERSON_ROLES]
    body["active"] = form.get("active", "on") == "on"
    return body


@router.post("/people")
async def create_person(request: Request) -> Response:
    ctx = await _admin(request)
    form = await request.form()
    body = {"person_id": str(form.get("person_id", "")).strip(), **_person_body(form)}
    try:
        made = await ctx.api.post("intake", "/api/v1/people", json=body)
    except ApiError as exc:
        return back("/admin/people", exc.message, error=True)
    return back(f"/admin/people/{quote(made['person_id'])}",
                _t(ctx)("person_saved", id=made["person_id"]))


@router.get("/people/{person_id}", response_class=HTMLResponse)
async def person_page(request: Request, person_id: str) -> HTMLResponse:
    ctx = await _reader(request)
    try:
        person = await ctx.api.get("intake", f"/api/v1/people/{quote(person_id)}")
    except ApiError as exc:
        return failed(ctx, exc)
    try:
        preferences = await ctx.api.get("notify", f"/api/v1/people/{quote(person_id)}/preferences")
    except ApiError as exc:  # notify has not had the person's event yet
        preferences, pref_error = None, exc.message
    else:
        pref_error = ""
    return render(request, "admin_person.html", user=ctx.user, person=person, roles=PERSON_ROLES,
                  preferences=preferences, pref_error=pref_error, channels=NOTICE_CHANNELS,
                  languages=LANGUAGES, can_edit=ctx.user.role == "admin")


@router.post("/people/{person_id}")
async def save_person(request: Request, person_id: str) -> Response:
    ctx = await _admin(request)
    here = f"/admin/people/{quote(person_id)}"
    try:
        await ctx.api.request("PUT", "intake", f"/api/v1/people/{quote(person_id)}",
                              json=_person_body(await request.form()))
    except ApiError as exc:
        return back(here, exc.message, error=True)
    return back(here, _t(ctx)("person_saved", id=person_id))


@router.post("/people/{person_id}/preferences")
async def save_preferences(request: Request, person_id: str) -> Response:
    ctx = await _admin(request)
    form = await request.form()
    here = f"/admin/people/{quote(person_id)}"
    body = {"channels": [c for c in form.getlist("channels") if c in NOTICE_CHANNELS],
            "language": str(form.get("language", "zh-CN"))}
    try:
        await ctx.api.request("PUT", "notify", f"/api/v1/people/{quote(person_id)}/preferences",
                              json=body)
    except ApiError as exc:
        return back(here, exc.message, error=True)
    return back(here, f"{_t(ctx)('done')}: {_t(ctx)('preferences')}")
