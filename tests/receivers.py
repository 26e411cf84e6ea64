"""Real local receivers for outbound messages: an SMTP server and a programmable HTTP server.

Both listen on 127.0.0.1 on a free port, run in background threads (so synchronous e2e tests and
async tests alike can use them), record what they receive, and are context managers::

    with HttpReceiver() as robot:
        robot.fail_next(2)                      # the next two requests get 500
        ...send to f"{robot.url}/robot/send?access_token=t"...
        [request] = robot.wait_for(1)
        request.json["msgtype"]

    with SmtpReceiver() as smtp:
        ...send to smtp.host:smtp.port...
        [mail] = smtp.wait_for(1)
        mail.message["Subject"]                 # decoded (email.policy.default)
"""

import asyncio
import email
import email.policy
import json
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support import free_port

# What HttpReceiver answers by default: success for every robot (WeCom and DingTalk read
# errcode/errmsg, Feishu code/msg) and for anything that only looks at the status.
ROBOT_OK = {"errcode": 0, "errmsg": "ok", "code": 0, "msg": "success"}


class _Recorder:
    """A list filled from other threads, with waiting for it to reach a length."""

    def __init__(self) -> None:
        self._items: list = []
        self._cond = threading.Condition()

    def add(self, item: Any) -> None:
        with self._cond:
            self._items.append(item)
            self._cond.notify_all()

    def items(self) -> list:
        with self._cond:
            return list(self._items)

    def clear(self) -> None:
        with self._cond:
            self._items.clear()

    def wait_for(self, n: int, timeout: float, what: str) -> list:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._items) >= n, timeout):
                raise AssertionError(f"timed out after {timeout}s waiting for {n} {what} "
                                     f"(got {len(self._items)})")
            return list(self._items)

    async def await_for(self, n: int, timeout: float, what: str) -> list:
        """``wait_for`` without blocking the event loop (the sender may run on it)."""
        deadline = time.monotonic() + timeout
        while len(self.items()) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {n} {what} "
                                     f"(got {len(self.items())})")
            await asyncio.sleep(0.02)
        return self.items()


# ---- HTTP -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it, and the status it answered."""

    method: str
    path: str
    query: dict[str, list[str]]  # parse_qs: percent-decoded, each name to its values
    raw_query: str               # as on the wire (to check encoding)
    headers: httpx.Headers       # case-insensitive
    body: bytes
    status: int
    json: Any = None             # the body parsed as JSON, None when it is not JSON

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class _Behaviour:
    status: int = 200
    body: bytes = json.dumps(ROBOT_OK).encode()
    content_type: str = "application/json; charset=utf-8"
    fail_left: int = 0
    fail_status: int = 500
    always_status: int | None = None
    delay_s: float = 0.0


