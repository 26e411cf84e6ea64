"""docker-compose.yml and deploy/ agree with the code (no container engine runs here)."""

from pathlib import Path

import yaml

from shared.settings import DEFAULT_PORTS, SERVICES

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_service_runs_on_its_own_database_with_probes_on_its_port():
    services = compose()["services"]
    init_sql = (ROOT / "deploy/postgres/init.sql").read_text()
    for name in SERVICES:
        service = services[name]
        env = service["environment"]
        assert service["command"] == [name]
        assert env[f"DUBAN_{name.upper()}_DATABASE_URL"].endswith(f"@postgres:5432/{name}")
        assert f"CREATE DATABASE {name};" in init_sql
        assert env["DUBAN_NATS_URL"] == "nats://nats:4222"
        assert env["DUBAN_ENV"] == "production"
        assert env["OTEL_SERVICE_NAME"] == f"duban-{name}"
        port = DEFAULT_PORTS[name]
        assert f"127.0.0.1:{port}/readyz" in " ".join(service["healthcheck"]["test"])
        assert {"nats", "postgres"} <= set(service["depends_on"])


def test_mounted_config_files_exist():
    for spec in compose()["services"].values():
        for volume in spec.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).is_file(), source


def test_collector_sends_traces_to_jaeger():
    collector = yaml.safe_load((ROOT / "deploy/otel/collector.yaml").read_text())
    assert collector["service"]["pipelines"]["traces"]["exporters"] == ["otlp/jaeger"]
    assert compose()["services"]["intake"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] \
        == "http://otel-collector:4317"


def test_nats_users_are_what_duban_nats_config_generates(capsys):
    from duban.cli import main

    assert main(["nats-config"]) == 0
    generated = capsys.readouterr().out
    assert (ROOT / "deploy/nats/auth.conf").read_text() == generated, \
        "deploy/nats/auth.conf is stale: run `duban nats-config -o deploy/nats/auth.conf`"


def test_compose_gives_nats_the_users_and_each_service_its_own():
    from duban.nats_config import users

    services = compose()["services"]
    nats = services["nats"]
    assert "./deploy/nats/auth.conf:/etc/nats/auth.conf:ro" in nats["volumes"]
    assert 'include "auth.conf"' in (ROOT / "deploy/nats/nats.conf").read_text()
    passwords = nats["environment"]
    for user in users():  # required from the environment, never a default in the file
        assert passwords[user.password_variable].startswith(f"${{{user.password_variable}:?")
    for name in SERVICES:
        env = services[name]["environment"]
        assert env[f"DUBAN_{name.upper()}_NATS_USER"] == name
        assert env[f"DUBAN_{name.upper()}_NATS_PASSWORD"] == passwords[f"{name.upper()}_NATS_PASSWORD"]
