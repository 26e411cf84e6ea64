"""The console's settings: ``DUBAN_CONSOLE_*`` (its port, the four services' base URLs)."""

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_CONSOLE_PORT = 8100


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DUBAN_CONSOLE_", extra="ignore")

    port: int = DEFAULT_CONSOLE_PORT
    intake_url: str = "http://127.0.0.1:8101"
    tracking_url: str = "http://127.0.0.1:8102"
    scoring_url: str = "http://127.0.0.1:8103"
    notify_url: str = "http://127.0.0.1:8104"
    timeout_s: float = 10.0
    # Mark the session cookie Secure (set it when the console is served over HTTPS).
    secure_cookie: bool = False
