"""`duban bench`: the end-to-end section against a real nats-server and the four services."""

import json
import subprocess
import sys

import pytest

from duban.cli import main
from tests.support import backends, postgres_url

pytestmark = pytest.mark.e2e

REQUIRED = ("e2e_assignments_per_s", "raw_jetstream_publish_per_s", "raw_jetstream_pull_ack_per_s",
            "e2e_p50_ms", "e2e_p99_ms")
SMALL = ["--size", "e2e_items=60", "--size", "e2e_latency_s=2", "--size", "raw_messages=2000"]


@pytest.mark.parametrize("backend", backends())
def test_quick_e2e_section_writes_every_figure(tmp_path, backend):
    out = tmp_path / "bench.json"
    db = ["--db", postgres_url()] if backend == "postgres" else []
    done = subprocess.run([sys.executable, "-m", "duban.cli", "bench", "--quick", "--only", "e2e",
                           "--json", str(out), *SMALL, *db], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]

    figures = json.loads(out.read_text())
    assert "e2e_error" not in figures
    for key in REQUIRED:
        assert isinstance(figures[key], int | float) and figures[key] > 0, (key, figures.get(key))
    assert figures["e2e_assignments"] == 60 and figures["e2e_dead_letters"] == 0
    assert figures["e2e_latency_samples"] >= 20
    assert figures["e2e_db"] == ("postgresql" if backend == "postgres" else "sqlite")
    table = done.stdout.splitlines()
    assert table[0].split() == ["figure", "value", "goal", "met?"]
    assert any(line.startswith("e2e_assignments_per_s") and line.rstrip().endswith(("yes", "NO"))
               for line in table)


def test_unknown_section_or_size_is_refused(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["bench", "--only", "e2e,nope"])
    assert exited.value.code == 2
    assert "unknown section nope" in capsys.readouterr().err
    assert main(["bench", "--size", "e2e_items=0"]) == 2
    assert "must be positive" in capsys.readouterr().err
    assert main(["bench", "--size", "bogus=3"]) == 2
    assert "unknown size 'bogus'" in capsys.readouterr().err
