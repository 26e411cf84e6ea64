"""Builds the intake service: `python -m services.intake` or `duban run intake`."""

from fastapi import FastAPI

from services.intake import config
from services.intake.access import POLICY
from services.intake.api import router
from services.intake.handlers import SUBSCRIPTIONS
from services.intake.import_api import router as import_router
from services.intake.migrations import HISTORY
from services.intake.oa_webhook import router as oa_webhook_router
from services.intake.people_api import router as people_router
from services.intake.units_api import router as units_router
from shared.service import ServiceSpec, create_app
from shared.streams import OA_STREAM

SPEC = ServiceSpec(
    name="intake",
    migrations=HISTORY,
    routers=[import_router, router, units_router, people_router],
    subscriptions=SUBSCRIPTIONS,
    inbound_streams=[OA_STREAM],
    policy=POLICY,
    webhooks=[oa_webhook_router],
    forwards_into=[OA_STREAM],
)


def build_app() -> FastAPI:
    config.settings()  # a bad DUBAN_INTAKE_* value stops intake here, with the reason
    return create_app(SPEC)
