"""E-mail over SMTP (aiosmtplib): one plain-text UTF-8 message per recipient.

SMTP answers map to retryable by their class: 4xx is a transient refusal (retry), 5xx a permanent
one (bad address, authentication failed: don't).
"""

import asyncio
import re
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

import aiosmtplib

from services.notify.channels.base import DeliveryError, Outgoing
from services.notify.channels.settings import ChannelSettings

_ID_SAFE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


def compose(out: Outgoing, sender: str, now: datetime | None = None) -> EmailMessage:
    """The MIME message: UTF-8 subject (RFC 2047) and text/plain body with the link.

    The Message-ID derives from the delivery's key when it has one, so a retried delivery carries
    the same Message-ID and mail clients show it once.
    """
    msg = EmailMessage()
    msg["Subject"] = out.title
    msg["From"] = sender
    msg["To"] = out.address
    msg["Date"] = format_datetime(now or datetime.now(UTC))
    domain = Address(addr_spec=parseaddr(sender)[1]).domain or "duban.local"
    msg["Message-ID"] = f"<{out.key}@{domain}>" if _ID_SAFE.match(out.key) else make_msgid(domain=domain)
    text = out.body + (f"\n\n查看详情：{out.link}" if out.link else "")
    msg.set_content(text + "\n", charset="utf-8")
    return msg


def _smtp_error(exc: aiosmtplib.SMTPException) -> DeliveryError:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        return DeliveryError(f"email: recipient refused: {detail}", retryable=all(c < 500 for c in codes))
    # aiosmtplib raises the bare SMTPException for configuration the server cannot meet
    # (STARTTLS or AUTH not offered, no common AUTH mechanism): retrying changes nothing.
    if isinstance(exc, aiosmtplib.SMTPNotSupported) or type(exc) is aiosmtplib.SMTPException:
        return DeliveryError(f"email: server does not support what is configured: {exc}", retryable=False)
    if isinstance(exc, aiosmtplib.SMTPResponseException) and not isinstance(exc, OSError):
        return DeliveryError(f"email: server answered {exc.code} {exc.message}", retryable=exc.code < 500)
    return DeliveryError(f"email: {type(exc).__name__}: {exc}")


class EmailChannel:
    name = "email"

    def __init__(self, settings: ChannelSettings):
        if not settings.smtp_host or not settings.smtp_sender:
            raise ValueError("the e-mail channel needs an SMTP host and a sender")
        self.settings = settings
        self.sender = settings.smtp_sender

    async def send(self, out: Outgoing) -> None:
        recipient = parseaddr(out.address)[1]  # "张三 <z@x.cn>" or a bare address
        if "@" not in recipient:
            raise DeliveryError(f"email: not an e-mail address: {out.address!r}", retryable=False)
        try:
            message = compose(out, self.sender)
        except (ValueError, IndexError) as exc:  # a malformed address in a header
            raise DeliveryError(f"email: cannot compose: {exc}", retryable=False) from exc
        await self._submit(message, recipient)

    async def _submit(self, message: EmailMessage, recipient: str) -> None:
        s = self.settings
        password = s.smtp_password.get_secret_value() if s.smtp_password else None
        try:
            async with asyncio.timeout(s.channel_timeout):
                await aiosmtplib.send(
                    message, sender=parseaddr(self.sender)[1], recipients=[recipient],
                    hostname=s.smtp_host, port=s.smtp_port, username=s.smtp_username, password=password,
                    start_tls=s.smtp_starttls, use_tls=s.smtp_use_tls, timeout=s.channel_timeout,
                )
        except TimeoutError as exc:  # also aiosmtplib's SMTPTimeoutError
            raise DeliveryError(f"email: no answer from {s.smtp_host} within {s.channel_timeout:g}s") from exc
        except aiosmtplib.SMTPException as exc:
            raise _smtp_error(exc) from exc
        except OSError as exc:  # refused, unreachable, TLS failures
            raise DeliveryError(f"email: cannot reach {s.smtp_host}:{s.smtp_port}: {exc}") from exc
