"""Bulk intake: a whole target list from one Excel sheet, all or nothing."""

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel

from services.intake import domain, spreadsheet, store
from services.intake.access import require_in_scope, task_units
from shared.access import authorize
from shared.auth import Principal
from shared.service import Runtime, runtime_of

router = APIRouter(tags=["items"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_BYTES = 10 * 1024 * 1024


class ImportedItem(BaseModel):
    id: str
    number: str
    title: str
    tasks: int


class ImportResult(BaseModel):
    items: list[ImportedItem]
    tasks: int


@router.get("/items/import/template", response_class=Response,
            responses={200: {"content": {XLSX: {}}}})
async def import_template() -> Response:
    """The sheet to fill in: one row per task, with the item's columns repeated on each row."""
    return Response(spreadsheet.template(), media_type=XLSX,
                    headers={"Content-Disposition": 'attachment; filename="duban-import.xlsx"'})


@router.post("/items/import", status_code=201, response_model=ImportResult,
             openapi_extra={"requestBody": {"content": {XLSX: {"schema": {"type": "string",
                                                                           "format": "binary"}}}}},
             responses={413: {"description": "file too large"},
                        422: {"description": "bad rows: every one listed, nothing created"}})
async def import_items(request: Request, runtime: Runtime = Depends(runtime_of),
                       caller: Principal = Depends(authorize)) -> ImportResult:
    """Register every item of an .xlsx sheet (the request body) in one transaction."""
    content = await request.body()
    if len(content) > MAX_BYTES:
        raise HTTPException(413, f"the sheet is larger than {MAX_BYTES // (1024 * 1024)} MiB")
    try:
        rows = spreadsheet.read_rows(content)
    except spreadsheet.SheetError as exc:
        raise HTTPException(422, str(exc)) from None
    items, errors = spreadsheet.to_items(rows)
    now = runtime.clock.now()
    for cmd, group in items:
        errors += spreadsheet.deadline_cell_errors(domain.deadline_errors(cmd.tasks, now), group)
    if errors:
        raise HTTPException(422, {
            "message": f"{len(errors)} problem(s) in the sheet; nothing was created",
            "errors": [{"row": e.row, "column": e.column, "message": e.message}
                       for e in sorted(errors, key=lambda e: e.row)],
        })
    return await _register_all(runtime, caller, [cmd for cmd, _ in items], now)


async def _register_all(runtime: Runtime, caller: Principal, commands: list, now) -> ImportResult:
    tenant = caller.tenant
    imported = []
    async with runtime.unit_of_work() as session:
        await require_in_scope(caller, session, [u for cmd in commands for u in task_units(cmd.tasks)])
        for cmd in commands:
            item, tasks = await store.open_item(session, cmd, tenant=tenant, now=now)
            runtime.emit_all(session, domain.registration_events(item, tasks), tenant=tenant)
            imported.append(ImportedItem(id=item.id, number=item.number, title=item.title, tasks=len(tasks)))
    return ImportResult(items=imported, tasks=sum(i.tasks for i in imported))
