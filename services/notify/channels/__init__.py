"""notify's outbound channels: e-mail, SMS, the WeCom / DingTalk / Feishu group robots, the OA webhook.

``build_channels(settings)`` gives the channels this deployment can use, by name. The robots and the
webhook are always there (each message brings its URL and secret); e-mail only with
``DUBAN_NOTIFY_SMTP_HOST`` set, SMS only with ``DUBAN_NOTIFY_SMS_URL`` set: a channel without its
configuration is left out, so a delivery on it finds no channel (the caller decides what that means).
"""

import httpx

from services.notify.channels.base import Channel, DeliveryError, Outgoing
from services.notify.channels.email import EmailChannel
from services.notify.channels.robots import DingTalkChannel, FeishuChannel, WeComChannel
from services.notify.channels.settings import ChannelSettings
from services.notify.channels.sms import SmsChannel
from services.notify.channels.webhook import WebhookChannel

__all__ = [
    "Channel", "ChannelSettings", "DeliveryError", "DingTalkChannel", "EmailChannel", "FeishuChannel",
    "Outgoing", "SmsChannel", "WeComChannel", "WebhookChannel", "build_channels",
]


def build_channels(settings: ChannelSettings | None = None,
                   client: httpx.AsyncClient | None = None) -> dict[str, Channel]:
    """The available channels by name (settings: from the environment when not given).

    ``client``: one HTTP client for all HTTP channels (connection reuse; the caller closes it);
    without it each send opens its own.
    """
    s = settings if settings is not None else ChannelSettings()
    timeout = s.channel_timeout
    channels: list[Channel] = [
        WeComChannel(timeout, client), DingTalkChannel(timeout, client), FeishuChannel(timeout, client),
        WebhookChannel(timeout, client),
    ]
    if s.smtp_host:
        channels.append(EmailChannel(s))
    if s.sms_url:
        channels.append(SmsChannel(s, client))
    return {channel.name: channel for channel in channels}
