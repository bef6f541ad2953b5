"""Load shedding input: debounce, polarity, limit and offset modes, reaction time; and the
grid meter's failure reported through the station."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from chargebox.app import RunOptions, Runtime
from chargebox.core.limits import Claim, LimitSource
from chargebox.energy.model import ExternalLimit
from chargebox.energy.shedding import Debouncer, LoadShedding, SheddingSettings, shed_budget
from tests.csms import free_port


class FakeStation:
    def __init__(self) -> None:
        self.claims: dict[LimitSource, Claim] = {}
        self.ticks = 0

    def set_claim(self, connector_id: int, claim: Claim) -> None:
        assert connector_id == 0
        self.claims[claim.source] = claim

    def clear_claim(self, connector_id: int, source: LimitSource) -> None:
        self.claims.pop(source, None)

    def tick(self) -> None:
        self.ticks += 1


class FakeManager:
    def __init__(self) -> None:
        self.limits: dict[str, ExternalLimit] = {}

    def post_limit(self, limit: ExternalLimit) -> None:
        self.limits[limit.source] = limit

    def clear_limit(self, source: str) -> None:
        self.limits.pop(source, None)


def test_debounce_accepts_a_level_only_after_it_is_stable() -> None:
    d = Debouncer(0.2)
    assert not d.observe(True, 0.0)
    assert not d.observe(False, 0.1)  # a glitch
    assert not d.observe(True, 0.15)
    assert d.pending_s(0.2) == pytest.approx(0.15)
    assert not d.observe(True, 0.3)
    assert d.observe(True, 0.4) and d.level


def test_budgets() -> None:
    assert shed_budget(SheddingSettings(mode="limit", limit_a=10)) == (10, 10, 10)
    assert shed_budget(SheddingSettings(mode="limit", limit_a=4)) == (0, 0, 0)  # below minimum
    offset = SheddingSettings(mode="offset", offset_a=(-10, -16, -40), budget_a=(16, 16, 16))
    assert shed_budget(offset) == (6, 0, 0)


def test_low_active_input_and_claim_without_a_manager() -> None:
    inputs = {"load_shedding": True}  # a normally-closed contact: True = idle
    now = [0.0]
    station = FakeStation()
    shed = LoadShedding(
        SheddingSettings(polarity="low_active", debounce_s=0.1, limit_a=10),
        read_input=lambda: inputs,
        clock=lambda: now[0],
        station=station,
    )
    shed.check()
    assert not shed.active and not station.claims
    inputs["load_shedding"] = False  # contact opens: shedding
    shed.input_changed("load_shedding", False)
    assert not shed.active  # debouncing
    now[0] = 0.1
    shed.check()
    assert shed.active
    assert station.claims[LimitSource.LOAD_SHEDDING].amps == (10, 10, 10)
    assert station.ticks == 1  # applied at once, not at the next cycle
    inputs["load_shedding"] = True
    shed.input_changed()
    now[0] = 0.25
    shed.check()
    assert not shed.active and LimitSource.LOAD_SHEDDING not in station.claims


def test_posts_an_external_limit_to_the_energy_manager() -> None:
    inputs = {"ripple": False}
    manager = FakeManager()
    station = FakeStation()
    shed = LoadShedding(
        SheddingSettings(input="ripple", debounce_s=0, mode="offset", offset_a=(-10, -10, -10)),
        read_input=lambda: inputs,
        clock=time.monotonic,
        station=station,
        manager=manager,
    )
    inputs["ripple"] = True
    shed.input_changed("other", True)  # not our input
    assert not shed.active
    shed.input_changed("ripple", True)
    limit = manager.limits["load_shedding"]
    # Offset mode hands the offset itself to the manager, which lowers the measured budget.
    assert limit.per_phase_a is None
    assert limit.offset_a is not None and limit.offset_a.as_tuple() == (-10, -10, -10)
    assert not station.claims  # the manager allocates it
    assert shed.status()["offset_a"] == [-10, -10, -10]


def test_offset_mode_lowers_the_measured_budget_of_the_energy_manager() -> None:
    """16 A left on the grid after the house load: an offset of -10 leaves 6 A (the
    manual's example), whatever the static grid limit is; the binding says why."""
    from chargebox.energy.manager import EnergyManager
    from chargebox.energy.model import (
        ConnectorSite,
        GridReading,
        MeterPlacement,
        PhaseCurrents,
        Site,
    )
    from tests.test_core_rig import Rig

    rig = Rig(2)
    site = Site(
        PhaseCurrents.uniform(32),
        (ConnectorSite(1), ConnectorSite(2)),
        meter_placement=MeterPlacement.EXCLUDES_CHARGING,  # the meter sees the house only
    )

    class Meter:
        def latest(self) -> GridReading:
            house = PhaseCurrents(16, 16, 16)
            return GridReading(house, 0.0, rig.clock.time())

    manager = EnergyManager(rig.station, site, clock=rig.clock, meter=Meter())
    inputs = {"load_shedding": False}
    shed = LoadShedding(
        SheddingSettings(debounce_s=0, mode="offset", offset_a=(-10, -10, -10)),
        read_input=lambda: inputs,
        clock=rig.clock.time,
        station=rig.station,
        manager=manager,
    )
    rig.plug(1, response_delay_s=0)
    for _ in range(3):
        rig.run(1)
        manager.cycle()
    assert rig.station.connectors[1].offered_a == 16  # 32 - 16 house load
    inputs["load_shedding"] = True
    shed.input_changed("load_shedding", True)
    assert rig.station.connectors[1].offered_a == 6  # at once: 16 - 10
    phases = manager.snapshot["phases"]
    assert [p["budget_a"] for p in phases] == [6, 6, 6]
    assert phases[0]["binding"] == "load_shedding_L1"
    assert manager.snapshot["limits"][0]["offset_a"] == [-10, -10, -10]
    inputs["load_shedding"] = False
    shed.input_changed("load_shedding", False)
    rig.run(1)
    manager.cycle()
    assert rig.station.connectors[1].offered_a == 16


# ---------------------------------------------------------------- the running station


def runtime(tmp_path: Path, toml: str) -> Runtime:
    config = tmp_path / "station.toml"
    config.write_text(toml)
    return Runtime(RunOptions(config=config, data_dir=tmp_path / "data"))


async def api(rt: Runtime) -> httpx.AsyncClient:
    from chargebox.web.api import create_app

    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(rt)),
        base_url="http://test",
        headers={"Authorization": f"Bearer {rt.api_token}"},
    )


