"""Sign-in with the enterprise's OpenID Connect provider: the authorization-code flow with PKCE
(S256), ``state`` and ``nonce``.

``/oidc/login`` keeps a fresh state, nonce and code verifier in a short-lived HttpOnly cookie and
sends the browser to the provider; ``/oidc/callback`` checks the state, redeems the code at the
token endpoint, checks the ID token (signature by the provider's JWKS, the pinned algorithm,
``iss``, ``aud`` = the client id, ``exp``, the nonce) and then the access token exactly as the
services will (shared/auth.py: ``aud`` = ``DUBAN_AUTH_AUDIENCE``, the ``tenant``/``role``/``unit``
claims). The access token becomes the session: it is what the console forwards to the services.
"""

import base64
import hashlib
import json
import secrets
from urllib.parse import urlencode

import httpx
import jwt
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.console.config import ConsoleSettings
from services.console.pages import SESSION_COOKIE, _local_path, render
from shared.auth import Jwks, Unauthorized

router = APIRouter()
FLOW_COOKIE = "duban_oidc"
FLOW_TTL_S = 600
DEFAULT_SESSION_S = 3600


class SignInRefused(Exception):
    """The provider's answer does not hold up: no session."""


class Client:
    """The provider as its discovery document describes it (fetched once, on first use)."""

    def __init__(self, settings: ConsoleSettings):
        self.settings = settings
        self.issuer = settings.oidc_issuer.rstrip("/")
        self.discovery_url = (settings.oidc_discovery_url
                              or f"{self.issuer}/.well-known/openid-configuration")
        self._meta: dict | None = None
        self._jwks: Jwks | None = None

    async def meta(self, http: httpx.AsyncClient) -> dict:
        if self._meta is None:
            response = await http.get(self.discovery_url)
            response.raise_for_status()
            meta = response.json()
            if meta.get("issuer", "").rstrip("/") != self.issuer:
                raise SignInRefused(f"the discovery document names issuer {meta.get('issuer')!r}")
            self._meta, self._jwks = meta, Jwks(meta["jwks_uri"])
        return self._meta

    async def authorize_url(self, http: httpx.AsyncClient, state: str, nonce: str,
                            verifier: str) -> str:
        meta = await self.meta(http)
        query = {"response_type": "code", "client_id": self.settings.oidc_client_id,
                 "redirect_uri": self.settings.oidc_redirect_url, "scope": self.settings.oidc_scopes,
                 "state": state, "nonce": nonce, "code_challenge": _challenge(verifier),
                 "code_challenge_method": "S256"}
        endpoint = meta["authorization_endpoint"]
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(query)}"

    async def redeem(self, http: httpx.AsyncClient, code: str, verifier: str) -> dict:
        meta = await self.meta(http)
        form = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                "redirect_uri": self.settings.oidc_redirect_url,
                "client_id": self.settings.oidc_client_id}
        secret = self.settings.client_secret()
        auth = (self.settings.oidc_client_id, secret) if secret else None  # client_secret_basic
        response = await http.post(meta["token_endpoint"], data=form, auth=auth)
        if response.status_code != 200:
            raise SignInRefused(f"the token endpoint answered {response.status_code}: "
                                f"{response.text[:200]}")
        return response.json()

    async def check_id_token(self, token: str, nonce: str, algorithm: str, leeway_s: int) -> dict:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise SignInRefused(f"malformed ID token: {exc}") from None
        if header.get("alg") != algorithm:
            raise SignInRefused(f"ID token algorithm {header.get('alg')!r} is not accepted")
        try:
            key = await self._jwks.key(header.get("kid"))
            claims = jwt.decode(token, key, algorithms=[algorithm],
                                audience=self.settings.oidc_client_id, issuer=self._meta["issuer"],
                                leeway=leeway_s, options={"require": ["exp", "iss", "aud", "sub"]})
        except (jwt.InvalidTokenError, Unauthorized) as exc:
            raise SignInRefused(f"ID token: {exc}") from None
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise SignInRefused("ID token: wrong nonce")
        return claims

    async def end_session_url(self, http: httpx.AsyncClient) -> str | None:
        try:
            meta = await self.meta(http)
        except (httpx.HTTPError, SignInRefused):
            return None
        if not meta.get("end_session_endpoint"):
            return None
        query = {"client_id": self.settings.oidc_client_id}
        if self.settings.oidc_post_logout_url:
            query["post_logout_redirect_uri"] = self.settings.oidc_post_logout_url
        endpoint = meta["end_session_endpoint"]
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(query)}"


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _refused(request: Request, message: str, status: int = 400) -> Response:
    response = render(request, "error.html", status, message=message)
    response.delete_cookie(FLOW_COOKIE, path="/oidc")
    return response


@router.get("/oidc/login")
async def login(request: Request, next: str = "/") -> Response:  # noqa: A002
    client: Client | None = request.app.state.oidc
    if client is None:
        return RedirectResponse("/signin", status_code=303)
    flow = {"state": secrets.token_urlsafe(24), "nonce": secrets.token_urlsafe(24),
            "verifier": secrets.token_urlsafe(48), "next": _local_path(next)}
    try:
        target = await client.authorize_url(request.app.state.http, flow["state"], flow["nonce"],
                                            flow["verifier"])
    except (httpx.HTTPError, SignInRefused, KeyError, ValueError) as exc:
        return _refused(request, f"the identity provider: {exc}", 502)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(FLOW_COOKIE, json.dumps(flow), max_age=FLOW_TTL_S, path="/oidc",
                        httponly=True, samesite="lax", secure=request.app.state.settings.secure_cookie)
    return response


@router.get("/oidc/callback")
async def callback(request: Request, code: str = "", state: str = "", error: str = "") -> Response:
    client: Client | None = request.app.state.oidc
    if client is None:
        return RedirectResponse("/signin", status_code=303)
    if error:
        return _refused(request, f"the identity provider refused: {error}", 403)
    try:
        flow = json.loads(request.cookies.get(FLOW_COOKIE) or "{}")
    except ValueError:
        flow = {}
    if (not isinstance(flow, dict) or not all(flow.get(k) for k in ("state", "nonce", "verifier"))
            or not secrets.compare_digest(state, str(flow["state"]))):
        return _refused(request, "sign-in refused: the state does not match (start again)", 403)
    common = request.app.state.common
    try:
        tokens = await client.redeem(request.app.state.http, code, flow["verifier"])
        identity = await client.check_id_token(str(tokens.get("id_token", "")), flow["nonce"],
                                               common.auth_algorithm, common.auth_leeway_s)
        access = str(tokens.get("access_token", ""))
        user = await request.app.state.verifier.verify(access)
    except Unauthorized as exc:
        return _refused(request, f"sign-in refused: access token: {exc}", 403)
    except SignInRefused as exc:
        return _refused(request, f"sign-in refused: {exc}", 403)
    except httpx.HTTPError as exc:
        return _refused(request, f"the identity provider: {exc}", 502)
    if user.subject != str(identity["sub"]):
        return _refused(request, "sign-in refused: the ID and access tokens name different people", 403)
    response = RedirectResponse(_local_path(str(flow.get("next") or "/")), status_code=303)
    response.delete_cookie(FLOW_COOKIE, path="/oidc")
    max_age = int(tokens.get("expires_in") or DEFAULT_SESSION_S)
    response.set_cookie(SESSION_COOKIE, access, max_age=max_age, httponly=True, samesite="lax",
                        secure=request.app.state.settings.secure_cookie)
    return response


