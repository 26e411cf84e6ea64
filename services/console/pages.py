"""The console's pages: server-rendered, plain forms; every action is a POST to a service's API
followed by a redirect back (the API's message shown on a 4xx)."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from urllib.parse import quote, unquote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from services.console import figures, lists, timeline
from services.console.client import Api, ApiError
from services.console.i18n import TZ, local, remaining, translator
from shared.auth import ROLES, UNIT_ROLES, Principal, Unauthorized, mint

router = APIRouter()
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters["local"] = local
templates.env.globals.update(line_points=figures.line_points,
                             polyline_segments=figures.polyline_segments, bar_scale=figures.bar_scale)

SESSION_COOKIE = "duban_session"
FLASH_COOKIE = "duban_flash"
OPEN_STATUSES = ["assigned", "signed", "in_progress", "submitted", "suspended"]
ALL_STATUSES = [*OPEN_STATUSES[:4], "accepted", "cancelled", "suspended"]
LIGHTS = ["green", "yellow", "red"]
URGENCY_ORDER = {"extra_urgent": 0, "urgent": 1, "normal": 2}
REGIMES = ["special", "comprehensive", "ledger", "time_limited"]
REPORTING_CYCLES = ["none", "year", "half_year", "quarter", "month", "ten_days", "week", "day"]
ITEM_FIELDS = ("title", "source_kind", "source_ref", "urgency", "regime", "supervising_leader",
               "supervisor", "requirements")
TASK_COLUMNS = ("lead_unit", "co_units", "title", "responsible_person", "due", "due_working_days",
                "reporting_cycle")
MAX_FORM_ROWS = 60
SOURCE_KINDS = ["leader_instruction", "meeting_decision", "superior_requirement", "annual_key_work",
                "hotline_case", "letter_visit", "other"]
OFFICE_ROLES = {"admin", "office"}
UNIT_ACTIONS = ("sign", "submit")
REVIEW_ACTIONS = ("accept", "return", "reverify")
OFFICE_ACTIONS = ("suspend", "resume", "cancel")
URGERS = OFFICE_ROLES | {"leader"}
RUNNING_STATUSES = ("assigned", "signed", "in_progress", "submitted")
EXTENSION_DECISIONS = ("grant", "refuse")
BULLETIN_KINDS = ("criticism", "commendation")
ISSUERS = ("office", "committee")
INBOX_LIMIT = 100
PAGE_SIZE = 20
LEDGER_SORTS = ("due", "-due")  # the ledger API's orders


class NeedsSignIn(Exception):
    """No valid session: the app redirects to /signin."""


@dataclass
class Ctx:
    request: Request
    user: Principal
    api: Api

    @property
    def is_office(self) -> bool:
        return self.user.role in OFFICE_ROLES

    @property
    def is_unit(self) -> bool:
        return self.user.role in UNIT_ROLES


async def signed_in(request: Request) -> Ctx:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise NeedsSignIn()
    try:
        user = await request.app.state.verifier.verify(token)
    except Unauthorized:
        raise NeedsSignIn() from None
    api = Api(request.app.state.http, request.app.state.settings, token)
    if user.unit:
        request.state.unread = await _unread(api, user.unit)
    return Ctx(request, user, api)


async def _unread(api: Api, unit: str) -> int | None:
    """The unit's unread notices for the header (None if notify does not answer)."""
    try:
        return len(await api.get("notify", f"/api/v1/inbox/{quote(unit)}", unread="true",
                                 limit=INBOX_LIMIT))
    except ApiError:
        return None


def render(request: Request, name: str, status: int = 200, user: Principal | None = None,
           **values) -> HTMLResponse:
    lang = request.state.lang
    raw = request.cookies.get(FLASH_COOKIE)
    flash = unquote(raw) if raw else None
    flash_error = bool(flash and flash.startswith("!"))
    flash = flash[1:] if flash_error else flash
    response = templates.TemplateResponse(request, name, {
        "t": translator(lang), "lang": lang, "user": user, "flash": flash, "flash_error": flash_error,
        "remaining": lambda task: remaining(translator(lang), task),
        "path": request.url.path, "unread": getattr(request.state, "unread", None), **values,
    }, status_code=status)
    if raw:
        response.delete_cookie(FLASH_COOKIE)
    return response


