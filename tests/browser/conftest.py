"""Playwright for Python driving Debian's Chromium (never a downloaded browser).

Skipped, with the reason, when /usr/bin/chromium or the playwright package is missing
(`.ci/run` installs chromium with apt when it can).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.csms import StationProcess

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).parents[2] / "test-artifacts" / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

if not CHROMIUM.exists():
    pytest.skip(
        "browser tests need Debian's Chromium at /usr/bin/chromium (apt-get install chromium)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="browser tests need the playwright package (the test extra)"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Module scope, not session: while Playwright's sync API is open it owns a running event
    # loop in this thread, which the asyncio tests of other modules must not find.
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def station(tmp_path: Path) -> Iterator[StationProcess]:
    """A standalone simulated station; short lockout so the lockout test is quick."""
    proc = StationProcess(
        tmp_path, None, extra_toml="[http]\nlogin_max_failures = 3\nlogin_lockout_s = 3\n"
    )
    proc.start()
    try:
        wait_ready(proc)
        yield proc
    finally:
        proc.kill()


def wait_ready(proc: StationProcess, timeout: float = 15.0) -> None:
    """Synchronous: Playwright's sync API owns this thread's event loop."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.proc is not None and proc.proc.poll() is not None:
            raise AssertionError(f"station exited:\n{proc.log()[-3000:]}")
        try:
            if httpx.get(proc.base + "/status", headers=proc.headers, timeout=1).is_success:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"station not ready:\n{proc.log()[-3000:]}")


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
