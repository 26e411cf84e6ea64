"""The console's PKCE code challenge (RFC 7636, appendix B) and its client-secret settings."""

from services.console.config import ConsoleSettings
from services.console.oidc import _challenge


def test_the_code_challenge_is_rfc_7636s_s256():
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert _challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_the_client_secret_comes_from_a_file_or_the_setting(tmp_path):
    assert ConsoleSettings().client_secret() is None  # a public client
    assert ConsoleSettings(oidc_client_secret="s3cret").client_secret() == "s3cret"
    mounted = tmp_path / "secret"
    mounted.write_text("from-file\n")
    assert ConsoleSettings(oidc_client_secret="s3cret",
                           oidc_client_secret_file=mounted).client_secret() == "from-file"