def back(to: str, message: str = "", error: bool = False) -> RedirectResponse:
    response = RedirectResponse(to, status_code=303)
    if message:
        response.set_cookie(FLASH_COOKIE, quote(("!" if error else "") + message[:500]),
                            httponly=True, samesite="lax")
    return response


def failed(ctx: Ctx, exc: ApiError) -> HTMLResponse:
    """A GET page whose API call failed: the 404 page, or the error page with the message."""
    if exc.status == 404:
        return render(ctx.request, "not_found.html", 404, ctx.user)
    return render(ctx.request, "error.html", exc.status if exc.status >= 400 else 502, ctx.user,
                  message=exc.message)


# ---- health --------------------------------------------------------------------------------


@router.get("/healthz", include_in_schema=False)
@router.get("/readyz", include_in_schema=False)
async def health() -> dict:
    return {"status": "ok"}


# ---- sign-in (dev: the embedded issuer) ----------------------------------------------------------


@router.get("/signin", response_class=HTMLResponse)
async def signin_form(request: Request, next: str = "/") -> HTMLResponse:  # noqa: A002
    return render(request, "signin.html", roles=ROLES, next=_local_path(next),
                  production=request.app.state.common.production,
                  tenant=request.app.state.common.tenant)


@router.post("/signin")
async def signin(request: Request) -> Response:
    form = await request.form()
    common = request.app.state.common
    if common.production or common.auth_jwks_url:
        return back("/signin", translator(request.state.lang)("dev_only"), error=True)
    role, unit = str(form.get("role", "")), str(form.get("unit", "")).strip() or None
    tenant = str(form.get("tenant", "")).strip() or common.tenant
    try:
        token = mint(common, tenant=tenant, role=role, unit=unit, name=str(form.get("name", "")))
    except ValueError as exc:
        return back("/signin", str(exc), error=True)
    response = back(_local_path(str(form.get("next", "/"))))
    response.set_cookie(SESSION_COOKIE, token, max_age=12 * 3600, httponly=True, samesite="lax",
                        secure=request.app.state.settings.secure_cookie)
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    provider = request.app.state.oidc  # signed in with OIDC: sign out at the provider too
    target = await provider.end_session_url(request.app.state.http) if provider else None
    response = back(target or "/signin")
    response.delete_cookie(SESSION_COOKIE)
    return response


