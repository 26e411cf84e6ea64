"""HMAC signatures of webhook bodies: notify signs what it sends to the OA, intake checks what the
OA sends to it.

The signed message is ``f"{timestamp}."`` followed by the raw body bytes (Stripe's scheme), so a
signature is bound to the exact bytes on the wire and to when they were sent; the receiver refuses
timestamps outside a tolerance, which stops replays of old requests. Headers::

    X-Duban-Timestamp: <unix seconds>
    X-Duban-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.".encode() + body)>
"""

import hashlib
import hmac
from datetime import datetime

PREFIX = "sha256="


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>`` for ``body`` sent at ``timestamp`` (unix seconds). An empty secret is refused:
    an HMAC with an empty key authenticates nothing."""
    if not secret:
        raise ValueError("an empty secret cannot sign")
    return PREFIX + _digest(secret, int(timestamp), body)


def verify(secret: str, timestamp: int | str | None, body: bytes, signature: str | None, *,
           now: datetime | float, tolerance_s: float = 300) -> bool:
    """Whether ``signature`` (the ``X-Duban-Signature`` header) signs ``body`` at ``timestamp`` (the
    ``X-Duban-Timestamp`` header, as sent) with ``secret``, and ``timestamp`` is within
    ``tolerance_s`` of ``now`` (a datetime or unix seconds) either way.

    False, never an exception, for anything malformed or missing (the headers come from outside).
    The comparison takes constant time.
    """
    if not secret or not signature or not signature.startswith(PREFIX):
        return False
    try:
        ts = int(timestamp)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    current = now.timestamp() if isinstance(now, datetime) else float(now)
    if abs(current - ts) > tolerance_s:
        return False
    expected = PREFIX + _digest(secret, ts, body)
    return hmac.compare_digest(expected.encode(), signature.encode())
