"""Cross-site request forgery: every POST carries the browser's CSRF token (double submit).

The console gives each browser a random token in a cookie (``__Host-`` prefixed behind HTTPS, so a
sibling subdomain cannot plant one) and every form repeats it in a hidden field (``csrf_field()``
in a template). A POST whose field — or ``X-CSRF-Token`` header, for scripts — does not match the
cookie is refused with 403 before the route runs, so nothing is changed. Another site can make a
browser send the cookie but cannot read it to fill in the field.
"""

import hmac
import secrets

from fastapi import Request
from jinja2 import pass_context
from markupsafe import Markup, escape
from starlette.responses import Response

FIELD = "csrf"
HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Refused(Exception):
    """A POST without the browser's token: answered 403 (the app renders the error page)."""


def cookie_name(secure: bool) -> str:
    return "__Host-duban_csrf" if secure else "duban_csrf"


def _secure(request: Request) -> bool:
    return request.app.state.settings.secure_cookie


def token_of(request: Request) -> str:
    """The browser's token; a new one (set on the response by ``keep``) if it has none yet."""
    if not hasattr(request.state, "csrf"):
        found = request.cookies.get(cookie_name(_secure(request)), "")
        request.state.csrf_new = len(found) < 32
        request.state.csrf = secrets.token_urlsafe(32) if request.state.csrf_new else found
    return request.state.csrf


def keep(request: Request, response: Response) -> None:
    """Middleware's half: hand a newly made token to the browser."""
    if getattr(request.state, "csrf_new", False):
        secure = _secure(request)
        response.set_cookie(cookie_name(secure), request.state.csrf, max_age=30 * 86400, path="/",
                            httponly=True, samesite="lax", secure=secure)


async def check(request: Request) -> None:
    """The app-wide dependency: a POST (or any unsafe method) must repeat the cookie's token."""
    if request.method in SAFE_METHODS:
        return
    expected = request.cookies.get(cookie_name(_secure(request)), "")
    sent = request.headers.get(HEADER, "")
    if not sent:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            sent = str((await request.form()).get(FIELD, ""))
    if len(expected) < 32 or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Refused()


@pass_context
def csrf_field(context) -> Markup:
    """``{{ csrf_field() }}`` inside every POST form."""
    token = token_of(context["request"])
    return Markup(f'<input type="hidden" name="{FIELD}" value="{escape(token)}">')
