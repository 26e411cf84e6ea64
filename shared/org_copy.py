"""A service's own copy of intake's org tree, kept from org_unit.changed events.

Every consuming service needs the same read model of the same contract (tracking for its ledger,
scoring for rankings within a parent unit, notify for recipients), so the plumbing lives here:
each service declares ``class OrgUnitCopy(OrgUnitFields, <its Base>, table=True)`` in its own
database and subscribes ``copy_handler(OrgUnitCopy)`` to intake's stream.
"""

from sqlalchemy import Index, Text, func, literal
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.events import Envelope, OrgUnitChanged

# Paths compare byte by byte ("C" collation on PostgreSQL; SQLite's default), so a subtree is a
# range: "/U-1/" <= path < "/U-10" ('0' follows '/').
PATH_TYPE = Text().with_variant(Text(collation="C"), "postgresql")


class OrgUnitFields(SQLModel):
    tenant: str = Field(primary_key=True, max_length=64)
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    parent_id: str | None = Field(default=None, max_length=64)
    active: bool = True
    path: str = Field(sa_type=PATH_TYPE)  # "/U-1/U-7/", as in intake


def path_index(tablename: str) -> Index:
    return Index(f"ix_{tablename}_path", "tenant", "path")


def unit_path(path_ids: list[str]) -> str:
    return "/" + "".join(f"{unit}/" for unit in path_ids)


def copy_handler(model: type[OrgUnitFields]):
    """The bus handler that keeps ``model`` in step (each event carries the unit's whole state)."""

    async def on_org_unit_changed(event: OrgUnitChanged, env: Envelope, session: AsyncSession) -> None:
        table = model.__table__
        dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
        values = {"tenant": env.tenant, "id": event.unit_id, "name": event.name,
                  "parent_id": event.parent_id, "active": event.active, "path": unit_path(event.path)}
        stmt = dialect.insert(table).values(**values)
        await session.exec(stmt.on_conflict_do_update(
            index_elements=["tenant", "id"],
            set_={k: stmt.excluded[k] for k in ("name", "parent_id", "active", "path")},
        ))

    return on_org_unit_changed


def below_ids(model: type[OrgUnitFields], tenant: str, unit: str):
    """A query for the ids of ``unit`` (if known) and every unit below it: one index range scan."""
    path = select(model.path).where(model.tenant == tenant, model.id == unit).scalar_subquery()
    upper = func.substr(path, 1, func.length(path) - 1).op("||")("0")
    return select(model.id).where(model.tenant == tenant, col(model.path) >= path,
                                  col(model.path) < upper)


def subtree_ids(model: type[OrgUnitFields], tenant: str, unit: str):
    """``below_ids`` plus the unit itself even when the copy does not know it yet."""
    return below_ids(model, tenant, unit).union(select(literal(unit)))


def decode_path(path: str) -> list[str]:
    return [unit for unit in path.split("/") if unit]


def path_lookup(model: type[OrgUnitFields]):
    """The access policy's ``unit_paths`` for a service keeping ``model``: each known unit's ids
    from the root down to it."""

    async def unit_paths(session: AsyncSession, tenant: str, units: list[str]) -> dict[str, list[str]]:
        if not units:
            return {}
        rows = await session.exec(select(model.id, model.path)
                                  .where(model.tenant == tenant, col(model.id).in_(set(units))))
        return {unit: decode_path(path) for unit, path in rows.all()}

    return unit_paths
