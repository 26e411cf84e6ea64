"""notify tells a unit about the bulletins naming it and the actions its record triggers."""

import pytest

from tests.e2e.helpers import inbox, unit
from tests.support import wait_until

pytestmark = pytest.mark.e2e


def criticise(stack, unit_id: str, reason: str) -> None:
    response = stack.scoring.post("/api/v1/bulletins", json={
        "kind": "criticism", "issuer": "office", "units": [unit_id], "persons": ["王五"], "reason": reason})
    assert response.status_code == 201, response.text


def test_a_second_criticism_brings_the_bulletins_and_the_admonishment_to_the_units_inbox(stack):
    target, bystander = unit(), unit()
    criticise(stack, target, "台账更新不及时")
    criticise(stack, target, "整改不到位")
    notices = wait_until(lambda: len(got := inbox(stack, target)) >= 3 and got, what="three notices")
    kinds = sorted(n["kind"] for n in notices)
    assert kinds == ["admonishment", "bulletin", "bulletin"]
    admonishment = next(n for n in notices if n["kind"] == "admonishment")
    assert "诫勉谈话" in admonishment["title"] and "王五" in admonishment["body"]
    assert any("整改不到位" in n["body"] and "督查办通报批评" in n["title"] for n in notices)
    assert inbox(stack, bystander) == []
