"""The ledger as an Excel sheet (the current filter, built from the ledger API's pages), and the
bulk import of items from a sheet (intake's POST /api/v1/items/import)."""

import io
from datetime import UTC, datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from openpyxl import Workbook

from services.console.client import ApiError
from services.console.i18n import TZ, local, remaining, translator
from services.console.pages import Ctx, back, failed, ledger_filters, ledger_params, render, signed_in

router = APIRouter()
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXPORT_CAP = 5000  # rows; beyond it the export is refused with a message (narrow the filter)
EXPORT_PAGE = 500  # the ledger API's largest page
IMPORT_MAX_BYTES = 10 * 1024 * 1024


async def ledger_rows(ctx: Ctx, filters: dict[str, str], cap: int) -> tuple[list[dict], int]:
    """Every row of the filtered ledger (none if more than ``cap``) and how many match."""
    first = await ctx.api.get("tracking", "/api/v1/tasks", limit=1, with_total="true", **filters)
    total = first.get("total") or 0
    if total > cap:
        return [], total
    rows, cursor = [], None
    while True:
        page = await ctx.api.get("tracking", "/api/v1/tasks", limit=EXPORT_PAGE, cursor=cursor,
                                 **filters)
        rows += page["items"]
        cursor = page.get("next_cursor")
        if not cursor or len(rows) >= cap:  # rows added since the count: at most the cap
            return rows[:cap], total


def workbook(rows: list[dict], lang: str) -> bytes:
    t = translator(lang)
    book = Workbook(write_only=True)
    sheet = book.create_sheet(t("ledger"))
    sheet.append([t("number"), t("title"), t("lead_unit"), t("co_units"), t("urgency"),
                  t("source_kind"), t("due"), t("status"), t("light"), t("overdue"), ""])
    for r in rows:
        sheet.append([r["item_number"], r["title"], r["lead_unit"], "、".join(r["co_units"]),
                      t("u_" + r["urgency"]) if r["urgency"] else "",
                      t("k_" + r["source_kind"]) if r["source_kind"] else "", local(r["due"]),
                      t("s_" + r["status"]), t("light_" + r["light"]),
                      "✓" if r["overdue"] else "", remaining(t, r)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@router.get("/tasks/export.xlsx")
async def export_ledger(request: Request) -> Response:
    ctx = await signed_in(request)
    filters = ledger_filters(request)
    here = "/tasks?" + urlencode({k: v for k, v in filters.items() if v})
    try:
        rows, total = await ledger_rows(ctx, ledger_params(filters), EXPORT_CAP)
    except ApiError as exc:
        return back(here, exc.message, error=True)
    if total > EXPORT_CAP:
        t = translator(request.state.lang)
        return back(here, t("export_too_many", n=total, cap=EXPORT_CAP), error=True)
    name = f"duban-ledger-{datetime.now(UTC).astimezone(TZ):%Y%m%d-%H%M}.xlsx"
    return Response(workbook(rows, request.state.lang), media_type=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# ---- bulk import -----------------------------------------------------------------------------------


@router.get("/items/import", response_class=HTMLResponse)
async def import_form(request: Request) -> HTMLResponse:
    ctx = await signed_in(request)
    return render(request, "import.html", user=ctx.user)


@router.get("/items/import/template")
async def import_template(request: Request) -> Response:
    ctx = await signed_in(request)
    try:
        got = await ctx.api.request("GET", "intake", "/api/v1/items/import/template")
    except ApiError as exc:
        return failed(ctx, exc)
    return Response(got.content, media_type=XLSX,
                    headers={"Content-Disposition": 'attachment; filename="duban-import.xlsx"'})


@router.post("/items/import", response_class=HTMLResponse)
async def import_items(request: Request) -> HTMLResponse:
    """Send the sheet to intake: its row-by-row problems (nothing created), or the items created."""
    ctx = await signed_in(request)
    form = await request.form()
    t = translator(request.state.lang)
    sheet = form.get("sheet")
    content = await sheet.read() if sheet is not None and getattr(sheet, "filename", "") else b""
    if not content:
        return render(request, "import.html", 422, ctx.user, error=t("import_no_file"))
    if len(content) > IMPORT_MAX_BYTES:
        return render(request, "import.html", 413, ctx.user,
                      error=f"> {IMPORT_MAX_BYTES // (1024 * 1024)} MiB")
    try:
        result = await ctx.api.post("intake", "/api/v1/items/import", content=content,
                                    headers={"Content-Type": XLSX})
    except ApiError as exc:
        rows = exc.detail.get("errors", []) if isinstance(exc.detail, dict) else []
        return render(request, "import.html", exc.status if exc.status < 500 else 502, ctx.user,
                      error=exc.message, row_errors=rows, filename=sheet.filename)
    return render(request, "import.html", 201, ctx.user, result=result, filename=sheet.filename,
                  done=t("import_done", items=len(result["items"]), tasks=result["tasks"]))
