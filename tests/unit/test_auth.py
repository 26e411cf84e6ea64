"""Tokens: what the embedded issuer mints and what the verifier accepts (no network)."""

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.access import in_scope, scoped_unit
from shared.auth import DEV_KEY_ID, Principal, TokenVerifier, Unauthorized, load_dev_key, mint
from shared.settings import Settings


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path, env="test")


def claims(settings: Settings, **changes) -> dict:
    now = int(time.time())
    return {"iss": settings.auth_issuer, "aud": settings.auth_audience, "iat": now, "exp": now + 60,
            "sub": "zhang.wei", "tenant": "acme", "role": "unit_head", "unit": "U-7", **changes}


def signed(settings: Settings, payload: dict, key=None, algorithm="RS256", kid=DEV_KEY_ID) -> str:
    key = key or load_dev_key(settings.data_dir / "dev-issuer.pem")
    return jwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid})


async def test_a_minted_token_names_its_caller(settings):
    token = mint(settings, tenant="acme", role="unit_handler", unit="U-7", subject="li.na", name="李娜")
    assert await TokenVerifier(settings).verify(token) == Principal(
        subject="li.na", tenant="acme", role="unit_handler", unit="U-7", name="李娜")


async def test_tenant_wide_roles_need_no_unit_and_unit_roles_must_have_one(settings):
    principal = await TokenVerifier(settings).verify(mint(settings, tenant="acme", role="office"))
    assert principal.unit is None and principal.subject == "office@acme"
    with pytest.raises(ValueError, match="needs a unit"):
        mint(settings, tenant="acme", role="unit_head")
    with pytest.raises(Unauthorized, match="needs a unit"):
        await TokenVerifier(settings).verify(signed(settings, claims(settings, unit=None)))


@pytest.mark.parametrize("change,reason", [
    ({"exp": int(time.time()) - 3600}, "expired"),
    ({"aud": "someone-else"}, "(?i)audience"),
    ({"iss": "https://evil.example"}, "(?i)issuer"),
    ({"role": "superuser"}, "unknown role"),
    ({"tenant": ""}, "no tenant"),
])
async def test_bad_claims_are_refused(settings, change, reason):
    with pytest.raises(Unauthorized, match=reason):
        await TokenVerifier(settings).verify(signed(settings, claims(settings, **change)))


async def test_missing_expiry_is_refused(settings):
    payload = {k: v for k, v in claims(settings).items() if k != "exp"}
    with pytest.raises(Unauthorized, match="exp"):
        await TokenVerifier(settings).verify(signed(settings, payload))


async def test_a_token_signed_by_another_key_is_refused(settings):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(Unauthorized, match="Signature"):
        await TokenVerifier(settings).verify(signed(settings, claims(settings), key=other))


async def test_the_algorithm_is_pinned(settings):
    public_pem = load_dev_key(settings.data_dir / "dev-issuer.pem").public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    # Algorithm confusion: HMAC keyed with the public key that anyone may know.
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": DEV_KEY_ID}).encode())
    body = base64.urlsafe_b64encode(json.dumps(claims(settings)).encode())
    signing_input = header.rstrip(b"=") + b"." + body.rstrip(b"=")
    mac = base64.urlsafe_b64encode(hmac.new(public_pem, signing_input, hashlib.sha256).digest())
    confused = (signing_input + b"." + mac.rstrip(b"=")).decode()
    unsigned = (header.replace(b"HS256", b"none").rstrip(b"=") + b"." + body.rstrip(b"=") + b".").decode()
    verifier = TokenVerifier(settings)
    for token in (confused, unsigned):
        with pytest.raises(Unauthorized, match="algorithm"):
            await verifier.verify(token)


async def test_garbage_and_unknown_key_ids_are_refused(settings):
    verifier = TokenVerifier(settings)
    with pytest.raises(Unauthorized, match="malformed"):
        await verifier.verify("not-a-jwt")
    with pytest.raises(Unauthorized, match="unknown signing key"):
        await verifier.verify(signed(settings, claims(settings), kid="rotated-away"))


def test_production_needs_the_identity_providers_keys(tmp_path):
    with pytest.raises(ValueError, match="DUBAN_AUTH_JWKS_URL"):
        TokenVerifier(Settings(data_dir=tmp_path, env="production"))


def test_the_dev_key_is_made_once_and_kept(tmp_path):
    first = load_dev_key(tmp_path / "k.pem")
    again = load_dev_key(tmp_path / "k.pem")
    assert first.private_numbers() == again.private_numbers()
    assert (tmp_path / "k.pem").stat().st_mode & 0o077 == 0  # readable by its owner only


def test_scope_is_the_callers_unit_and_everything_below_it():
    head = Principal(subject="s", tenant="t", role="unit_head", unit="U-7")
    office = Principal(subject="o", tenant="t", role="office")
    assert in_scope(head, ["U-1", "U-7"]) and in_scope(head, ["U-1", "U-7", "U-70"])
    assert not in_scope(head, ["U-1"]) and not in_scope(head, ["U-1", "U-70"])
    assert in_scope(office, ["U-1"])
    assert scoped_unit(head, None) == "U-7" and scoped_unit(head, "U-70") == "U-70"
    assert scoped_unit(office, None) is None
