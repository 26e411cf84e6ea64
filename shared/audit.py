"""The audit trail: every change attempted through the API and every denied access, append-only.

Each service keeps its own trail (table ``audit_entry``) and serves it at ``GET /api/v1/audit`` to
the office. An entry says who (subject, role, unit, tenant), what (the route and the ids in its
path), when, from where (client address, user agent) and the outcome (ok, denied, refused,
error). Neither headers nor bodies are kept, so no token or secret can end up in it. The database
refuses UPDATE and DELETE on the table. A request that changes something through the service's unit
of work (``transaction``) commits its entry in that same transaction; any other request's entry
(a refusal, a denial, a replay) is written once its answer's status is known, before it is sent.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel
from sqlalchemy import DDL, JSON, Column, Index, event
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import Field, col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.access import API_PREFIX, READ_ONLY_METHODS, authorize
from shared.auth import Principal
from shared.db import PlumbingBase, UTCDateTime

log = logging.getLogger(__name__)
Outcome = Literal["ok", "denied", "refused", "error"]


class AuditEntry(PlumbingBase, table=True):
    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_tenant", "tenant", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    tenant: str = Field(max_length=64)  # "" when the caller could not be identified
    actor: str = Field(max_length=256)
    role: str = Field(max_length=32)
    unit: str | None = Field(default=None, max_length=64)
    action: str = Field(max_length=256)  # "POST /api/v1/tasks/{task_id}/sign"
    target: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    outcome: str = Field(max_length=16)
    status: int
    detail: str = Field(default="", max_length=500)
    client: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=256)


_APPEND_ONLY = {
    "sqlite": [
        "CREATE TRIGGER IF NOT EXISTS audit_entry_no_update BEFORE UPDATE ON audit_entry "
        "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
        "CREATE TRIGGER IF NOT EXISTS audit_entry_no_delete BEFORE DELETE ON audit_entry "
        "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'the audit trail is append-only'; END $$",
        "CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_entry "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_append_only()",
    ],
}
for _dialect, _statements in _APPEND_ONLY.items():
    for _statement in _statements:
        event.listen(AuditEntry.__table__, "after_create", DDL(_statement).execute_if(dialect=_dialect))


@dataclass(frozen=True)
class WebhookCaller:
    """Whom the trail names for a call without a token whose signature a webhook checked (the route
    leaves it in ``request.state.audit_caller``); an unchecked caller stays anonymous, with no tenant."""

    subject: str
    tenant: str
    role: str = "webhook"
    unit: str | None = None


def outcome_of(status: int, denied: bool) -> Outcome:
    if denied or status in (401, 403):
        return "denied"
    if status >= 500:
        return "error"
    return "refused" if status >= 400 else "ok"


def entry_for(request: Request, status: int) -> AuditEntry | None:
    """The entry a finished request leaves, or None for a read that was allowed."""
    denied = getattr(request.state, "denied", None)
    if request.method in READ_ONLY_METHODS and not denied and status not in (401, 403):
        return None
    # A webhook's caller has no token: the route names it once its signature is checked.
    principal: Principal | None = getattr(request.state, "principal", None) or \
        getattr(request.state, "audit_caller", None)
    route = request.scope.get("route")
    target = {**request.path_params, **getattr(request.state, "audit_target", {})}
    return AuditEntry(
        at=datetime.now(UTC),
        tenant=principal.tenant if principal else "",
        actor=principal.subject if principal else "anonymous",
        role=principal.role if principal else "",
        unit=principal.unit if principal else None,
        action=f"{request.method} {_route_path(route, request)}"[:256],
        target={k: str(v)[:128] for k, v in target.items()},
        outcome=outcome_of(status, bool(denied)),
        status=status,
        detail=(denied or getattr(request.state, "audit_detail", ""))[:500],
        client=(request.client.host if request.client else "")[:64],
        user_agent=request.headers.get("user-agent", "")[:256],
    )


def _route_path(route, request: Request) -> str:
    """The route's template ("/api/v1/tasks/{task_id}/sign"), never the ids themselves."""
    if route is None:
        return request.url.path
    return route.path if route.path.startswith(API_PREFIX) else API_PREFIX + route.path


