"""Who may call notify's routes (see shared/access.py for how a Rule is applied).

An inbox belongs to a recipient, today always a unit: it is read by everyone whose scope holds
that unit (the unit itself or a unit above it in notify's copy of the org tree). The notices read
are always the caller's tenant's.
"""

from services.notify.models import OrgUnitCopy
from shared.access import EVERYONE, Policy, Rule, unit_in_path
from shared.org_copy import path_lookup

unit_paths = path_lookup(OrgUnitCopy)

POLICY = Policy(
    rules={
        "GET /inbox/{recipient}": Rule(EVERYONE, unit_in_path("recipient", unit_paths)),
    },
    unit_paths=unit_paths,
)
