"""The org-tree copy every consuming service keeps, on SQLite and PostgreSQL."""

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import registry
from sqlmodel import SQLModel, select

from shared.events import OrgUnitChanged, envelope
from shared.org_copy import OrgUnitFields, below_ids, copy_handler, path_index, subtree_ids

pytestmark = pytest.mark.asyncio(loop_scope="session")


class CopyBase(SQLModel, registry=registry()):
    pass


class Copy(OrgUnitFields, CopyBase, table=True):
    __tablename__ = "org_unit_copy"
    __table_args__ = (path_index("org_unit_copy"),)


def changed(change: str, unit: str, path: list[str], name: str = "", active: bool = True):
    data = OrgUnitChanged(change=change, unit_id=unit, name=name or unit, active=active,
                          parent_id=path[-2] if len(path) > 1 else None, path=path)
    return data, envelope(data, source="/duban/intake", tenant="t1", time=datetime.now(UTC))


@pytest.fixture
async def copies(db, sessions):
    async with db.begin() as conn:
        await conn.run_sync(CopyBase.metadata.create_all)
    return sessions


async def apply(sessions, *events) -> None:
    handler = copy_handler(Copy)
    async with sessions() as session, session.begin():
        for data, env in events:
            await handler(data, env, session)


async def ids(sessions, query) -> set[str]:
    async with sessions() as session:
        rows = (await session.exec(query)).all()
    return {row if isinstance(row, str) else row[0] for row in rows}  # a UNION gives rows


async def test_subtrees_follow_creates_moves_and_renames(copies):
    await apply(copies,
                changed("created", "U-1", ["U-1"]), changed("created", "U-1a", ["U-1", "U-1a"]),
                changed("created", "U-1a1", ["U-1", "U-1a", "U-1a1"]), changed("created", "U-10", ["U-10"]),
                changed("created", "U-2", ["U-2"]))
    assert await ids(copies, below_ids(Copy, "t1", "U-1")) == {"U-1", "U-1a", "U-1a1"}  # not U-10
    assert await ids(copies, below_ids(Copy, "t1", "U-1a")) == {"U-1a", "U-1a1"}
    assert await ids(copies, below_ids(Copy, "t1", "U-9")) == set()
    assert await ids(copies, subtree_ids(Copy, "t1", "U-9")) == {"U-9"}
    assert await ids(copies, below_ids(Copy, "other-tenant", "U-1")) == set()

    await apply(copies, changed("moved", "U-1a", ["U-2", "U-1a"]),
                changed("moved", "U-1a1", ["U-2", "U-1a", "U-1a1"]),
                changed("renamed", "U-2", ["U-2"], name="二矿"))
    assert await ids(copies, below_ids(Copy, "t1", "U-1")) == {"U-1"}
    assert await ids(copies, below_ids(Copy, "t1", "U-2")) == {"U-2", "U-1a", "U-1a1"}
    async with copies() as session:
        renamed = (await session.exec(select(Copy).where(Copy.id == "U-2"))).one()
    assert renamed.name == "二矿" and renamed.path == "/U-2/"