def _local_path(target: str) -> str:
    """Only a path on this site (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


# ---- home ------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> HTMLResponse:
    ctx = await signed_in(request)
    try:
        if ctx.is_unit:
            return await _unit_home(ctx)
        return await _dashboard(ctx)
    except ApiError as exc:
        return failed(ctx, exc)


async def _count(ctx: Ctx, **filters) -> int:
    page = await ctx.api.get("tracking", "/api/v1/tasks", limit=1, with_total="true", **filters)
    return page.get("total") or 0


async def _dashboard(ctx: Ctx) -> HTMLResponse:
    counts = {light: await _count(ctx, status=OPEN_STATUSES, light=light) for light in LIGHTS}
    counts["closed"] = await _count(ctx, status=["accepted"])
    now = datetime.now(UTC)
    overdue = await ctx.api.get("tracking", "/api/v1/tasks", status=OPEN_STATUSES,
                                due_to=now.isoformat(), limit=20)
    try:
        ranking = (await ctx.api.get("scoring", "/api/v1/rankings",
                                     period=str(now.astimezone(TZ).year)))["units"][:10]
    except ApiError:  # rankings switched off for the tenant, or scoring unreachable
        ranking = None
    months = await figures.monthly_rates(ctx.api, now)
    by_unit = await figures.load_by_unit(ctx.api)
    return render(ctx.request, "dashboard.html", user=ctx.user, counts=counts,
                  overdue=overdue["items"], ranking=ranking, months=months, by_unit=by_unit)


async def _unit_home(ctx: Ctx) -> HTMLResponse:
    page = await ctx.api.get("tracking", "/api/v1/tasks", status=OPEN_STATUSES, limit=200)
    tasks = sorted(page["items"], key=lambda r: (URGENCY_ORDER.get(r["urgency"], 9), r["due"]))
    try:
        score = await ctx.api.get("scoring", f"/api/v1/units/{quote(ctx.user.unit)}/score")
    except ApiError:
        score = None
    return render(ctx.request, "unit_home.html", user=ctx.user, tasks=tasks, score=score)


# ---- the ledger and a task -----------------------------------------------------------------------


LEDGER_FILTERS = ("status", "light", "unit", "include_sub_units", "regime", "source_kind", "urgency",
                  "supervisor", "due_from", "due_to", "q", "sort")


def ledger_filters(request: Request) -> dict[str, str]:
    """The ledger's filters as the page's form gives them (every one the ledger API has)."""
    found = {k: request.query_params.get(k, "").strip() for k in LEDGER_FILTERS}
    found["sort"] = found["sort"] if found["sort"] in LEDGER_SORTS else ""
    found["include_sub_units"] = "false" if found["include_sub_units"] == "false" else ""
    return found


def ledger_params(filters: dict[str, str]) -> dict[str, str]:
    """The filters as the ledger API takes them: a date range covers whole days in Beijing."""
    params = dict(filters)
    for key, clock in (("due_from", time.min), ("due_to", time.max)):
        try:
            params[key] = datetime.combine(date.fromisoformat(filters[key]), clock, TZ).isoformat()
        except ValueError:
            pass  # blank, or not a date: the API's 422 says so
    return params


@router.get("/tasks", response_class=HTMLResponse)
async def ledger(request: Request, cursor: str = "") -> HTMLResponse:
    ctx = await signed_in(request)
    filters = ledger_filters(request)
    try:
        page = await ctx.api.get("tracking", "/api/v1/tasks", limit=PAGE_SIZE, cursor=cursor,
                                 with_total="true", **ledger_params(filters))
    except ApiError as exc:
        return failed(ctx, exc)
    next_query = None
    if page.get("next_cursor"):
        next_query = str(request.url.include_query_params(cursor=page["next_cursor"]).query)
    return render(request, "ledger.html", user=ctx.user, page=page, filters=filters,
                  statuses=ALL_STATUSES, lights=LIGHTS, next_query=next_query, paged=bool(cursor),
                  sorts=LEDGER_SORTS, regimes=REGIMES, kinds=SOURCE_KINDS, urgencies=list(URGENCY_ORDER),
                  filter_query=urlencode({k: v for k, v in filters.items() if v}))


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
async def task_page(request: Request, task_id: str) -> HTMLResponse:
    ctx = await signed_in(request)
    try:
        task = await ctx.api.get("tracking", f"/api/v1/tasks/{quote(task_id)}")
        reports = await ctx.api.get("tracking", f"/api/v1/tasks/{quote(task_id)}/reports")
    except ApiError as exc:
        return failed(ctx, exc)
    missed, parts = await timeline.around(ctx.api, task_id)
    trace_url = await _item_trace_url(ctx, task["item_id"])
    allowed = set(task["allowed_actions"])
    unit_actions = [a for a in UNIT_ACTIONS if a in allowed] if ctx.is_unit else []
    can_report = ctx.is_unit and "progress" in allowed
    review = [a for a in REVIEW_ACTIONS if a in allowed] if ctx.is_office else []
    office_actions = [a for a in OFFICE_ACTIONS if a in allowed] if ctx.is_office else []
    running = task["status"] in RUNNING_STATUSES
    can_urge = running and ctx.user.role in URGERS
    can_extend = (ctx.user.role == "unit_head" and running and task["status"] != "submitted"
                  and not task.get("extension"))
    can_decide = ctx.is_office and bool(task.get("extension"))
    return render(request, "task.html", user=ctx.user, task=task, parts=parts,
                  events=timeline.merged(task["history"], reports, missed), trace_url=trace_url,
                  unit_actions=unit_actions, can_report=can_report, review=review,
                  office_actions=office_actions, can_urge=can_urge, can_extend=can_extend,
                  can_decide=can_decide)


async def _item_trace_url(ctx: Ctx, item_id: str) -> str | None:
    """The end-to-end trace of the task's item, when the console is given a tracing backend."""
    settings = ctx.request.app.state.settings
    if not settings.trace_url_template:
        return None
    try:
        item = await ctx.api.get("intake", f"/api/v1/items/{quote(item_id)}")
    except ApiError:
        return None
    return settings.trace_url(item.get("trace_id"))


