"""Builds the notify service: `python -m services.notify` or `duban run notify`."""

from fastapi import FastAPI

from services.notify.access import POLICY
from services.notify.admin_api import router as admin_router
from services.notify.api import router
from services.notify.digest import Digest
from services.notify.dispatch import Dispatcher
from services.notify.handlers import SUBSCRIPTIONS
from services.notify.migrations import HISTORY
from shared.service import ServiceSpec, create_app

SPEC = ServiceSpec(
    name="notify",
    migrations=HISTORY,
    routers=[router, admin_router],
    subscriptions=SUBSCRIPTIONS,
    policy=POLICY,
    workers=[Dispatcher, Digest],
)


def build_app() -> FastAPI:
    return create_app(SPEC)
