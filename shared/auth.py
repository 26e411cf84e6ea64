"""Who is calling: bearer tokens from the enterprise's OIDC provider, or the embedded dev issuer.

A token is a JWT signed with the one pinned algorithm (RS256 by default), checked for signature,
``iss``, ``aud`` and ``exp``. Its claims name the caller: ``sub`` (the person), ``tenant``, ``role``
(one of ROLES) and, for unit people and for office staff or leaders limited to a subtree, ``unit``.

In production the keys come from the provider's JWKS (``DUBAN_AUTH_JWKS_URL``), cached and fetched
again when a token names a key id not seen yet. Elsewhere, without a JWKS URL, Duban is its own
issuer: an RSA key in ``<data_dir>/dev-issuer.pem`` (made on first use) signs the tokens that
``duban token`` prints, and the services check them with its public half.
"""

import asyncio
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.settings import Settings

Role = Literal["admin", "office", "leader", "unit_head", "unit_handler", "viewer"]
ROLES: tuple[str, ...] = get_args(Role)
UNIT_ROLES = frozenset({"unit_head", "unit_handler"})  # always bound to a unit
DEV_KEY_ID = "duban-dev-1"
DEV_KEY_FILE = "dev-issuer.pem"


class Unauthorized(Exception):
    """No valid token: answered 401."""


@dataclass(frozen=True)
class Principal:
    subject: str
    tenant: str
    role: Role
    unit: str | None = None  # None: the whole tenant; else this unit and the units under it
    name: str = ""


def principal_from(claims: dict) -> Principal:
    role, tenant, unit = claims.get("role"), claims.get("tenant"), claims.get("unit") or None
    if role not in ROLES:
        raise Unauthorized(f"unknown role {role!r}")
    if not isinstance(tenant, str) or not tenant:
        raise Unauthorized("token names no tenant")
    if role in UNIT_ROLES and unit is None:
        raise Unauthorized(f"role {role} needs a unit")
    if not 0 < len(str(claims["sub"])) <= 128 or (unit is not None and len(str(unit)) > 64):
        raise Unauthorized("subject or unit too long")
    return Principal(subject=str(claims["sub"]), tenant=tenant, role=role, unit=unit,
                     name=str(claims.get("name", "")))


# ---- the embedded dev issuer -------------------------------------------------------------------

def dev_key_path(settings: Settings) -> Path:
    return settings.data_dir / DEV_KEY_FILE


def load_dev_key(path: Path) -> rsa.RSAPrivateKey:
    """The dev issuer's key, made on first use. Several processes may start at once: the first
    to create the file wins and the others read its key."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        temp.write_bytes(pem)
        os.chmod(temp, 0o600)
        try:
            os.link(temp, path)  # fails if another process got there first
        except FileExistsError:
            pass
        finally:
            temp.unlink()
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def mint(settings: Settings, *, tenant: str, role: str, unit: str | None = None,
         subject: str | None = None, name: str = "", ttl_s: int = 12 * 3600,
         key: rsa.RSAPrivateKey | None = None, **extra) -> str:
    """A dev token (only the embedded issuer can mint; an OIDC provider issues its own)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role in UNIT_ROLES and not unit:
        raise ValueError(f"role {role} needs a unit")
    now = int(time.time())
    claims = {"iss": settings.auth_issuer, "aud": settings.auth_audience, "iat": now,
              "exp": now + ttl_s, "sub": subject or f"{role}@{unit or tenant}", "tenant": tenant,
              "role": role, "name": name, **({"unit": unit} if unit else {}), **extra}
    key = key or load_dev_key(dev_key_path(settings))
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": DEV_KEY_ID})


# ---- checking tokens ---------------------------------------------------------------------------

class Jwks:
    """The provider's signing keys by key id, fetched with httpx and cached."""

    def __init__(self, url: str, ttl_s: float = 600, min_refetch_s: float = 30):
        self.url, self.ttl_s, self.min_refetch_s = url, ttl_s, min_refetch_s
        self._keys: dict[str, object] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None):
        if time.monotonic() - self._fetched_at > self.ttl_s or kid not in self._keys:
            await self._refresh()
        if kid not in self._keys:
            raise Unauthorized(f"unknown signing key {kid!r}")
        return self._keys[kid]

    async def _refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._fetched_at < self.min_refetch_s:
                return  # an unknown kid must not make us hammer the provider
            async with httpx.AsyncClient(timeout=5) as client:
                response = await client.get(self.url)
                response.raise_for_status()
            keys = jwt.PyJWKSet.from_dict(response.json()).keys
            self._keys = {k.key_id: k.key for k in keys if k.key_id}
            self._fetched_at = time.monotonic()


class DevKeys:
    def __init__(self, settings: Settings):
        self._public = load_dev_key(dev_key_path(settings)).public_key()

    async def key(self, kid: str | None):
        if kid != DEV_KEY_ID:
            raise Unauthorized(f"unknown signing key {kid!r}")
        return self._public


class TokenVerifier:
    def __init__(self, settings: Settings):
        self.settings = settings
        if settings.auth_jwks_url:
            self.keys = Jwks(settings.auth_jwks_url)
        elif settings.production:
            raise ValueError("production needs DUBAN_AUTH_JWKS_URL (the identity provider's keys)")
        else:
            self.keys = DevKeys(settings)

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"malformed token: {exc}") from None
        if header.get("alg") != self.settings.auth_algorithm:  # pinned: no "none", no HS256 tricks
            raise Unauthorized(f"token algorithm {header.get('alg')!r} is not accepted")
        key = await self.keys.key(header.get("kid"))
        try:
            claims = jwt.decode(
                token, key, algorithms=[self.settings.auth_algorithm],
                audience=self.settings.auth_audience, issuer=self.settings.auth_issuer,
                leeway=self.settings.auth_leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(str(exc)) from None
        return principal_from(claims)
