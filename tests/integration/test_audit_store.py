"""The audit trail's table refuses edits and deletions, on SQLite and PostgreSQL."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError

from shared.audit import AuditEntry, outcome_of


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
