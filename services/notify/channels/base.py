"""What every channel shares: the message to send, the one error, and HTTP posting with the
error mapping the HTTP channels (SMS gateway, robots, the OA webhook) use.

Retryable or not: a timeout, a connection error, a 5xx, 408 and 429 may pass (retry later); any
other 4xx, a bad URL or missing configuration will not (retrying only repeats the failure).
Error messages name the host only, never the URL: robot URLs carry their access token.
"""

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

EXCERPT = 200  # characters of a failed response's body quoted in the error


@dataclass(frozen=True)
class Outgoing:
    """One message on one channel to one address (a delivery)."""

    channel: str                 # "email" | "sms" | "wecom" | "dingtalk" | "feishu" | "webhook"
    address: str                 # e-mail address, mobile number, or the robot/webhook URL
    title: str
    body: str                    # plain text (robots: rendered as markdown/post where the format allows)
    link: str | None = None      # a link to the task in the console, appended/embedded
    mentions: tuple[str, ...] = ()   # mobiles (wecom/dingtalk) or user ids (feishu) to @ in a group robot
    secret: str = ""             # robot signing secret (dingtalk, feishu) or HMAC key (webhook)
    cloudevent: bytes | None = None  # webhook: the CloudEvent in structured JSON, sent as the body as-is
    key: str = ""                # an idempotency key for the receiver (webhook: header); the delivery's id


class DeliveryError(Exception):
    """A message was not delivered; ``retryable`` says whether trying again later may succeed."""

    def __init__(self, message: str, *, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


class Channel(Protocol):
    name: str

    async def send(self, out: Outgoing) -> None:
        """Deliver ``out``; return on success, raise DeliveryError otherwise."""
        ...


def retryable_status(status: int) -> bool:
    return status >= 500 or status in (408, 429)


def host_of(url: str) -> str:
    try:
        return httpx.URL(url).host or "?"
    except httpx.InvalidURL:
        return "?"


def require_url(url: str, channel: str) -> httpx.URL:
    """``url`` parsed; a DeliveryError (not retryable) for an empty or non-HTTP(S) one."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise DeliveryError(f"{channel}: invalid URL ({exc})", retryable=False) from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise DeliveryError(f"{channel}: not an http(s) URL: {url[:40]!r}", retryable=False)
    return parsed


def status_error(channel: str, response: httpx.Response) -> DeliveryError:
    excerpt = response.text[:EXCERPT].strip()
    return DeliveryError(
        f"{channel}: HTTP {response.status_code} from {response.url.host}"
        + (f": {excerpt}" if excerpt else ""),
        retryable=retryable_status(response.status_code),
    )


async def post(channel: str, url: httpx.URL | str, *, timeout: float,
               client: httpx.AsyncClient | None = None, **kwargs: Any) -> httpx.Response:
    """POST to ``url``; a 2xx response, or DeliveryError.

    ``timeout`` bounds the whole exchange (httpx's own timeouts are per phase: a server trickling
    bytes would otherwise hold the call much longer). Without a ``client``, one is opened for the
    call.
    """
    host = host_of(str(url))
    try:
        async with asyncio.timeout(timeout):
            if client is not None:
                response = await client.post(url, timeout=timeout, **kwargs)
            else:
                async with httpx.AsyncClient(timeout=timeout) as own:
                    response = await own.post(url, **kwargs)
    except (TimeoutError, httpx.TimeoutException) as exc:
        raise DeliveryError(f"{channel}: no answer from {host} within {timeout:g}s") from exc
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise DeliveryError(f"{channel}: bad URL for {host}: {exc}", retryable=False) from exc
    except httpx.TransportError as exc:
        raise DeliveryError(f"{channel}: cannot reach {host}: {type(exc).__name__} {exc}") from exc
    if not response.is_success:
        raise status_error(channel, response)
    return response


def json_of(channel: str, response: httpx.Response) -> dict:
    """A platform's JSON answer; DeliveryError (not retryable: not the platform) when it is none."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise DeliveryError(
            f"{channel}: {response.url.host} answered {response.status_code} without a JSON object: "
            f"{response.text[:EXCERPT]!r}",
            retryable=False,
        )
    return data
