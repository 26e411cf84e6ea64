"""Configuration from environment variables (pydantic-settings).

Common settings use the prefix ``DUBAN_``; per-service ones ``DUBAN_<SERVICE>_``
(e.g. ``DUBAN_TRACKING_PORT``, ``DUBAN_TRACKING_DATABASE_URL``).
"""

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES = ("intake", "tracking", "scoring", "notify")
DEFAULT_PORTS = {"intake": 8101, "tracking": 8102, "scoring": 8103, "notify": 8104}
DEFAULT_NATS_PORT = 4229


class Settings(BaseSettings):
    """Settings every service and the `duban` command share."""

    model_config = SettingsConfigDict(env_prefix="DUBAN_", extra="ignore")

    env: Literal["dev", "test", "production"] = "dev"
    # One server, or a cluster's nodes separated by commas (nats-py takes a list, not that string).
    nats_url: str = f"nats://127.0.0.1:{DEFAULT_NATS_PORT}"
    data_dir: Path = Path(".duban")
    host: str = "127.0.0.1"
    tenant: str = "default"  # the tenant `duban token` and the examples use by default

    # Bearer tokens (shared/auth.py). Without a JWKS URL, Duban is its own (dev) issuer.
    auth_jwks_url: str | None = None
    auth_issuer: str = "duban-dev"
    auth_audience: str = "duban"
    auth_algorithm: Literal["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"] = "RS256"
    auth_leeway_s: int = Field(30, ge=0, le=300)

    # JetStream
    stream_replicas: int = Field(1, ge=1, le=5)
    duplicate_window_s: float = Field(300, gt=0)
    publish_timeout_s: float = Field(5.0, gt=0)

    # Consumers
    batch_size: int = Field(256, ge=1, le=10_000)
    max_deliver: int = Field(5, ge=1)
    retry_delay_s: float = Field(0.5, ge=0)
    ack_wait_s: float = Field(30, gt=0)
    graceful_timeout_s: float = Field(15, gt=0)

    # Outbox relay
    relay_batch_size: int = Field(500, ge=1)
    relay_poll_s: float = Field(1.0, gt=0)

    # tracking's evidence files (None: <data_dir>/evidence)
    evidence_dir: Path | None = None
    evidence_max_bytes: int = Field(20 * 2**20, ge=1)

    @property
    def production(self) -> bool:
        return self.env == "production"


class ServiceSettings(BaseSettings):
    """Settings of one service, read from ``DUBAN_<SERVICE>_*``."""

    model_config = SettingsConfigDict(extra="ignore")

    name: str
    port: int = 0
    database_url: str = ""
    # The service's own NATS user (deploy/nats/auth.conf); none: no auth (the embedded server).
    nats_user: str | None = None
    nats_password: SecretStr | None = None

    @classmethod
    def load(cls, name: str, common: Settings) -> "ServiceSettings":
        if name not in SERVICES:
            raise ValueError(f"unknown service {name!r}; expected one of {', '.join(SERVICES)}")
        loaded = cls(name=name, _env_prefix=f"DUBAN_{name.upper()}_")
        if not loaded.port:
            loaded.port = DEFAULT_PORTS[name]
        if not loaded.database_url:
            loaded.database_url = f"sqlite:///{(common.data_dir / f'{name}.db').as_posix()}"
        return loaded