class HttpReceiver:
    """A real HTTP server recording every request; programmable failures and slowness.

    Bodies are read by Content-Length (what httpx sends for bytes and JSON); chunked uploads are
    not supported. Each request is recorded on arrival, before any delay, with the status it gets.
    """

    def __init__(self) -> None:
        self._received = _Recorder()
        self._lock = threading.Lock()
        self._behaviour = _Behaviour()
        self._stopping = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.handle_error = self._quiet_error  # clients that gave up (timeouts) are expected
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (append any path and query)."""
        return f"http://127.0.0.1:{self.port}"

    # -- programming ---------------------------------------------------------------------------

    def respond(self, body: dict | list | bytes | str = ROBOT_OK, status: int = 200,
                content_type: str = "application/json; charset=utf-8") -> None:
        """What a request that is not failed gets (default: 200 with ROBOT_OK)."""
        raw = body if isinstance(body, bytes) else (
            body.encode() if isinstance(body, str) else json.dumps(body, ensure_ascii=False).encode())
        with self._lock:
            self._behaviour.status, self._behaviour.body = status, raw
            self._behaviour.content_type = content_type

    def fail_next(self, n: int, status: int = 500) -> None:
        with self._lock:
            self._behaviour.fail_left, self._behaviour.fail_status = n, status

    def always_fail(self, status: int = 503) -> None:
        with self._lock:
            self._behaviour.always_status = status

    def recover(self) -> None:
        """No more failures and no delay (the configured response stays)."""
        with self._lock:
            self._behaviour.fail_left, self._behaviour.always_status = 0, None
            self._behaviour.delay_s = 0.0

    def delay(self, seconds: float) -> None:
        """Answer every request only after ``seconds`` (a slow receiver)."""
        with self._lock:
            self._behaviour.delay_s = seconds

    # -- what was received ---------------------------------------------------------------------

    @property
    def requests(self) -> list[Received]:
        return self._received.items()

    def clear(self) -> None:
        self._received.clear()

    def wait_for(self, n: int, timeout: float = 10.0) -> list[Received]:
        """Block until at least ``n`` requests arrived; all of them."""
        return self._received.wait_for(n, timeout, "HTTP requests")

    async def await_for(self, n: int, timeout: float = 10.0) -> list[Received]:
        return await self._received.await_for(n, timeout, "HTTP requests")

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes delayed handlers
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- serving -------------------------------------------------------------------------------

    def _answer(self) -> tuple[int, bytes, str, float]:
        with self._lock:
            b = self._behaviour
            status = b.always_status
            if status is None and b.fail_left > 0:
                b.fail_left -= 1
                status = b.fail_status
            if status is None:
                return b.status, b.body, b.content_type, b.delay_s
        failure = json.dumps({"error": f"injected failure {status}"}).encode()
        return status, failure, "application/json", b.delay_s

    def _record(self, handler: BaseHTTPRequestHandler, body: bytes, status: int) -> None:
        split = urlsplit(handler.path)
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        self._received.add(Received(
            method=handler.command, path=split.path, query=parse_qs(split.query), raw_query=split.query,
            headers=httpx.Headers(list(handler.headers.items())), body=body, status=status, json=parsed,
        ))

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        status, payload, content_type, delay_s = self._answer()
        self._record(handler, body, status)
        if delay_s and self._stopping.wait(delay_s):
            return
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                receiver._serve(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any  # http.server dispatches on do_<METHOD>

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    @staticmethod
    def _quiet_error(request: object, client_address: object) -> None:
        pass


# ---- SMTP -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage  # parsed with email.policy.default: headers come decoded
    raw: bytes


@dataclass
class _SmtpHandler:
    received: _Recorder
    lock: threading.Lock = field(default_factory=threading.Lock)
    fail_left: int = 0
    fail_reply: str = "451 4.3.0 try again later"

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd's hook name
        with self.lock:
            if self.fail_left > 0:
                self.fail_left -= 1
                return self.fail_reply
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        self.received.add(Mail(envelope.mail_from, list(envelope.rcpt_tos), message, raw))
        return "250 OK"


class SmtpReceiver:
    """An aiosmtpd server (its own thread and loop). With ``credentials`` it requires AUTH
    (LOGIN/PLAIN, allowed without TLS: it is loopback only)."""

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self._received = _Recorder()
        self._handler = _SmtpHandler(self._received)
        self.credentials = credentials
        self.host = "127.0.0.1"
        self.port = 0
        self.controller: Controller | None = None

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and self.credentials is not None
              and (auth_data.login.decode(), auth_data.password.decode()) == self.credentials)
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers (235 / 535)

    def _controller(self, port: int) -> Controller:
        auth = {"authenticator": self._authenticate, "auth_required": True,
                "auth_require_tls": False} if self.credentials else {}
        return Controller(self._handler, hostname=self.host, port=port, ready_timeout=10, **auth)

    def fail_next(self, n: int, reply: str = "451 4.3.0 try again later") -> None:
        """Refuse the next ``n`` messages at DATA with ``reply`` (4xx transient, 5xx permanent)."""
        with self._handler.lock:
            self._handler.fail_left, self._handler.fail_reply = n, reply

    @property
    def messages(self) -> list[Mail]:
        return self._received.items()

    def clear(self) -> None:
        self._received.clear()

    def wait_for(self, n: int, timeout: float = 10.0) -> list[Mail]:
        return self._received.wait_for(n, timeout, "e-mails")

    async def await_for(self, n: int, timeout: float = 10.0) -> list[Mail]:
        return await self._received.await_for(n, timeout, "e-mails")

    def start(self, attempts: int = 3) -> Self:
        """Start on a free port; on another if some other process took it first."""
        for attempt in range(attempts):
            self.port = free_port()
            self.controller = self._controller(self.port)
            try:
                self.controller.start()
                return self
            except (OSError, RuntimeError):
                self._stop_quietly()
                if attempt == attempts - 1:
                    raise
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def _stop_quietly(self) -> None:
        try:
            self.stop()
        except (AssertionError, RuntimeError, OSError):  # it never fully started
            self.controller = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
