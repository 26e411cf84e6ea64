"""What docker-compose.yml and deploy/k8s are checked against: the settings the code reads, the
NATS configuration files, and nats-server's own configuration test (``nats-server -t``)."""

import re
import subprocess
from pathlib import Path

from pydantic_settings import BaseSettings

from duban.launcher import nats_server_binary
from duban.nats_config import users
from services.console.config import ConsoleSettings
from services.intake.config import IntakeSettings
from services.notify.channels.settings import ChannelSettings
from services.notify.config import DeliverySettings
from services.tracking.config import WarningSettings
from shared.settings import SERVICES, ServiceSettings, Settings

ROOT = Path(__file__).resolve().parents[2]
NATS_DIR = ROOT / "deploy/nats"
README = ROOT / "README.md"

# Settings classes of each container besides the common ones (shared.settings.Settings).
OWN_SETTINGS: dict[str, list[type[BaseSettings]]] = {
    "intake": [IntakeSettings],
    "tracking": [WarningSettings],
    "scoring": [],
    "notify": [DeliverySettings, ChannelSettings],
    "console": [ConsoleSettings],
}
# Read with os.environ: shared/telemetry.py (the services only) and the log set-up.
OTEL = {"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_SERVICE_NAME"}
LOG_LEVEL = "DUBAN_LOG_LEVEL"


def _names(settings: type[BaseSettings], prefix: str, skip: set[str] = frozenset()) -> set[str]:
    return {f"{prefix}{field.upper()}" for field in settings.model_fields if field not in skip}


def variables_read_by(container: str) -> set[str]:
    """Every environment variable the container's code reads."""
    known = _names(Settings, "DUBAN_") | {LOG_LEVEL}
    if container in SERVICES:
        known |= _names(ServiceSettings, f"DUBAN_{container.upper()}_", {"name"}) | OTEL
    for settings in OWN_SETTINGS[container]:
        known |= _names(settings, settings.model_config["env_prefix"])
    return known


def nats_conf(name: str) -> str:
    return (NATS_DIR / name).read_text()


def nats_value(conf: str, key: str) -> str:
    """A top-level or block setting ``key: value`` of a nats-server configuration."""
    match = re.search(rf"^\s*{key}:\s*(\S+)\s*$", conf, re.MULTILINE)
    assert match, f"no {key} in the NATS configuration"
    return match.group(1)


def nats_routes(conf: str) -> list[tuple[str, int]]:
    """The cluster's routes as (host, port)."""
    block = re.search(r"routes:\s*\[(.*?)\]", conf, re.DOTALL)
    assert block, "no cluster routes in the NATS configuration"
    return [(host, int(port)) for host, port in
            re.findall(r'"nats-route://([\w.-]+):(\d+)"', block.group(1))]


def nats_users() -> set[str]:
    return set(re.findall(r"^\s*user:\s*(\w+)\s*$", nats_conf("auth.conf"), re.MULTILINE))


def nats_config_test(conf: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``nats-server -t``: parse the file and its includes with ``env``, check, and exit."""
    return subprocess.run([nats_server_binary(), "-t", "-c", str(NATS_DIR / conf)], env=env,
                          capture_output=True, text=True, timeout=60)


def nats_passwords() -> dict[str, str]:
    """A made-up password for each NATS user (letters and digits, as the README asks)."""
    return {user.password_variable: f"p{user.name}Test1" for user in users()}
