"""System, firmware, logs, history and users pages in a real browser; the energy panel."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import shot, wait_ready
from tests.browser.test_web_browser import base, set_admin_password
from tests.csms import StationProcess


def test_history_csv_export_downloads(page: Any, station: StationProcess, tmp_path: Path) -> None:
    for cid in (1, 2):  # two sessions: plug, charge a moment, unplug
        httpx.post(f"{station.base}/sim/connectors/{cid}/plug", headers=station.headers, json={})
    time.sleep(1.0)
    for cid in (1, 2):
        httpx.post(f"{station.base}/sim/connectors/{cid}/unplug", headers=station.headers)
    set_admin_password(page, station)
    page.goto(base(station) + "/history")
    expect(page.locator("#history tbody tr")).to_have_count(2)
    shot(page, "history")
    with page.expect_download() as info:
        page.click("#csv")
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    target = tmp_path / "history.csv"
    download.save_as(str(target))
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert rows[0][:4] == ["local_id", "transaction_id", "connector_id", "id_tag"]
    assert len(rows) == 3 and {r[2] for r in rows[1:]} == {"1", "2"}
    # Filter by connector: the table and the export follow.
    page.select_option("select[name=connector]", "2")
    page.click("#apply")
    expect(page.locator("#history tbody tr")).to_have_count(1)
    with page.expect_download() as info:
        page.click("#csv")
    info.value.save_as(str(target))
    assert len(target.read_text(encoding="utf-8").strip().splitlines()) == 2


def test_firmware_upload_shows_progress_and_installs(
    page: Any, station: StationProcess, tmp_path: Path
) -> None:
    set_admin_password(page, station)
    page.goto(base(station) + "/firmware")
    shot(page, "firmware")
    image = tmp_path / "chargebox-fw-9.9.bin"
    image.write_bytes(b"\x7fFW" + bytes(range(256)) * 24_000)  # about 6 MB
    page.set_input_files("#fw-file", str(image))
    page.click("#fw-upload")
    expect(page.locator("#fw-progress")).to_have_attribute("data-percent", "100")
    expect(page.locator("#fw-result")).to_have_attribute("data-outcome", "installed")
    expect(page.locator("#fw-result")).to_contain_text("chargebox-fw-9.9")
    shot(page, "firmware-uploaded")
    # The station restarts into it (the same process, in place) and lists the update.
    time.sleep(1.0)
    wait_ready(station, 20)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            page.goto(base(station) + "/firmware")
            break
        except Exception:
            time.sleep(0.2)
    expect(page.locator("#fw-version")).to_have_text("chargebox-fw-9.9")
    expect(page.locator("#fw-history")).to_contain_text("Installed")


def test_system_logs_users_pages(page: Any, station: StationProcess) -> None:
    set_admin_password(page, station)
    page.goto(base(station) + "/system")
    expect(page.locator("#versions")).to_contain_text("chargebox")
    page.fill("input[name=confirm]", "RESE")
    page.evaluate(
        "document.querySelectorAll('input[pattern]').forEach(e => e.removeAttribute('pattern'))"
    )
    page.click("#factory-reset")
    expect(page.locator("#error-confirm")).to_be_visible()
    shot(page, "system")
    page.goto(base(station) + "/logs")
    expect(page.locator("#syslog")).to_be_visible()
    shot(page, "logs")
    page.goto(base(station) + "/users")
    page.fill("#create-user input[name=username]", "olga")
    page.fill("#create-user input[name=password]", "operator password")
    page.fill("#create-user input[name=confirm]", "operator password")
    page.click("#create")
    expect(page.locator("#message")).to_contain_text("olga")
    expect(page.locator('tr[data-user="olga"]')).to_be_visible()
    shot(page, "users")


@pytest.fixture
def energy_station(tmp_path: Path) -> Iterator[StationProcess]:
    proc = StationProcess(
        tmp_path,
        None,
        extra_toml=(
            "[site]\ngrid_limit_a = 32\nsafety_margin_a = [2, 2, 2]\n"
            '[energy]\nmeter = "sim"\nsim_house_load_a = [10, 4, 6]\n'
        ),
    )
    proc.start()
    try:
        wait_ready(proc)
        yield proc
    finally:
        proc.kill()


def test_energy_panel_on_the_dashboard(page: Any, energy_station: StationProcess) -> None:
    station = energy_station
    set_admin_password(page, station)
    httpx.post(f"{station.base}/sim/connectors/1/plug", headers=station.headers, json={})
    expect(page.locator("#energy")).to_be_visible()
    expect(page.locator("#energy-phases")).to_contain_text("L3")
    expect(page.locator('#energy-phases tr[data-row="grid_limit_a"]')).to_contain_text("32.0")
    expect(page.locator('#energy-connectors tr[data-econnector="1"]')).to_be_visible()
    expect(page.locator("#grid-chart polyline")).to_have_count(6)
    time.sleep(2.0)  # a few points on the chart
    shot(page, "dashboard-energy")
