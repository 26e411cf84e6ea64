"""The console's settings: ``DUBAN_CONSOLE_*`` (its port, the four services' base URLs, OIDC)."""

from pathlib import Path

from pydantic import SecretStr
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

    # Sign-in with the enterprise's OpenID Connect provider (authorization code + PKCE); off
    # without an issuer. Discovery: <issuer>/.well-known/openid-configuration unless given.
    oidc_issuer: str = ""
    oidc_discovery_url: str = ""
    oidc_client_id: str = ""
    # The client secret, or a file holding it (a mounted secret); neither: a public client (PKCE).
    oidc_client_secret: SecretStr | None = None
    oidc_client_secret_file: Path | None = None
    oidc_redirect_url: str = ""  # https://<console>/oidc/callback, as registered with the provider
    oidc_scopes: str = "openid profile"
    oidc_post_logout_url: str = ""  # where the provider sends the browser after signing out

    def client_secret(self) -> str | None:
        if self.oidc_client_secret_file:
            return self.oidc_client_secret_file.read_text().strip()
        return self.oidc_client_secret.get_secret_value() if self.oidc_client_secret else None
    # Each item's (and its tasks') end-to-end trace link, when a tracing backend is configured:
    # e.g. http://jaeger:16686/trace/{trace_id}. Empty: no links.
    trace_url_template: str = ""

    def trace_url(self, trace_id: str | None) -> str | None:
        if not self.trace_url_template or not trace_id:
            return None
        return self.trace_url_template.replace("{trace_id}", trace_id)