@dataclass
class _Pending:
    """The audit entry of the request being handled: staged in its first unit of work, if any."""

    request: Request
    task: asyncio.Task | None  # the request's own; a task it started is not the request
    staged_status: int | None = None  # the status of the entry staged in a unit of work
    committed_status: int | None = None  # … once that unit of work committed


_pending: ContextVar[_Pending | None] = ContextVar("duban_audit_pending", default=None)


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction (a service's unit of work). In an API request, the request's entry is added
    to it before it commits, so a change and its entry commit together or not at all."""
    async with sessions() as session, session.begin():
        yield session
        pending = _stage(session)
    if pending is not None:
        pending.committed_status = pending.staged_status


def _stage(session: AsyncSession) -> _Pending | None:
    """Add the current request's entry to ``session``, once per request. Only for a route that
    declares its status: the entry says the request answered with it, as it does unless something
    fails after the commit (then the middleware adds an entry with the real answer)."""
    pending = _pending.get()
    if pending is None or pending.committed_status is not None or pending.task is not asyncio.current_task():
        return None
    status = getattr(pending.request.scope.get("route"), "status_code", None)
    if status is None or (entry := entry_for(pending.request, status)) is None:
        return None
    session.add(entry)
    pending.staged_status = status
    return pending


class RecordAudit:
    """ASGI middleware: write the request's audit entry once its outcome is known (the status of
    its answer), before the answer leaves, unless the request's unit of work already wrote it
    (``transaction``); a request that fails unanswered is kept as a 500. Plain ASGI rather than
    ``@app.middleware``: Starlette's BaseHTTPMiddleware costs a task group and a wrapped receive
    per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX + "/"):
            return await self.app(scope, receive, send)
        pending = _Pending(Request(scope), asyncio.current_task())
        answered = False

        async def send_after_recording(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start" and not answered:
                answered = True
                if message["status"] != pending.committed_status:
                    await _write(pending.request, message["status"])
            await send(message)

        token = _pending.set(pending)
        try:
            await self.app(scope, receive, send_after_recording)
        except Exception:
            if not answered:
                answered = True
                await _write(pending.request, 500)
            raise
        finally:
            _pending.reset(token)


async def _write(request: Request, status: int) -> None:
    if (entry := entry_for(request, status)) is None:
        return
    try:
        async with request.app.state.runtime.sessions() as session, session.begin():
            session.add(entry)
    except Exception:  # the answer is already decided; never turn it into a 500
        log.exception("could not write the audit entry for %s", entry.action)


class AuditEntryPublic(BaseModel):
    id: int
    at: datetime
    actor: str
    role: str
    unit: str | None
    action: str
    target: dict
    outcome: str
    status: int
    detail: str
    client: str


router = APIRouter(tags=["audit"])


@router.get("/audit", response_model=list[AuditEntryPublic])
async def audit_trail(
    request: Request,
    caller: Principal = Depends(authorize),
    actor: str | None = None,
    outcome: Outcome | None = None,
    since: AwareDatetime | None = None,
    after_id: int = Query(0, ge=0, description="the last id of the previous page"),
    limit: int = Query(100, ge=1, le=1000),
) -> list[AuditEntryPublic]:
    """The caller's tenant's trail on this service, oldest first."""
    query = select(AuditEntry).where(AuditEntry.tenant == caller.tenant, col(AuditEntry.id) > after_id)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if outcome:
        query = query.where(AuditEntry.outcome == outcome)
    if since:
        query = query.where(col(AuditEntry.at) >= since)
    async with request.app.state.runtime.sessions() as session:
        rows = (await session.exec(query.order_by(col(AuditEntry.id)).limit(limit))).all()
    return [AuditEntryPublic.model_validate(r, from_attributes=True) for r in rows]