async def _on_task(request: Request, task_id: str, call) -> Response:
    """A task form's POST: ``call(api, path, form, t)`` asks tracking (under the task's path) and
    returns what to tell the user; back on the task page with that, or with the refusal."""
    ctx = await signed_in(request)
    form = await request.form()
    t = translator(request.state.lang)
    here = f"/tasks/{quote(task_id)}"
    try:
        done = await call(ctx.api, f"/api/v1/tasks/{quote(task_id)}", form, t)
    except ValueError as exc:
        return back(here, str(exc), error=True)
    except ApiError as exc:
        return back(here, exc.message, error=True)
    return back(here, done)


@router.post("/tasks/{task_id}/act/{action}")
async def task_action(request: Request, task_id: str, action: str) -> Response:
    async def call(api, path, form, t):
        comment = str(form.get("comment", ""))
        if action in REVIEW_ACTIONS:
            await api.post("tracking", f"{path}/review", json={"decision": action, "comment": comment})
        elif action in (*UNIT_ACTIONS, *OFFICE_ACTIONS, "urge"):
            await api.post("tracking", f"{path}/{action}", json={"comment": comment})
        else:
            raise ValueError(f"unknown action {action}")
        return f"{t('done')}: {t(action)}"
    return await _on_task(request, task_id, call)


@router.post("/tasks/{task_id}/extension")
async def ask_extension(request: Request, task_id: str) -> Response:
    async def call(api, path, form, t):
        new_due = str(form.get("new_due", "")).strip()
        if not new_due:
            raise ValueError(t("new_due_needed"))
        await api.post("tracking", f"{path}/extension",
                       json={"new_due": _due(new_due), "reason": str(form.get("reason", ""))})
        return f"{t('done')}: {t('ask_extension')}"
    return await _on_task(request, task_id, call)


@router.post("/tasks/{task_id}/extension/{decision}")
async def decide_extension(request: Request, task_id: str, decision: str) -> Response:
    async def call(api, path, form, t):
        if decision not in EXTENSION_DECISIONS:
            raise ValueError(f"unknown decision {decision}")
        await api.post("tracking", f"{path}/extension/decide",
                       json={"decision": decision, "comment": str(form.get("comment", ""))})
        return f"{t('done')}: {t('ext_' + decision)}"
    return await _on_task(request, task_id, call)


@router.post("/tasks/{task_id}/report")
async def task_report(request: Request, task_id: str) -> Response:
    async def call(api, path, form, t):
        evidence = []
        photo = form.get("photo")
        if photo is not None and getattr(photo, "filename", "") and (content := await photo.read()):
            stored = await api.post(
                "tracking", f"{path}/evidence", content=content, params={"filename": photo.filename[:255]},
                headers={"Content-Type": photo.content_type or "application/octet-stream"})
            evidence.append(stored["sha256"])
        await api.post("tracking", f"{path}/reports",
                       json={"text": str(form.get("text", "")), "evidence": evidence})
        return t("done")
    return await _on_task(request, task_id, call)


@router.get("/tasks/{task_id}/evidence/{sha256}")
async def evidence(request: Request, task_id: str, sha256: str) -> Response:
    ctx = await signed_in(request)
    try:
        got = await ctx.api.request("GET", "tracking",
                                    f"/api/v1/tasks/{quote(task_id)}/evidence/{quote(sha256)}")
    except ApiError as exc:
        return failed(ctx, exc)
    return Response(got.content, media_type=got.headers.get("content-type"),
                    headers={"X-Content-Type-Options": "nosniff",
                             "Content-Disposition": "inline"})


# ---- items ----------------------------------------------------------------------------------------


@router.get("/items/new", response_class=HTMLResponse)
async def new_item_form(request: Request, rows: int = 3) -> HTMLResponse:
    ctx = await signed_in(request)
    return _item_form(ctx, {}, rows)


def _item_form(ctx: Ctx, values: dict, rows: int, error: str = "", status: int = 200) -> HTMLResponse:
    rows = max(1, min(rows, MAX_FORM_ROWS))
    tasks = values.get("tasks", [])
    tasks = tasks + [{}] * max(0, rows - len(tasks))
    return render(ctx.request, "item_new.html", status, ctx.user, values=values, tasks=tasks,
                  kinds=SOURCE_KINDS, urgencies=list(URGENCY_ORDER), regimes=REGIMES,
                  cycles=REPORTING_CYCLES, error=error)


