"""examples/oa_simulator.py against a running stack: both directions, by NATS and by webhook."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import OA_WEBHOOK_SECRETS

pytestmark = pytest.mark.e2e
SIMULATOR = Path(__file__).parents[2] / "examples" / "oa_simulator.py"


@pytest.mark.parametrize("way", ["nats", "webhook"])
def test_the_oa_simulator_shows_both_directions(stack, way):
    urls = stack.stack.urls
    extra = ["--webhook-secret", OA_WEBHOOK_SECRETS["default"]] if way == "webhook" else []
    done = subprocess.run(
        [sys.executable, str(SIMULATOR), "--nats", stack.nats.url, "--intake", urls["intake"],
         "--notify", urls["notify"], "--token", stack.token("admin"), "--wait", "5", *extra],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "items registered for the instruction: 1" in out
    for pushed in ("duban.intake.org_unit.changed.v1", "duban.intake.person.changed.v1",
                   "duban.intake.item.registered.v1", "duban.intake.task.assigned.v1"):
        assert f"OA received {pushed}" in out, out
