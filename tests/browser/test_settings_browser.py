"""Settings pages in a real browser: point the station at a CSMS and watch it connect;
import a whitelist CSV with a bad line (nothing imported, the line named), then a good one."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import shot
from tests.browser.test_web_browser import base, set_admin_password
from tests.csms import StationProcess, TestCSMS


@pytest.fixture
def csms() -> Iterator[TestCSMS]:
    """A CSMS in its own thread and event loop (Playwright's sync API owns this thread's)."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, TestCSMS] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)

        async def start() -> None:
            holder["csms"] = TestCSMS()
            await holder["csms"].start()
            ready.set()

        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield holder["csms"]
    asyncio.run_coroutine_threadsafe(holder["csms"].stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def test_change_the_csms_url_and_see_the_connection(
    page: Any, station: StationProcess, csms: TestCSMS
) -> None:
    set_admin_password(page, station)
    page.goto(base(station) + "/settings/backend")
    status = page.locator("#backend-status")
    expect(status.locator('[data-g="connection"]')).to_have_text("standalone (no backend)")
    page.fill("#f-csms_url", "http://wrong")
    page.click("#save")
    expect(page.locator('[data-error-for="csms_url"]')).to_contain_text("ws:// or wss://")
    shot(page, "backend-error")
    page.fill("#f-csms_url", csms.url)
    page.fill("#f-chargePointSerialNumber", "SN-4711")
    page.click("#save")
    expect(page.locator("#saved")).to_be_visible()
    expect(page.locator("#restart-needed")).to_have_count(0)
    expect(status.locator('[data-g="connection"]')).to_have_text("connected", timeout=8000)
    expect(status.locator('[data-g="registration"]')).to_have_text("accepted", timeout=8000)
    shot(page, "backend")
    boots = [f for f in csms.frames if f.action == "BootNotification"]
    assert boots and boots[0].payload["chargePointSerialNumber"] == "SN-4711"
    # The dashboard says the same.
    page.goto(base(station) + "/")
    expect(page.locator('#backend [data-g="connection"]')).to_have_text("connected")


def test_whitelist_csv_import_bad_then_good(page: Any, station: StationProcess) -> None:
    set_admin_password(page, station)
    page.goto(base(station) + "/whitelists")
    expect(page.locator("#total")).to_have_text("0 of 1000")
    bad = b"UID,GID,Expiry,Authorization\naec78085,,,accepted\n4b13b318,,someday,accepted\n"
    page.set_input_files("#import-file", {"name": "bad.csv", "mimeType": "text/csv", "buffer": bad})
    page.click("#import-replace")
    problems = page.locator("#import-problems")
    expect(problems).to_contain_text("nothing was imported")
    expect(problems.locator('[data-line="3"]')).to_contain_text("Line 3")
    expect(problems.locator('[data-line="3"]')).to_contain_text("Expiry")
    expect(page.locator("#total")).to_have_text("0 of 1000")
    shot(page, "whitelist-import-error")
    good = (
        b"UID,GID,Expiry,Authorization\n"
        b"aec78085,,,accepted\n4b13b318,,2030-01-01T12:00:00,blocked\n"
    )
    page.set_input_files(
        "#import-file", {"name": "good.csv", "mimeType": "text/csv", "buffer": good}
    )
    page.click("#import-update")
    expect(page.locator("#message")).to_contain_text("Imported 2 cards")
    expect(page.locator("#total")).to_have_text("2 of 1000")
    expect(page.locator('tr[data-uid="4b13b318"]')).to_contain_text("blocked")
    shot(page, "whitelists")
    with page.expect_download() as download:
        page.click("#export")
    path = download.value.path()
    assert Path(path).read_text(encoding="utf-8") == (
        "UID,GID,Expiry,Authorization\n4b13b318,,2030-01-01T12:00:00,blocked\naec78085,,,accepted\n"
    )
    for name in ("ocpp-keys", "authorization", "installation", "network", "time"):
        page.goto(base(station) + f"/settings/{name}")
        expect(page.locator("#save")).to_be_visible()
        shot(page, f"settings-{name}")