@router.post("/items/new")
async def register_item(request: Request) -> Response:
    ctx = await signed_in(request)
    form = await request.form()
    columns = {k: [str(v) for v in form.getlist(f"task_{k}")] for k in TASK_COLUMNS}
    count = max(len(values) for values in columns.values())
    rows = [{k: values[n] if n < len(values) else "" for k, values in columns.items()}
            for n in range(count)]
    values = {k: str(form.get(k, "")) for k in ITEM_FIELDS} | {"tasks": rows}
    if form.get("more_rows"):  # "more task rows": the same form, what was typed kept
        return _item_form(ctx, values, len(rows) + 3)
    t = translator(request.state.lang)
    try:
        tasks = [_task_body(row, t) for row in rows if row["lead_unit"].strip()]
    except ValueError as exc:
        return _item_form(ctx, values, len(rows), str(exc), 422)
    body = {"title": values["title"], "urgency": values["urgency"] or "normal",
            "regime": values["regime"] or "special",
            "source": {"kind": values["source_kind"] or "other", "ref": values["source_ref"]},
            "supervising_leader": values["supervising_leader"].strip(),
            "supervisor": values["supervisor"].strip(), "requirements": values["requirements"].strip(),
            "tasks": tasks}
    try:
        item = await ctx.api.post("intake", "/api/v1/items", json=body)
    except ApiError as exc:
        return _item_form(ctx, values, len(rows), exc.message, exc.status if exc.status < 500 else 502)
    return back(f"/items/{quote(item['id'])}", t("registered"))


def _task_body(row: dict, t) -> dict:
    """One task row of the form as intake takes it: a date (17:30 that day) or N working days."""
    task = {"lead_unit": row["lead_unit"].strip(),
            "co_units": [u.strip() for u in row["co_units"].replace("，", ",").split(",") if u.strip()],
            "responsible_person": row["responsible_person"].strip(),
            "reporting_cycle": row["reporting_cycle"] or "none"}
    due, days = row["due"].strip(), row["due_working_days"].strip()
    if bool(due) == bool(days):
        raise ValueError(t("one_deadline", unit=task["lead_unit"]))
    if days:
        if not days.isdigit() or not 1 <= int(days) <= 366:
            raise ValueError(t("bad_working_days", value=days))
        task["due_working_days"] = int(days)
    else:
        task["due"] = _due(due)
    if row["title"].strip():
        task["title"] = row["title"].strip()
    return task


