"""docker-compose.yml and deploy/nats agree with the Compose Specification, with nats-server and
with the code (no container engine runs here)."""

import copy
import json
import re
from importlib.resources import files
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from duban.nats_config import users
from services.console.config import DEFAULT_CONSOLE_PORT, ConsoleSettings
from shared.bus import nats_servers
from shared.settings import DEFAULT_PORTS, SERVICES, ServiceSettings, Settings
from tests.unit.deploy_checks import (
    README, ROOT, OWN_SETTINGS, nats_conf, nats_config_test, nats_passwords, nats_routes,
    nats_users, nats_value, variables_read_by,
)

NATS_NODES = ["nats-1", "nats-2", "nats-3"]
SCALED = {"intake", "tracking", "notify"}  # run twice in compose
ENV_EXAMPLE = ROOT / "deploy/compose.env.example"


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def example_env() -> dict[str, str]:
    lines = ENV_EXAMPLE.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}`` (the forms used here)."""
    def one(match: re.Match) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if env.get(name):
            return env[name]
        assert op != ":?", f"{name} is required but deploy/compose.env.example does not set it"
        return arg if op == ":-" else ""
    return re.sub(r"\$\{(\w+)(?:(:[-?])([^}]*))?\}", one, value)


def service_env(name: str) -> dict[str, str]:
    """A container's environment as compose would give it with the example .env file."""
    raw = compose()["services"][name]["environment"]
    return {key: interpolate(str(value), example_env()) for key, value in raw.items()
            if value is not None}


def test_compose_file_follows_the_compose_specification():
    schema_file = files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    validator = jsonschema.validators.validator_for(schema)(
        schema, format_checker=jsonschema.FormatChecker())
    assert [error.message for error in validator.iter_errors(compose())] == []
    misspelt = copy.deepcopy(compose())
    misspelt["services"]["tracking"]["deploy"] = {"replica": 2}
    assert list(validator.iter_errors(misspelt)), "the schema check must catch a misspelt key"


def test_nats_is_a_three_node_cluster_each_with_its_own_volume():
    services, conf = compose()["services"], nats_conf("nats.conf")
    assert sorted(nats_routes(conf)) == [(node, 6222) for node in NATS_NODES]
    assert nats_value(conf, "server_name") == "$NATS_SERVER_NAME"
    assert nats_value(conf, "name") == "duban"  # the cluster's
    data_volumes = set()
    for node in NATS_NODES:
        spec = services[node]
        assert spec["environment"]["NATS_SERVER_NAME"] == node
        assert "./deploy/nats/nats.conf:/etc/nats/nats.conf:ro" in spec["volumes"]
        assert "./deploy/nats/auth.conf:/etc/nats/auth.conf:ro" in spec["volumes"]
        data_volumes |= {v.split(":")[0] for v in spec["volumes"] if v.endswith(":/data")}
        assert nats_value(conf, "store_dir").startswith("/data/")
        assert not any(str(port).endswith(":6222") for port in spec.get("ports", [])), \
            "the routes carry no password: the cluster port stays inside"
        assert "8222/healthz" in " ".join(spec["healthcheck"]["test"])
    assert len(data_volumes) == 3 and data_volumes <= set(compose()["volumes"])


@pytest.mark.parametrize("conf, variable, nodes", [
    ("nats.conf", "NATS_SERVER_NAME", NATS_NODES),
    ("nats-kubernetes.conf", "POD_NAME", ["nats-0", "nats-1", "nats-2"]),
])
def test_nats_server_accepts_each_nodes_configuration(conf, variable, nodes):
    for node in nodes:
        result = nats_config_test(conf, {**nats_passwords(), variable: node})
        assert result.returncode == 0, result.stdout + result.stderr
    without_passwords = nats_config_test(conf, {variable: nodes[0]})
    assert without_passwords.returncode != 0
    assert "INTAKE_NATS_PASSWORD" in without_passwords.stderr  # it read auth.conf too


def test_the_fsync_choice_is_written_down():
    for conf in ("nats.conf", "nats-kubernetes.conf"):
        assert nats_value(nats_conf(conf), "sync_interval") == "always"
    assert "sync_interval" in README.read_text()


def test_every_service_uses_the_cluster_its_own_database_and_its_own_nats_user():
    services = compose()["services"]
    postgres = services["postgres"]["environment"]
    init_sh = (ROOT / "deploy/postgres/init.sh").read_text()
    assert set(re.search(r"for service in ([\w ]+);", init_sh).group(1).split()) == set(SERVICES)
    for name in SERVICES:
        raw, env = services[name]["environment"], service_env(name)
        assert services[name]["command"] == [name]
        assert env["DUBAN_NATS_URL"].split(",") == [f"nats://{node}:4222" for node in NATS_NODES]
        assert env["DUBAN_STREAM_REPLICAS"] == "3"
        assert env["DUBAN_ENV"] == "production"
        assert env["OTEL_SERVICE_NAME"] == f"duban-{name}"
        url = urlsplit(env[f"DUBAN_{name.upper()}_DATABASE_URL"])
        assert (url.username, url.hostname, url.port, url.path) == (name, "postgres", 5432, f"/{name}")
        password = f"{name.upper()}_DB_PASSWORD"  # the role's, as deploy/postgres/init.sh sets it
        assert f":${{{password}:?" in raw[f"DUBAN_{name.upper()}_DATABASE_URL"]
        assert postgres[password].startswith(f"${{{password}:?")
        assert env[f"DUBAN_{name.upper()}_NATS_USER"] == name and name in nats_users()
        assert set(raw) <= variables_read_by(name), set(raw) - variables_read_by(name)
        assert {*NATS_NODES, "postgres"} <= set(services[name]["depends_on"])


