"""The audit trail's table refuses edits and deletions, on SQLite and PostgreSQL."""

from datetime import UTC, datetime
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI, HTTPException, Request
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError
from sqlmodel import Field, SQLModel, select

from shared.audit import AuditEntry, RecordAudit, outcome_of, transaction
from shared.auth import Principal
from shared.db import create_tables


def entry(**changes) -> AuditEntry:
    return AuditEntry(at=datetime.now(UTC), tenant="acme", actor="zhang.wei", role="office",
                      action="POST /api/v1/items", outcome="ok", status=201, **changes)


async def test_entries_can_be_added_but_never_changed_or_removed(sessions):
    async with sessions() as session, session.begin():
        session.add(entry())
    for statement in (update(AuditEntry).values(actor="someone-else"), delete(AuditEntry)):
        with pytest.raises(DBAPIError, match="append-only"):
            async with sessions() as session, session.begin():
                await session.exec(statement)
    async with sessions() as session:
        actors = (await session.exec(text("SELECT actor FROM audit_entry"))).scalars().all()
    assert actors == ["zhang.wei"]


@pytest.mark.parametrize("status,denied,expected", [
    (201, False, "ok"), (401, False, "denied"), (403, False, "denied"), (404, True, "denied"),
    (404, False, "refused"), (409, False, "refused"), (422, False, "refused"), (500, False, "error"),
])
def test_outcomes(status, denied, expected):
    assert outcome_of(status, denied) == expected


# ---- a request's entry commits with its change ----------------------------------------------


class Thing(SQLModel, table=True):
    """A table of this test's own, changed by the app below."""

    __tablename__ = "audit_test_thing"
    id: int | None = Field(default=None, primary_key=True)
    name: str


def audited_app(sessions) -> FastAPI:
    """A service in miniature: the trail's middleware, a caller, routes changing things in a
    transaction that then succeed, fail inside it, or fail after it committed."""
    app = FastAPI()
    app.state.runtime = SimpleNamespace(sessions=sessions)

    @app.post("/api/v1/things/{name}", status_code=201)
    async def add(request: Request, name: str, then: str = "ok") -> dict:
        request.state.principal = Principal(subject="zhang.wei", tenant="acme", role="office")
        async with transaction(sessions) as session:
            session.add(Thing(name=name))
            if then == "refuse":
                raise HTTPException(409, "refused inside the transaction")
        if then == "fail":
            raise RuntimeError("failed after the commit")
        return {"name": name}

    app.add_middleware(RecordAudit)
    return app


async def trail_and_things(sessions) -> tuple[list[tuple], list[str]]:
    async with sessions() as session:
        entries = (await session.exec(select(AuditEntry).order_by(AuditEntry.id))).all()
        things = (await session.exec(select(Thing.name).order_by(Thing.id))).all()
    return [(e.action, e.target, e.outcome, e.status) for e in entries], list(things)


async def test_a_change_and_its_entry_commit_together_once(db, sessions):
    await create_tables(db, [SQLModel.metadata])
    transport = httpx.ASGITransport(app=audited_app(sessions), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://duban") as client:
        assert (await client.post("/api/v1/things/kept")).status_code == 201
        assert (await client.post("/api/v1/things/undone", params={"then": "refuse"})).status_code == 409
        assert (await client.post("/api/v1/things/late", params={"then": "fail"})).status_code == 500
    entries, things = await trail_and_things(sessions)
    action = "POST /api/v1/things/{name}"
    assert entries == [
        (action, {"name": "kept"}, "ok", 201),  # in the change's own transaction, once
        (action, {"name": "undone"}, "refused", 409),  # rolled back with the change, then written
        (action, {"name": "late"}, "ok", 201),  # the committed change…
        (action, {"name": "late"}, "error", 500),  # …and the answer the caller got
    ]
    assert things == ["kept", "late"]
