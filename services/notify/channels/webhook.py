"""The OA's webhook: the CloudEvent, byte for byte, signed with the OA's secret.

Headers (shared/signing.py describes the signature)::

    Content-Type: application/cloudevents+json; charset=utf-8   (CloudEvents structured mode)
    X-Duban-Timestamp: <unix seconds>
    X-Duban-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.".encode() + body)>
    X-Duban-Delivery: <delivery id>   (the same on every retry: the OA drops repeats by it)

Without a secret the request goes unsigned (no X-Duban-Signature). Any 2xx is success.
"""

import time

import httpx

from services.notify.channels.base import DeliveryError, Outgoing, post, require_url
from shared.signing import sign

CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"


def webhook_headers(out: Outgoing, body: bytes, timestamp: int) -> dict[str, str]:
    headers = {"Content-Type": CONTENT_TYPE, "X-Duban-Timestamp": str(timestamp)}
    if out.secret:
        headers["X-Duban-Signature"] = sign(out.secret, timestamp, body)
    if out.key:
        headers["X-Duban-Delivery"] = out.key
    return headers


class WebhookChannel:
    name = "webhook"

    def __init__(self, timeout: float, client: httpx.AsyncClient | None = None):
        self.timeout = timeout
        self.client = client

    async def send(self, out: Outgoing) -> None:
        if out.cloudevent is None:
            raise DeliveryError("webhook: no CloudEvent to send", retryable=False)
        url = require_url(out.address, self.name)
        headers = webhook_headers(out, out.cloudevent, int(time.time()))
        await post(self.name, url, timeout=self.timeout, client=self.client,
                   content=out.cloudevent, headers=headers)