async def test_shedding_input_stops_charging_within_a_second(tmp_path: Path) -> None:
    rt = runtime(
        tmp_path,
        "[load_shedding]\nenabled = true\ndebounce_s = 0.2\nlimit_a = 0\n"
        "[hardware.sim_car]\nresponse_delay_s = 0\n",
    )
    tasks: list[asyncio.Future[Any]] = []
    try:
        rt.station.boot()
        tasks = [asyncio.ensure_future(c) for c in rt.energy_inputs.coroutines()]
        async with await api(rt) as client:
            r = await client.post("/api/v1/sim/connectors/1/plug")
            assert r.status_code == 200
            offered = rt.station.connectors[1].offered_a
            assert offered > 0
            started = time.monotonic()
            r = await client.post("/api/v1/sim/inputs/load_shedding", json={"value": True})
            assert r.status_code == 200
            while rt.station.connectors[1].offered_a > 0:
                assert time.monotonic() - started < 1.0
                await asyncio.sleep(0.02)
            assert rt.station.connectors[1].limit.source is LimitSource.LOAD_SHEDDING
            assert rt.station.connectors[1].transaction is not None  # paused, not stopped
            r = await client.get("/api/v1/energy/inputs")
            assert r.json()["load_shedding"]["active"] is True
            await client.post("/api/v1/sim/inputs/load_shedding", json={"value": False})
            await asyncio.sleep(0.35)
            assert rt.station.connectors[1].offered_a == offered
            r = await client.post("/api/v1/sim/inputs/load_shedding", json={"value": "x"})
            assert r.status_code == 422
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        rt.db.close()


async def test_silent_grid_meter_is_a_station_warning_and_charging_goes_on(
    tmp_path: Path,
) -> None:
    port = free_port()
    rt = runtime(
        tmp_path,
        f'[[meters]]\nmap = "siemens_pac2200"\nport = {port}\ntimeout_s = 0.2\n'
        "[hardware.sim_car]\nresponse_delay_s = 0\n",
    )
    try:
        rt.station.boot()
        rt.sim.connectors[1].plug(rt.new_car())
        rt.step()
        meter = rt.energy_inputs.meters[0]
        for _ in range(meter.fail_after):
            await meter.poll()
        assert rt.energy_inputs.faults == {"external_meter_failure"}
        rt.step()
        status, error = rt.station.status_of(0)
        assert error is not None and error.ocpp_error_code == "PowerMeterFailure"
        assert rt.station.connectors[1].transaction is not None
        assert rt.station.connectors[1].offered_a > 0
        # The simulated meter comes up: the warning clears.
        from chargebox.energy.meters.registermap import load_map
        from chargebox.energy.meters.sim_server import ConstantProfile, SimMeterServer

        async with SimMeterServer(load_map("siemens_pac2200"), ConstantProfile(3, 3, 3), port=port):
            assert await meter.poll() is not None
        rt.step()
        assert rt.station.status_of(0)[1] is None
    finally:
        await rt.energy_inputs.meters[0].close()
        rt.db.close()


async def test_simulated_meter_sees_the_station_charging(tmp_path: Path) -> None:
    port = free_port()
    rt = runtime(
        tmp_path,
        f'[[meters]]\nmap = "janitza_umg96pro"\nport = {port}\nsimulate = true\n'
        'profile = "constant:2,3,4"\n[hardware.sim_car]\nresponse_delay_s = 0\nphases = 1\n',
    )
    server = rt.energy_inputs.sim_servers[0]
    meter = rt.energy_inputs.meters[0]
    try:
        rt.station.boot()
        await server.start()
        rt.sim.connectors[1].plug(rt.new_car())
        for _ in range(3):  # plugged, pilot C seen and contactor closed, the car draws
            rt.step()
        reading = await meter.poll()
        assert reading is not None
        assert reading.currents_a.as_tuple() == pytest.approx((18.0, 3.0, 4.0), abs=0.01)
    finally:
        await meter.close()
        await server.stop()
        rt.db.close()
