"""Builds the scoring service: `python -m services.scoring` or `duban run scoring`."""

from fastapi import FastAPI

from services.scoring.access import POLICY
from services.scoring.api import router
from services.scoring.handlers import SUBSCRIPTIONS
from services.scoring.migrations import HISTORY
from services.scoring.rules_api import router as rules_router
from shared.service import ServiceSpec, create_app

SPEC = ServiceSpec(
    name="scoring",
    migrations=HISTORY,
    routers=[router, rules_router],
    subscriptions=SUBSCRIPTIONS,
    policy=POLICY,
)


def build_app() -> FastAPI:
    return create_app(SPEC)
