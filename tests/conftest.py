"""Fixtures: `csms` (a test central system) and `station_factory` (chargebox processes)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.csms import StationProcess, TestCSMS

StationFactory = Callable[..., Awaitable[StationProcess]]


@pytest.fixture
async def csms() -> AsyncIterator[TestCSMS]:
    server = TestCSMS()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def station_factory(
    tmp_path: Path, csms: TestCSMS, request: pytest.FixtureRequest
) -> AsyncIterator[StationFactory]:
    started: list[StationProcess] = []

    async def make(
        *,
        keys: dict[str, str] | None = None,
        connectors: int = 2,
        extra_toml: str = "",
        connect: bool = True,
        boot: bool = True,
        csms_url: str | None = "default",
    ) -> StationProcess:
        workdir = tmp_path / f"station{len(started)}"
        workdir.mkdir()
        station = StationProcess(
            workdir,
            csms.url if csms_url == "default" else csms_url,
            keys=keys or {},
            extra_toml=extra_toml,
            connectors=connectors,
        )
        station.start()
        started.append(station)
        await station.wait_ready()
        if connect and station.csms_url:
            await csms.wait_connected()
            if boot:
                await csms.wait_for("BootNotification")
                for cid in range(0, connectors + 1):
                    await csms.wait_for("StatusNotification", {"connectorId": cid})
        return station

    yield make
    for station in started:
        station.kill()
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            print(f"--- station log {station.workdir} ---\n{station.log()[-4000:]}")


@pytest.fixture
async def station(station_factory: StationFactory) -> StationProcess:
    """A booted two-connector station connected to `csms`."""
    return await station_factory()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Any:
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