def _due(text: str) -> str:
    """A date from the form: the end of that working day (17:30) in Beijing time."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a date: {text!r} (YYYY-MM-DD)") from None
    return datetime.combine(day, time(17, 30), TZ).isoformat()


@router.get("/items/{item_id}", response_class=HTMLResponse)
async def item_page(request: Request, item_id: str) -> HTMLResponse:
    ctx = await signed_in(request)
    try:
        item = await ctx.api.get("intake", f"/api/v1/items/{quote(item_id)}")
        await _with_deadline_counts(ctx.api, item)
    except ApiError as exc:
        return failed(ctx, exc)
    return render(request, "item.html", user=ctx.user, item=item,
                  trace_url=request.app.state.settings.trace_url(item.get("trace_id")))


async def _with_deadline_counts(api, item: dict) -> None:
    """Gives the item's tasks tracking's working days left (the ledger finds them by the item's
    number; intake's copy of a task has no deadline counts)."""
    try:
        page = await api.get("tracking", "/api/v1/tasks", q=item["number"], limit=500)
    except ApiError:
        return  # the page still shows the deadlines themselves
    counted = {row["id"]: row for row in page["items"] if row["item_id"] == item["id"]}
    for task in item["tasks"]:
        if row := counted.get(task["id"]):
            task["working_days_left"] = row["working_days_left"]


# ---- scores -----------------------------------------------------------------------------------------


@router.get("/units/{unit}/score", response_class=HTMLResponse)
async def score_page(request: Request, unit: str, period: str = "") -> HTMLResponse:
    ctx = await signed_in(request)
    try:
        score = await ctx.api.get("scoring", f"/api/v1/units/{quote(unit)}/score", period=period)
    except ApiError as exc:
        return failed(ctx, exc)
    can_appeal = ctx.user.role == "unit_head" and ctx.user.unit == score["unit"]
    return render(request, "score.html", user=ctx.user, score=score, can_appeal=can_appeal)


@router.get("/score")
async def my_score(request: Request) -> Response:
    ctx = await signed_in(request)
    if ctx.user.unit:
        return RedirectResponse(f"/units/{quote(ctx.user.unit)}/score", status_code=303)
    return RedirectResponse("/", status_code=303)


# ---- the inbox ----------------------------------------------------------------------------------


@router.get("/inbox", response_class=HTMLResponse)
async def inbox_page(request: Request, recipient: str = "") -> HTMLResponse:
    ctx = await signed_in(request)
    recipient = ctx.user.unit or recipient.strip()
    notices = None
    if recipient:
        try:
            notices = await ctx.api.get("notify", f"/api/v1/inbox/{quote(recipient)}",
                                        limit=INBOX_LIMIT)
        except ApiError as exc:
            return failed(ctx, exc)
    return render(request, "inbox.html", user=ctx.user, recipient=recipient, notices=notices)


@router.post("/inbox/read")
async def inbox_read(request: Request) -> Response:
    ctx = await signed_in(request)
    form = await request.form()
    recipient = ctx.user.unit or str(form.get("recipient", "")).strip()
    here = f"/inbox?recipient={quote(recipient)}" if recipient else "/inbox"
    if not recipient:
        return back(here)
    try:
        marked = await ctx.api.post("notify", f"/api/v1/inbox/{quote(recipient)}/read", json={})
    except ApiError as exc:
        return back(here, exc.message, error=True)
    return back(here, translator(request.state.lang)("marked_read", n=marked.get("marked", 0)))


# ---- bulletins (通报) -------------------------------------------------------------------------------


@router.get("/bulletins", response_class=HTMLResponse)
async def bulletin_form(request: Request) -> HTMLResponse:
    ctx = await signed_in(request)
    found = await lists.listing(ctx.api, "bulletins", lists.chosen(request, lists.BULLETIN_FILTERS))
    return _bulletin_form(ctx, {}, listing=found)


def _bulletin_form(ctx: Ctx, values: dict, error: str = "", status: int = 200,
                   listing: "lists.Listing | None" = None) -> HTMLResponse:
    return render(ctx.request, "bulletins.html", status, ctx.user, values=values, error=error,
                  kinds=BULLETIN_KINDS, issuers=ISSUERS, listing=listing)


def _ids(text: str) -> list[str]:
    return [u.strip() for u in text.replace("，", ",").split(",") if u.strip()]


@router.post("/bulletins")
async def issue_bulletin(request: Request) -> Response:
    ctx = await signed_in(request)
    form = await request.form()
    values = {k: str(form.get(k, "")) for k in ("kind", "issuer", "units", "persons", "reason")}
    body = {"kind": values["kind"], "issuer": values["issuer"], "units": _ids(values["units"]),
            "persons": _ids(values["persons"]), "reason": values["reason"]}
    try:
        issued = await ctx.api.post("scoring", "/api/v1/bulletins", json=body)
    except ApiError as exc:
        return _bulletin_form(ctx, values, exc.message, exc.status if exc.status < 500 else 502)
    t = translator(request.state.lang)
    return back("/bulletins", t("bulletin_issued", kind=t("b_" + issued["kind"]),
                                units="、".join(issued["units"]), id=issued["id"]))


# ---- appeals (申诉) -----------------------------------------------------------------------------


APPEAL_DECISIONS = ("uphold", "reverse")


@router.post("/units/{unit}/score/appeal")
async def file_appeal(request: Request, unit: str) -> Response:
    ctx = await signed_in(request)
    form = await request.form()
    here = f"/units/{quote(unit)}/score"
    t = translator(request.state.lang)
    try:
        entry_id = int(str(form.get("entry_id", "")))
    except ValueError:
        return back(here, t("bad_entry"), error=True)
    try:
        appeal = await ctx.api.post("scoring", "/api/v1/appeals",
                                    json={"entry_id": entry_id, "reason": str(form.get("reason", ""))})
    except ApiError as exc:
        return back(here, exc.message, error=True)
    return back(f"/appeals?id={quote(appeal['id'])}", t("appeal_filed", id=appeal["id"]))


@router.get("/appeals", response_class=HTMLResponse)
async def appeals_page(request: Request, id: str = "") -> HTMLResponse:  # noqa: A002
    """The appeals (filtered by period, unit, status), a lookup by number, and the appeal found."""
    ctx = await signed_in(request)
    appeal_id = id.strip()
    appeal = None
    if appeal_id:
        try:
            appeal = await ctx.api.get("scoring", f"/api/v1/appeals/{quote(appeal_id)}")
        except ApiError as exc:
            return failed(ctx, exc)
    found = await lists.listing(ctx.api, "appeals", lists.chosen(request, lists.APPEAL_FILTERS))
    return render(request, "appeals.html", user=ctx.user, appeal_id=appeal_id, appeal=appeal,
                  decisions=APPEAL_DECISIONS if ctx.is_office else (), listing=found,
                  appeal_statuses=lists.APPEAL_STATUSES)


@router.post("/appeals/{appeal_id}/decide")
async def decide_appeal(request: Request, appeal_id: str) -> Response:
    ctx = await signed_in(request)
    form = await request.form()
    here = f"/appeals?id={quote(appeal_id)}"
    t = translator(request.state.lang)
    decision = str(form.get("decision", ""))
    try:
        await ctx.api.post("scoring", f"/api/v1/appeals/{quote(appeal_id)}/decide",
                           json={"decision": decision, "comment": str(form.get("comment", ""))})
    except ApiError as exc:
        return back(here, exc.message, error=True)
    return back(here, f"{t('done')}: {t('ap_' + decision)}")


# ---- notify's deliveries and templates (the office; templates changed by administrators) ----------


DELIVERY_STATUSES = ("dead", "pending", "sent")


@router.get("/admin/deliveries", response_class=HTMLResponse)
async def deliveries_page(request: Request, status: str = "dead") -> HTMLResponse:
    ctx = await signed_in(request)
    status = status if status in DELIVERY_STATUSES else ""
    try:
        deliveries = await ctx.api.get("notify", "/api/v1/deliveries", status=status)
    except ApiError as exc:
        return failed(ctx, exc)
    return render(request, "deliveries.html", user=ctx.user, deliveries=deliveries, chosen=status,
                  statuses=DELIVERY_STATUSES)


@router.post("/admin/deliveries/{delivery_id}/resend")
async def resend_delivery(request: Request, delivery_id: str) -> Response:
    ctx = await signed_in(request)
    here = "/admin/deliveries"
    try:
        await ctx.api.post("notify", f"/api/v1/deliveries/{quote(delivery_id)}/resend", json={})
    except ApiError as exc:
        return back(here, exc.message, error=True)
    return back(here, translator(request.state.lang)("resent", id=delivery_id))


@router.get("/admin/templates", response_class=HTMLResponse)
async def templates_page(request: Request) -> HTMLResponse:
    ctx = await signed_in(request)
    try:
        found = await ctx.api.get("notify", "/api/v1/templates")
    except ApiError as exc:
        return failed(ctx, exc)
    found = sorted(found, key=lambda r: (r["kind"], r["language"]))
    return render(request, "templates.html", user=ctx.user, rows=found,
                  can_edit=ctx.user.role == "admin")


@router.post("/admin/templates/{kind}/{language}")
async def save_template(request: Request, kind: str, language: str) -> Response:
    ctx = await signed_in(request)
    form = await request.form()
    here = f"/admin/templates#tpl-{kind}-{language}"
    t = translator(request.state.lang)
    path = f"/api/v1/templates/{quote(kind)}/{quote(language)}"
    try:
        if form.get("reset"):
            await ctx.api.request("DELETE", "notify", path)
            return back(here, f"{t('done')}: {t('reset')} {kind} · {language}")
        await ctx.api.request("PUT", "notify", path, json={"title": str(form.get("title", "")),
                                                          "body": str(form.get("body", ""))})
    except ApiError as exc:
        return back(here, f"{kind} · {language}: {exc.message}", error=True)
    return back(here, f"{t('done')}: {t('save')} {kind} · {language}")
