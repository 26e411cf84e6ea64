"""Builds the console app: `python -m services.console` (and `duban up` starts it)."""

import logging
import os
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from services.console import exports, leader_pages, pages
from services.console.config import ConsoleSettings
from services.console.i18n import DEFAULT_LANG, normalise_lang
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
                  openapi_url=None)
    app.state.settings, app.state.common = settings, common
    app.state.verifier = TokenVerifier(common)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    # before pages: /tasks/export.xlsx and /items/import would match /tasks/{id} and /items/{id}
    app.include_router(exports.router)
    app.include_router(leader_pages.router)
    app.include_router(pages.router)
    app.add_exception_handler(pages.NeedsSignIn, _to_signin)

    @app.middleware("http")
    async def language(request: Request, call_next):
        asked = normalise_lang(request.query_params.get("lang"))
        request.state.lang = asked or normalise_lang(request.cookies.get(LANG_COOKIE)) or DEFAULT_LANG
        response = await call_next(request)
        if asked:
            response.set_cookie(LANG_COOKIE, asked, max_age=365 * 86400, httponly=True, samesite="lax")
        return response

    return app


async def _to_signin(request: Request, _exc) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/signin?next={quote(target, safe='/')}" if request.url.path != "/"
                            else "/signin", status_code=303)


def serve() -> None:
    logging.basicConfig(level=os.environ.get("DUBAN_LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s console %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per call to the services
    settings, common = ConsoleSettings(), Settings()
    uvicorn.run(build_app(settings, common), host=common.host, port=settings.port,
                log_level="warning", timeout_graceful_shutdown=int(common.graceful_timeout_s))
