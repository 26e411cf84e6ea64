"""Runs one service process with uvicorn (graceful on SIGINT and SIGTERM)."""

import logging
import os
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from shared.settings import ServiceSettings, Settings
from shared.telemetry import FreshTraceContext


def serve(build_app: Callable[[], FastAPI], name: str) -> None:
    logging.basicConfig(
        level=os.environ.get("DUBAN_LOG_LEVEL", "INFO").upper(),
        format=f"%(asctime)s {name} %(levelname)s %(name)s: %(message)s",
    )
    settings = Settings()
    service = ServiceSettings.load(name, settings)
    uvicorn.run(
        FreshTraceContext(build_app()),
        host=settings.host,
        port=service.port,
        log_level="warning",
        timeout_graceful_shutdown=int(settings.graceful_timeout_s),
    )
