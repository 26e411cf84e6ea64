"""SMS through a generic HTTP gateway (the organisation's own, or an adapter to a provider).

``POST <DUBAN_NOTIFY_SMS_URL>`` with ``Authorization: Bearer <DUBAN_NOTIFY_SMS_TOKEN>`` (when set),
``X-Duban-Delivery: <delivery id>`` for the gateway to drop repeats, and the JSON body
``{"to": "<mobile>", "text": "<text>", "sign": "<DUBAN_NOTIFY_SMS_SIGN>"}``. Any 2xx is success.
"""

import re

import httpx

from services.notify.channels.base import DeliveryError, Outgoing, post, require_url
from services.notify.channels.settings import ChannelSettings

# Characters of text at most. Providers split long messages into 67/70-character parts and most
# cap a message at a few hundred characters; 500 keeps a whole notice and stays under the caps.
MAX_TEXT = 500
_MOBILE = re.compile(r"^\+?[0-9][0-9 -]{4,19}$")


def sms_text(out: Outgoing, limit: int = MAX_TEXT) -> str:
    """Title, body and link, at most ``limit`` characters: the body is cut (with "…") rather than
    the link, a cut link being useless; a link too long to leave room for the words is dropped."""
    words = f"{out.title}\n{out.body}".strip()
    tail = f" {out.link}" if out.link else ""
    if len(tail) > limit // 2:
        tail = ""
    room = limit - len(tail)
    if len(words) > room:
        words = words[: room - 1] + "…"
    return words + tail


class SmsChannel:
    name = "sms"

    def __init__(self, settings: ChannelSettings, client: httpx.AsyncClient | None = None):
        if not settings.sms_url:
            raise ValueError("the SMS channel needs a gateway URL")
        try:
            self.url = require_url(settings.sms_url, "sms")
        except DeliveryError as exc:  # configuration: fail at start, not on every message
            raise ValueError(f"DUBAN_NOTIFY_SMS_URL: {exc}") from exc
        self.sign = settings.sms_sign
        self.token = settings.sms_token.get_secret_value() if settings.sms_token else ""
        self.timeout = settings.channel_timeout
        self.client = client

    async def send(self, out: Outgoing) -> None:
        if not _MOBILE.match(out.address):
            raise DeliveryError(f"sms: not a mobile number: {out.address!r}", retryable=False)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if out.key:
            headers["X-Duban-Delivery"] = out.key
        payload = {"to": out.address, "text": sms_text(out), "sign": self.sign}
        await post("sms", self.url, timeout=self.timeout, client=self.client, json=payload, headers=headers)