@pytest.mark.parametrize("name", SERVICES)
def test_the_settings_load_from_what_compose_gives(name, monkeypatch):
    for key, value in service_env(name).items():
        monkeypatch.setenv(key, value)
    common = Settings()
    assert len(nats_servers(common.nats_url)) == 3 and common.stream_replicas == 3 and common.production
    own = ServiceSettings.load(name, common)
    assert own.port == DEFAULT_PORTS[name] and own.database_url.startswith("postgresql://")
    for settings in OWN_SETTINGS[name]:
        settings()  # raises on a value it cannot take


def test_services_answer_their_probes_and_tracking_replicas_share_the_evidence():
    services = compose()["services"]
    for name, port in {**DEFAULT_PORTS, "console": DEFAULT_CONSOLE_PORT}.items():
        assert f"127.0.0.1:{port}/readyz" in " ".join(services[name]["healthcheck"]["test"])
    for name in SCALED:
        assert services[name]["deploy"]["replicas"] >= 2
    evidence_dir = services["tracking"]["environment"]["DUBAN_EVIDENCE_DIR"]
    assert services["tracking"]["volumes"] == [f"evidence:{evidence_dir}"]


def test_the_console_calls_the_services_by_their_compose_names():
    console = compose()["services"]["console"]
    env = service_env("console")
    assert console["entrypoint"] == ["python", "-m", "services.console"]
    assert console["ports"] == [f"{DEFAULT_CONSOLE_PORT}:{DEFAULT_CONSOLE_PORT}"]
    for name in SERVICES:
        assert env[f"DUBAN_CONSOLE_{name.upper()}_URL"] == f"http://{name}:{DEFAULT_PORTS[name]}"
    assert set(env) <= variables_read_by("console")


def test_the_console_settings_load_from_what_compose_gives(monkeypatch):
    for key, value in service_env("console").items():
        monkeypatch.setenv(key, value)
    settings = ConsoleSettings()
    assert settings.secure_cookie and settings.port == DEFAULT_CONSOLE_PORT
    assert settings.oidc_issuer and settings.oidc_client_id  # the dev sign-in is refused in production
    assert Settings().auth_jwks_url  # production refuses to start without it


def test_no_password_is_written_in_the_file():
    for spec in compose()["services"].values():
        for key, value in (spec.get("environment") or {}).items():
            if "PASSWORD" in key and value is not None:
                assert str(value).startswith("${") and ":?" in str(value), key
    for key, value in example_env().items():  # placeholders nats-server and URLs take as they are
        if "PASSWORD" in key:
            assert re.fullmatch(r"dev[A-Za-z0-9]+", value), key


def test_mounted_config_files_exist():
    for spec in compose()["services"].values():
        for volume in spec.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).is_file(), source


def test_collector_sends_traces_to_jaeger():
    collector = yaml.safe_load((ROOT / "deploy/otel/collector.yaml").read_text())
    assert collector["service"]["pipelines"]["traces"]["exporters"] == ["otlp/jaeger"]
    assert collector["exporters"]["otlp/jaeger"]["endpoint"] == "jaeger:4317"
    grpc = collector["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    assert service_env("intake")["OTEL_EXPORTER_OTLP_ENDPOINT"] \
        == f"http://otel-collector:{grpc.rsplit(':', 1)[1]}"


def test_nats_users_are_what_duban_nats_config_generates(capsys):
    from duban.cli import main

    assert main(["nats-config"]) == 0
    generated = capsys.readouterr().out
    assert (ROOT / "deploy/nats/auth.conf").read_text() == generated, \
        "deploy/nats/auth.conf is stale: run `duban nats-config -o deploy/nats/auth.conf`"


def test_compose_gives_each_nats_node_the_users_and_each_service_its_own():
    services = compose()["services"]
    for node in NATS_NODES:
        passwords = services[node]["environment"]
        for user in users():  # required from the environment, never a default in the file
            assert passwords[user.password_variable].startswith(f"${{{user.password_variable}:?")
    for name in SERVICES:
        env = services[name]["environment"]
        assert env[f"DUBAN_{name.upper()}_NATS_USER"] == name
        assert env[f"DUBAN_{name.upper()}_NATS_PASSWORD"] == passwords[f"{name.upper()}_NATS_PASSWORD"]
