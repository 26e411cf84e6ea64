"""`duban token` prints a dev token alone on its last line."""

import asyncio

from duban.cli import main
from shared.auth import Principal, TokenVerifier
from shared.settings import Settings


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["token", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_prints_a_token_the_services_accept(tmp_path, capsys):
    code, out, _ = run(capsys, "--tenant", "acme", "--unit", "U-7", "--role", "unit_head",
                       "--data-dir", str(tmp_path))
    assert code == 0
    token = out.strip().splitlines()[-1]
    principal = asyncio.run(TokenVerifier(Settings(data_dir=tmp_path)).verify(token))
    assert principal == Principal(subject="unit_head@U-7", tenant="acme", role="unit_head", unit="U-7")


def test_tenant_wide_roles_take_the_default_tenant(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DUBAN_TENANT", "group-a")
    code, out, _ = run(capsys, "--role", "office", "--data-dir", str(tmp_path))
    principal = asyncio.run(TokenVerifier(Settings(data_dir=tmp_path)).verify(out.split()[-1]))
    assert code == 0 and principal.tenant == "group-a" and principal.unit is None


def test_refuses_a_unit_role_without_a_unit(tmp_path, capsys):
    code, out, err = run(capsys, "--role", "unit_handler", "--data-dir", str(tmp_path))
    assert code == 2 and out == "" and "needs a unit" in err


def test_refuses_when_an_identity_provider_issues_the_tokens(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DUBAN_AUTH_JWKS_URL", "https://idp.example.test/jwks")
    code, out, err = run(capsys, "--role", "office", "--data-dir", str(tmp_path))
    assert code == 2 and out == "" and "identity provider" in err
