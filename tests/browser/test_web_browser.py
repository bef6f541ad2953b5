"""The web interface in a real browser: first start, login, lockout, a live charging session."""

from __future__ import annotations

import re
import time
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import shot
from tests.csms import StationProcess
from tests.webutil import setup_link

PASSWORD = "correct horse battery"


def base(station: StationProcess) -> str:
    return f"http://127.0.0.1:{station.http_port}"


def set_admin_password(page: Any, station: StationProcess) -> None:
    page.goto(setup_link(station.workdir / "station.log"))
    expect(page.locator("h1")).to_have_text("Set the administrator password")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=confirm]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base(station) + "/")


def log_in(page: Any, station: StationProcess, password: str = PASSWORD) -> None:
    page.goto(base(station) + "/login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_first_start_password_setup_and_login(page: Any, station: StationProcess) -> None:
    page.goto(base(station) + "/")
    page.wait_for_url("**/login?next=/")
    expect(page.locator("#setup-pending")).to_be_visible()  # no default password to try
    shot(page, "login-first-start")

    page.goto(setup_link(station.workdir / "station.log"))
    page.fill("input[name=password]", "short")
    page.fill("input[name=confirm]", "short")
    page.evaluate("document.querySelectorAll('input[minlength]').forEach(e => e.minLength = 0)")
    page.click("button[type=submit]")
    expect(page.locator("#error-password")).to_contain_text("At least 10 characters")
    shot(page, "setup-error")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=confirm]", PASSWORD)
    shot(page, "setup")
    page.click("button[type=submit]")
    page.wait_for_url(base(station) + "/")
    expect(page.locator("h1")).to_have_text("Dashboard")
    expect(page.locator("#live")).to_have_text("live")
    shot(page, "dashboard")

    page.click("#logout")
    page.wait_for_url("**/login")
    page.goto(setup_link(station.workdir / "station.log"))  # the link worked once
    expect(page.locator("#setup-invalid")).to_be_visible()

    log_in(page, station)
    page.wait_for_url(base(station) + "/")
    expect(page.locator('[data-connector="2"] [data-f="status"]')).to_have_text("Available")

    # German, by the language switch; placeholders and the audit log render.
    page.click("a[hreflang=de]")
    expect(page.locator("h1")).to_have_text("Übersicht")
    shot(page, "dashboard-de")
    page.click("a[hreflang=en]")
    page.goto(base(station) + "/settings/security")
    expect(page.locator("[data-coming]")).to_be_visible()
    shot(page, "coming-security")
    page.goto(base(station) + "/audit")
    expect(page.locator("#audit")).to_contain_text("user.create")
    shot(page, "audit")


def test_wrong_password_and_lockout(page: Any, station: StationProcess) -> None:
    set_admin_password(page, station)
    page.click("#logout")
    page.wait_for_url("**/login")

    log_in(page, station, "wrong password")
    expect(page.locator("#login-error")).to_have_text("Wrong user name or password.")
    shot(page, "login-wrong")
    log_in(page, station, "wrong again")
    log_in(page, station, "and again")
    expect(page.locator("#login-error")).to_contain_text("login is locked")
    log_in(page, station)  # the right password, but locked
    expect(page.locator("#login-error")).to_contain_text("login is locked")
    shot(page, "login-locked")
    time.sleep(3.2)
    log_in(page, station)
    page.wait_for_url(base(station) + "/")
    expect(page.locator("h1")).to_have_text("Dashboard")


def test_charging_session_from_the_simulator_shows_live(page: Any, station: StationProcess) -> None:
    set_admin_password(page, station)
    page.reload()
    expect(page.locator("#live")).to_have_text("live")
    weight = page.evaluate(
        """[...performance.getEntriesByType("navigation"),
            ...performance.getEntriesByType("resource")]
           .filter(e => !e.name.endsWith("/events"))
           .reduce((sum, e) => sum + e.decodedBodySize, 0)"""
    )
    assert 50_000 < weight < 150_000, weight  # dashboard HTML + CSS + JS budget
    page.evaluate("window.__noReload = true")

    sim = page.context.new_page()
    sim.goto(base(station) + "/sim")
    expect(sim.locator("h1")).to_have_text("Simulator")
    panel = sim.locator('[data-sim="1"]')
    panel.locator("select[name=phases]").select_option("1")
    panel.locator("input[name=max_current_a]").fill("13")
    panel.locator("input[name=soc_percent]").fill("55")

    status = page.locator('[data-connector="1"] [data-f="status"]')
    clicked = time.monotonic()
    panel.locator("button[data-action=plug]").click()
    expect(status).to_have_text("Charging", timeout=3000)
    latency = time.monotonic() - clicked
    assert latency < 1.5, latency
    expect(sim.locator("#flash")).to_have_text("Done.")
    card = page.locator('[data-connector="1"]')
    expect(card.locator('[data-f="soc"]')).to_have_text("55 %")
    expect(card.locator('[data-f="power_w"]')).to_have_text("2.99 kW")  # 13 A x 230 V
    expect(card.locator('[data-f="id_tag"]')).to_have_text("FreeCharging")
    expect(card.locator('[data-f="limiting_source"]')).to_have_text("connector rating")
    expect(card.locator('[data-f="duration"]')).not_to_have_text("0:00:00", timeout=3000)
    expect(page.locator("#chart polyline.s1")).to_have_attribute("points", re.compile(r"\d"))
    shot(sim, "simulator")

    # The car pauses, then a fault, then the car leaves: each visible without reload.
    panel.locator("button[data-action=pause]").click()
    expect(status).to_have_text("Paused by the car")
    panel.locator("button[data-action=resume]").click()
    expect(status).to_have_text("Charging")
    shot(page, "dashboard-charging")
    panel.locator("select[name=code]").select_option("ground_failure")
    panel.locator("button[data-action=raise]").click()
    expect(status).to_have_text("Faulted")
    expect(card.locator('[data-f="error_code"]')).to_have_text("GroundFailure")
    panel.locator("button[data-action=clear]").click()
    expect(status).not_to_have_text("Faulted")
    panel.locator("button[data-action=unplug]").click()
    expect(status).to_have_text("Available")
    panel.locator("button[data-action=unplug]").click()  # refused: shown, not hidden
    expect(sim.locator("#flash")).to_contain_text("409")

    # A card at the reader (standalone: free charging, so it is simply accepted).
    sim.locator("#token-form button").click()
    expect(sim.locator("#flash")).to_have_text("Done.")
    assert page.evaluate("window.__noReload") is True
