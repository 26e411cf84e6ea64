"""intake's bus subscriptions. It consumes nothing yet: OA events arrive with the OA issue."""

from shared.consumer import Subscription

SUBSCRIPTIONS: list[Subscription] = []
