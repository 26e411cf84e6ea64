"""The web console in front of a service stack, and a headless Chromium (Playwright) to drive it.

The browser is the system's Chromium (/usr/bin/chromium; CI installs the Debian package), never
one Playwright downloads. Browser tests run on SQLite: the console owns no data, and the storage
backends are covered by the end-to-end tests.
"""

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support import ServiceStack, free_port, wait_until

CHROMIUM = os.environ.get("DUBAN_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
TRACE_URL_TEMPLATE = "http://jaeger.invalid:16686/trace/{trace_id}"


class Console:
    def __init__(self, stack: ServiceStack, port: int | None = None,
                 extra_env: dict[str, str] | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**stack.stack.env, "DUBAN_DATA_DIR": str(stack.tmp),
               "DUBAN_CONSOLE_PORT": str(self.port),
               "DUBAN_CONSOLE_TRACE_URL_TEMPLATE": TRACE_URL_TEMPLATE, **(extra_env or {})}
        for name, url in stack.stack.urls.items():
            env[f"DUBAN_CONSOLE_{name.upper()}_URL"] = url
        self.proc = subprocess.Popen([sys.executable, "-m", "services.console"], env=env,
                                     start_new_session=True)
        wait_until(self._ready, timeout=30, what="the console to answer")

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"the console exited with code {self.proc.returncode}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="package")
def console_stack(tmp_path_factory):
    stack = ServiceStack(tmp_path_factory.mktemp("console-stack"), "sqlite")
    try:
        console = Console(stack)
    except BaseException:
        stack.stop()
        raise
    yield stack, console
    console.stop()
    stack.stop()


@pytest.fixture(scope="package")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def screenshot():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> None:
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(size)
            page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
        page.set_viewport_size(DESKTOP)

    return take
