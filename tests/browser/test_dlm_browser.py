"""The DLM page in a real browser: a master and a slave process, live refresh, clear table."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import shot, wait_ready
from tests.browser.test_web_browser import base, set_admin_password
from tests.csms import StationProcess, free_ports
from tests.test_dlm import slave_toml


def master_toml(port: int) -> str:
    return f"""
[dlm]
role = "master"
network_id = 7
group_limit_a = 32
timeout_s = 2
poll_s = 0.3
disconnected_limit_a = 6
slaves = [{{host = "127.0.0.1", port = {port}, connectors = 2}}]
"""


@pytest.fixture
def group(tmp_path: Path) -> Iterator[tuple[StationProcess, StationProcess]]:
    port = free_ports(2)
    (tmp_path / "slave").mkdir()
    (tmp_path / "master").mkdir()
    slave = StationProcess(tmp_path / "slave", None, extra_toml=slave_toml(port))
    master = StationProcess(tmp_path / "master", None, extra_toml=master_toml(port))
    try:
        slave.start()
        wait_ready(slave)
        master.start()
        wait_ready(master)
        yield master, slave
    finally:
        master.kill()
        slave.kill()


def test_dlm_page_refreshes_and_clears_the_table(
    page: Any, group: tuple[StationProcess, StationProcess]
) -> None:
    master, slave = group
    set_admin_password(page, master)
    page.goto(base(master) + "/dlm")
    expect(page.locator("nav.side a[href='/dlm']")).to_have_attribute("aria-current", "page")
    slaves = page.locator("#dlm-slaves tbody")
    expect(slaves).to_have_attribute("data-state", "online", timeout=10_000)
    expect(page.locator("#dlm-known tbody tr")).to_have_count(1)
    cycles = page.locator("[data-v=cycles]").inner_text()
    expect(page.locator("[data-v=cycles]")).not_to_have_text(cycles)  # the 2 s refresh
    shot(page, "dlm-master")
    # The slave dies: missing, then gone (timeout_s = 2), without reloading the page.
    slave.kill()
    expect(slaves).to_have_attribute("data-state", "gone", timeout=10_000)
    expect(page.locator("#dlm-slaves [data-v=error]")).not_to_be_empty()
    # Dismissing the confirmation changes nothing.
    page.once("dialog", lambda d: d.dismiss())
    page.click("#clear-table")
    page.wait_for_timeout(500)
    expect(page.locator("#message")).to_have_count(0)
    expect(page.locator("#dlm-known tbody tr")).to_have_count(1)
    # Accepting it clears the table and says how many were removed.
    messages: list[str] = []

    def accept(dialog: Any) -> None:
        messages.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.click("#clear-table")
    expect(page.locator("#message")).to_have_text("1 slave removed from the table.")
    assert messages and "not online" in messages[0]
    assert page.url == base(master) + "/dlm"
    expect(page.locator("#dlm-known-empty")).to_be_visible()
    shot(page, "dlm-master-cleared")
    # The live part keeps refreshing after the swap.
    cycles = page.locator("[data-v=cycles]").inner_text()
    expect(page.locator("[data-v=cycles]")).not_to_have_text(cycles)
