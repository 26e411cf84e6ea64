"""intake's own settings, from DUBAN_INTAKE_* variables."""

from functools import cache

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class IntakeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DUBAN_INTAKE_", extra="ignore")

    # The OA's webhook: each tenant's shared secret, as JSON: {"tenant": "secret", …}. A tenant not
    # named here cannot post (401); none named: the webhook refuses every call.
    oa_webhook_secrets: dict[str, SecretStr] = Field(default_factory=dict)
    # How far a request's X-Duban-Timestamp may be from intake's clock, either way (replays).
    oa_webhook_tolerance_s: int = Field(300, ge=1, le=3600)

    @field_validator("oa_webhook_secrets")
    @classmethod
    def _no_empty_secret(cls, secrets: dict[str, SecretStr]) -> dict[str, SecretStr]:
        if empty := [tenant for tenant, secret in secrets.items() if not secret.get_secret_value()]:
            raise ValueError(f"empty webhook secret for tenant(s) {', '.join(empty)}")
        return secrets


@cache
def settings() -> IntakeSettings:
    """Read once; ``build_app`` reads it at start, so a bad value stops intake with the reason."""
    return IntakeSettings()
