"""Access control, enforced in one place per service.

Every API route has a Rule in its service's ``access.py``, keyed ``"<METHOD> <path>"``; a route
without one is refused (deny by default). One dependency, ``authorize``, runs before every API
route: it checks the bearer token (401), the caller's role (403), and, for a route about one object
(a task, an item, a unit), that the object is in the caller's tenant and unit scope (404, so its
existence does not leak). A caller bound to a unit may only change what that unit or a unit below it
is responsible for (403 otherwise), not what it merely sees (e.g. as a co-unit). A list route names the query parameter that scopes it (e.g.
``unit``); a unit outside the caller's scope there is refused (403) and the route narrows the list
to the caller's scope when the parameter is left out.
"""

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from fastapi import Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.auth import ROLES, UNIT_ROLES, Principal, Unauthorized

READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
EVERYONE = frozenset(ROLES)
OFFICE = frozenset({"admin", "office"})
ADMIN = frozenset({"admin"})
UNIT_PEOPLE = frozenset(UNIT_ROLES)

Path = list[str]  # unit ids from the root down to the unit


@dataclass(frozen=True)
class Target:
    """The object a request is about: its tenant, the units that may see it, and the units that
    act on it (a task's lead unit; its co-units only see it, unless the route lets them act)."""

    tenant: str
    seen_by: list[Path]
    acted_on_by: list[Path] = field(default_factory=list)


Resolver = Callable[[Request, AsyncSession], Awaitable[Target | None]]
UnitPaths = Callable[[AsyncSession, str, list[str]], Awaitable[dict[str, Path]]]


@dataclass(frozen=True)
class Rule:
    roles: frozenset[str]
    target: Resolver | None = None  # None: not about one object
    scope_param: str | None = None  # a list route's unit parameter


@dataclass
class Policy:
    """A service's access rules, and how it finds a unit's place in its copy of the org tree."""

    rules: dict[str, Rule]
    unit_paths: UnitPaths

    def rule_for(self, request: Request) -> Rule | None:
        route = request.scope.get("route")
        path = getattr(route, "path", "").removeprefix(API_PREFIX)
        return self.rules.get(f"{request.method} {path}")


def in_scope(principal: Principal, path: Path) -> bool:
    return principal.unit is None or principal.unit in path


def _deny(request: Request, status: int, reason: str) -> HTTPException:
    request.state.denied = reason
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return HTTPException(status, reason, headers=headers)


API_PREFIX = "/api/v1"
# Declared on every route so /docs offers "Authorize"; the token itself is checked by the middleware.
bearer = HTTPBearer(auto_error=False, description="a JWT from the identity provider, or `duban token`")


class Authenticate:
    """ASGI middleware: every API request needs a valid bearer token (401 before anything else runs,
    the body included). The caller is left in ``request.state.principal``.

    The one exception is a service's webhooks (``app.state.open_routes``: exact method and path),
    whose callers sign their requests instead; any other method or path under them still needs a token.
    Plain ASGI rather than ``@app.middleware``: Starlette's BaseHTTPMiddleware costs a task group
    and a wrapped receive per request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX + "/"):
            return await self.app(scope, receive, send)
        request = Request(scope)
        if (request.method, scope["path"]) in getattr(request.app.state, "open_routes", ()):
            return await self.app(scope, receive, send)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        try:
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthorized("a bearer token is needed")
            request.state.principal = await request.app.state.verifier.verify(token.strip())
        except Unauthorized as exc:
            request.state.denied = f"invalid token: {exc}" if token.strip() else str(exc)
            answer = JSONResponse({"detail": request.state.denied}, status_code=401,
                                  headers={"WWW-Authenticate": "Bearer"})
            return await answer(scope, receive, send)
        await self.app(scope, receive, send)


async def authorize(request: Request, _: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Principal:
    """The dependency on every API route: the caller, allowed to make this request."""
    if (cached := getattr(request.state, "authorized", None)) is not None:
        return cached
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:  # only if the middleware is missing: fail closed
        raise _deny(request, 401, "a bearer token is needed")
    policy: Policy = request.app.state.policy
    rule = policy.rule_for(request)
    if rule is None:
        raise _deny(request, 403, "no access rule for this route")
    if principal.role not in rule.roles:
        raise _deny(request, 403, f"role {principal.role} may not do this")
    runtime = request.app.state.runtime
    if rule.target is not None or rule.scope_param:
        async with runtime.sessions() as session:
            if rule.target is not None:
                await _check_target(request, principal, rule, await rule.target(request, session))
            if rule.scope_param:
                await _check_scope_param(request, principal, rule.scope_param, policy, session)
    request.state.authorized = principal
    return principal


async def _check_target(request: Request, principal: Principal, rule: Rule,
                        target: Target | None) -> None:
    if target is None:
        return  # no such object: the route answers 404 itself
    if target.tenant != principal.tenant or not any(in_scope(principal, p) for p in target.seen_by):
        raise _deny(request, 404, "not found")
    acts = request.method not in READ_ONLY_METHODS
    if acts and principal.unit is not None and \
            not any(in_scope(principal, p) for p in target.acted_on_by):
        raise _deny(request, 403, f"unit {principal.unit} is not responsible for this")


async def _check_scope_param(request: Request, principal: Principal, param: str, policy: Policy,
                             session: AsyncSession) -> None:
    unit = request.query_params.get(param) or request.path_params.get(param)
    if unit is None or principal.unit is None:
        return
    path = (await policy.unit_paths(session, principal.tenant, [unit])).get(unit, [unit])
    if not in_scope(principal, path):
        raise _deny(request, 403, f"unit {unit} is outside your scope ({principal.unit})")


def scoped_unit(principal: Principal, asked: str | None) -> str | None:
    """The unit a list is narrowed to: the one asked for (already checked), else the caller's."""
    return asked or principal.unit


def paths_of(units: Iterable[str], known: dict[str, Path]) -> list[Path]:
    """Each unit's path in the org copy; a unit the copy does not know stands alone."""
    return [known.get(u, [u]) for u in units]


def unit_in_path(param: str, unit_paths: UnitPaths) -> Resolver:
    """The resolver of a route about one unit named in its path (a score, an inbox): the unit's
    place in the caller's tenant's tree; a unit the tree does not know stands alone."""

    async def resolve(request: Request, session: AsyncSession) -> Target:
        tenant, unit = request.state.principal.tenant, request.path_params[param]
        return Target(tenant=tenant, seen_by=paths_of([unit], await unit_paths(session, tenant, [unit])))

    return resolve
