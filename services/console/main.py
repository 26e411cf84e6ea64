"""Builds the console app: `python -m services.console` (and `duban up` starts it)."""

import logging
import os
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

import httpx
import uvicorn
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from services.console import admin_pages, csrf, exports, leader_pages, oidc, pages
from services.console.config import ConsoleSettings
from services.console.i18n import DEFAULT_LANG, normalise_lang, translator
from shared.auth import TokenVerifier
from shared.settings import Settings

HERE = Path(__file__).parent
LANG_COOKIE = "duban_lang"


def build_app(settings: ConsoleSettings | None = None, common: Settings | None = None) -> FastAPI:
    settings = settings or ConsoleSettings()
    common = common or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with httpx.AsyncClient(timeout=settings.timeout_s) as http:
            app.state.http = http
            yield

    app = FastAPI(title="Duban console", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None, dependencies=[Depends(csrf.check)])
    app.state.settings, app.state.common = settings, common
    app.state.verifier = TokenVerifier(common)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.state.oidc = oidc.Client(settings) if settings.oidc_issuer else None
    pages.templates.env.globals["csrf_field"] = csrf.csrf_field
    app.include_router(oidc.router)
    # before pages: /tasks/export.xlsx and /items/import would match /tasks/{id} and /items/{id}
    app.include_router(exports.router)
    app.include_router(leader_pages.router)
    app.include_router(pages.router)
    app.include_router(admin_pages.router)
    app.add_exception_handler(pages.NeedsSignIn, _to_signin)
    app.add_exception_handler(admin_pages.Refused, admin_pages.forbidden)
    app.add_exception_handler(csrf.Refused, _csrf_refused)

    @app.middleware("http")
    async def language(request: Request, call_next):
        asked = normalise_lang(request.query_params.get("lang"))
        request.state.lang = asked or normalise_lang(request.cookies.get(LANG_COOKIE)) or DEFAULT_LANG
        response = await call_next(request)
        csrf.keep(request, response)
        if asked:
            response.set_cookie(LANG_COOKIE, asked, max_age=365 * 86400, httponly=True, samesite="lax")
        return response

    return app


async def _to_signin(request: Request, _exc) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/signin?next={quote(target, safe='/')}" if request.url.path != "/"
                            else "/signin", status_code=303)


async def _csrf_refused(request: Request, _exc) -> HTMLResponse:
    message = translator(request.state.lang)("csrf_refused")
    return pages.render(request, "error.html", 403, message=message)


def serve() -> None:
    logging.basicConfig(level=os.environ.get("DUBAN_LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s console %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per call to the services
    settings, common = ConsoleSettings(), Settings()
    uvicorn.run(build_app(settings, common), host=common.host, port=settings.port,
                log_level="warning", timeout_graceful_shutdown=int(common.graceful_timeout_s))
