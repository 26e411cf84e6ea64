"""`duban up` as a user runs it: starts everything, serves the acceptance surface, stops cleanly."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from shared.auth import mint
from shared.settings import Settings
from tests.support import free_port, wait_until

pytestmark = pytest.mark.e2e


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_duban_up_serves_and_stops_cleanly(tmp_path, stop_signal):
    ports = {name: free_port() for name in ("intake", "tracking", "scoring", "notify")}
    env = {**os.environ, **{f"DUBAN_{n.upper()}_PORT": str(p) for n, p in ports.items()}}
    console_port = free_port()
    env["DUBAN_CONSOLE_PORT"] = str(console_port)
    env.pop("DUBAN_NATS_URL", None)
    duban = Path(sys.executable).with_name("duban")
    proc = subprocess.Popen(
        [str(duban), "up", "--data-dir", str(tmp_path / "data"), "--nats-port", str(free_port())],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    run_file = tmp_path / "data" / "run.json"
    try:
        wait_until(run_file.exists, timeout=90, what="duban up to be ready")
        running = json.loads(run_file.read_text())
        assert set(running["pids"]) == {"nats", "intake", "tracking", "scoring", "notify", "console"}
        front = httpx.get(f"http://127.0.0.1:{console_port}/", follow_redirects=True)
        assert front.status_code == 200 and '<html lang="zh-CN">' in front.text
        base = {n: f"http://127.0.0.1:{p}" for n, p in ports.items()}
        token = mint(Settings(data_dir=tmp_path / "data"), tenant="default", role="office")
        signed_in = {"Authorization": f"Bearer {token}"}

        item = httpx.post(f"{base['intake']}/api/v1/items", headers=signed_in, json={
            "title": "t", "source": {"kind": "leader_instruction", "ref": "r"},
            "tasks": [{"lead_unit": "U-001", "due": "2099-12-01T17:30:00+08:00"}],
        })
        assert item.status_code == 201
        task_id = item.json()["tasks"][0]["id"]
        task = wait_until(lambda: (r := httpx.get(f"{base['tracking']}/api/v1/tasks/{task_id}",
                                                  headers=signed_in)).status_code == 200 and r.json(),
                          what="task in tracking")
        assert {"id", "lead_unit", "due", "status", "overdue"} <= set(task)
        notices = wait_until(lambda: httpx.get(f"{base['notify']}/api/v1/inbox/U-001",
                                               headers=signed_in).json())
        assert notices[0]["task_id"] == task_id and notices[0]["kind"] == "assigned"
        score = wait_until(lambda: (s := httpx.get(f"{base['scoring']}/api/v1/units/U-001/score?period=2099",
                                                   headers=signed_in).json())["rates"]["tasks_due"] and s)
        assert score["rates"]["overdue_count"] == 0 and score["entries"] == [] and score["total"] == 100
        for url in base.values():
            assert httpx.get(f"{url}/healthz").status_code == 200
            assert httpx.get(f"{url}/readyz").status_code == 200
            assert "duban_" in httpx.get(f"{url}/metrics").text
            assert httpx.get(f"{url}/openapi.json").status_code == 200
            assert httpx.get(f"{url}/api/v1/audit").status_code == 401  # the API needs a token
            assert httpx.get(f"{url}/asyncapi.json").json()["asyncapi"].startswith("3.")
    finally:
        proc.send_signal(stop_signal)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    assert "duban: ready" in output and "duban: stopped" in output
    assert f"console    http://127.0.0.1:{console_port}" in output
    for name, pid in running["pids"].items():
        assert not alive(pid), f"{name} (pid {pid}) is still running"
    assert not run_file.exists()
