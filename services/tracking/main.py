"""Builds the tracking service: `python -m services.tracking` or `duban run tracking`."""

from fastapi import FastAPI

from services.tracking.access import POLICY
from services.tracking.api import router
from services.tracking.calendar_api import router as calendar_router
from services.tracking.deadlines import DeadlineWatch
from services.tracking.handlers import SUBSCRIPTIONS
from services.tracking.ledger_api import router as ledger_router
from services.tracking.migrations import HISTORY
from services.tracking.reports_api import router as reports_router
from shared.service import ServiceSpec, create_app

SPEC = ServiceSpec(
    name="tracking",
    migrations=HISTORY,
    routers=[ledger_router, router, calendar_router, reports_router],
    subscriptions=SUBSCRIPTIONS,
    policy=POLICY,
    workers=[DeadlineWatch],
)


def build_app() -> FastAPI:
    return create_app(SPEC)
