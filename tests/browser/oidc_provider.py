"""A small OpenID Connect provider for tests, over real HTTP: discovery, JWKS, ``/authorize`` (signs
in at once whoever the test put in ``user``), ``/token`` (authorization code with PKCE S256 and
client_secret_basic, each code once), ``/logout``. It signs RS256 with its own key: ID tokens for
the console (``aud`` = the client id) and access tokens for the services (``aud`` = ``duban``).
``faults`` makes it misbehave: ``"nonce"`` (an ID token with another nonce), ``"expired"`` (an
ID token that expired an hour ago)."""

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

KEY_ID = "test-idp-1"


class Provider:
    def __init__(self, client_id: str = "duban-console", client_secret: str = "console-secret",
                 audience: str = "duban"):
        self.client_id, self.client_secret, self.audience = client_id, client_secret, audience
        self.redirect_uri = ""  # the one registered redirect URI (set once the console's is known)
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.user: dict = {}
        self.faults: set[str] = set()
        self.codes: dict[str, dict] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "Provider":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def sign(self, claims: dict) -> str:
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": KEY_ID})

    def access_token(self, ttl_s: int = 3600, **claims) -> str:
        """What the enterprise's provider issues for Duban: ``tenant``, ``role``, ``unit`` claims."""
        now = int(time.time())
        return self.sign({"iss": self.issuer, "aud": self.audience, "iat": now, "exp": now + ttl_s,
                          **claims})

    def discovery(self) -> dict:
        return {"issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
                "end_session_endpoint": f"{self.issuer}/logout",
                "response_types_supported": ["code"], "code_challenge_methods_supported": ["S256"],
                "id_token_signing_alg_values_supported": ["RS256"]}

    def jwks(self) -> dict:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": KEY_ID, "use": "sig", "alg": "RS256"}]}

    def authorize(self, query: dict) -> tuple[int, str]:
        """(status, where to redirect or why not)."""
        if query.get("client_id") != self.client_id or query.get("redirect_uri") != self.redirect_uri:
            return 400, "unknown client or redirect_uri"
        if query.get("response_type") != "code" or query.get("code_challenge_method") != "S256":
            return 400, "only the code flow with PKCE S256"
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"nonce": query.get("nonce", ""), "challenge": query["code_challenge"],
                            "user": dict(self.user)}
        return 302, f"{self.redirect_uri}?{urlencode({'code': code, 'state': query.get('state', '')})}"

    def token(self, form: dict, authorization: str) -> tuple[int, dict]:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if authorization != f"Basic {expected}":
            return 401, {"error": "invalid_client"}
        grant = self.codes.pop(form.get("code", ""), None)  # a code is good once
        verifier = form.get("code_verifier", "").encode()
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=").decode()
        if grant is None or form.get("redirect_uri") != self.redirect_uri or challenge != grant["challenge"]:
            return 400, {"error": "invalid_grant"}
        user, now = grant["user"], int(time.time())
        exp = now - 3600 if "expired" in self.faults else now + 300
        nonce = "another-nonce" if "nonce" in self.faults else grant["nonce"]
        id_token = self.sign({"iss": self.issuer, "aud": self.client_id, "sub": user["sub"],
                              "iat": now, "exp": exp, "nonce": nonce, "name": user.get("name", "")})
        return 200, {"token_type": "Bearer", "expires_in": 3600, "id_token": id_token,
                     "access_token": self.access_token(**user)}


def _handler(provider: Provider):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet
            pass

        def _json(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _redirect(self, to: str) -> None:
            self.send_response(302)
            self.send_header("Location", to)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/.well-known/openid-configuration":
                self._json(200, provider.discovery())
            elif url.path == "/jwks":
                self._json(200, provider.jwks())
            elif url.path == "/authorize":
                status, where = provider.authorize(query)
                self._redirect(where) if status == 302 else self._json(status, {"error": where})
            elif url.path == "/logout":
                self._redirect(query.get("post_logout_redirect_uri") or provider.issuer)
            else:
                self._json(404, {"error": "not found"})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if urlsplit(self.path).path != "/token":
                return self._json(404, {"error": "not found"})
            self._json(*provider.token(form, self.headers.get("Authorization", "")))

    return Handler
