"""Who may call notify's routes (see shared/access.py for how a Rule is applied).

An inbox belongs to a recipient: a unit, or a person (who sits in a unit). It is read by everyone
whose scope holds that unit (the unit itself or a unit above it in notify's copy of the org tree);
a unit's people mark their inbox's notices read. The office lists and re-sends deliveries and reads
the templates; administrators change templates, robots, the OA webhook and people's preferences.
"""

from fastapi import Request
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.models import OrgUnitCopy, PersonCopy
from shared.access import ADMIN, EVERYONE, OFFICE, Policy, Rule, Target, paths_of
from shared.org_copy import path_lookup

unit_paths = path_lookup(OrgUnitCopy)


async def inbox_owner(request: Request, session: AsyncSession) -> Target:
    """A person's inbox is where their unit is (a person without a unit: tenant-wide roles only);
    any other recipient is a unit."""
    tenant, recipient = request.state.principal.tenant, request.path_params["recipient"]
    person = await session.get(PersonCopy, (tenant, recipient))
    unit = recipient if person is None else person.unit_id
    path = paths_of([unit], await unit_paths(session, tenant, [unit])) if unit else [["-"]]
    return Target(tenant=tenant, seen_by=path, acted_on_by=path)  # a unit's people mark it read


POLICY = Policy(
    rules={
        "GET /inbox/{recipient}": Rule(EVERYONE, inbox_owner),
        "POST /inbox/{recipient}/read": Rule(EVERYONE, inbox_owner),
        "GET /deliveries": Rule(OFFICE),
        "GET /deliveries/{delivery_id}": Rule(OFFICE),
        "POST /deliveries/{delivery_id}/resend": Rule(OFFICE),
        "GET /templates": Rule(OFFICE),
        "PUT /templates/{kind}/{language}": Rule(ADMIN),
        "DELETE /templates/{kind}/{language}": Rule(ADMIN),
        "GET /people/{person_id}/preferences": Rule(OFFICE),
        "PUT /people/{person_id}/preferences": Rule(ADMIN),
        "GET /robots": Rule(OFFICE),
        "PUT /units/{unit}/robots/{channel}": Rule(ADMIN),
        "DELETE /units/{unit}/robots/{channel}": Rule(ADMIN),
        "GET /oa-webhook": Rule(ADMIN),
        "PUT /oa-webhook": Rule(ADMIN),
        "DELETE /oa-webhook": Rule(ADMIN),
    },
    unit_paths=unit_paths,
)
