"""A station process with a 32 A site and three simulated cars (one 1-phase) stays below 32 A.

The grid meter here is the simulated one (the chargers' own currents plus a constant house
load); the Modbus meter version lives with the meters.
"""

from __future__ import annotations

import asyncio

from tests.conftest import StationFactory
from tests.csms import StationProcess

SITE = """
[installation]
min_current_a = 6
[site]
grid_limit_a = 32
connectors = [{id = 3, rotation = "STR"}]
fallback_load_a = 9999
[energy]
meter = "sim"
sim_house_load_a = [6, 2, 4]
cycle_s = 0.2
safe_current_a = 6
"""


async def plug_three_cars(station: StationProcess) -> None:
    """Three-phase cars on connectors 1 and 2, a one-phase car on 3; each takes up to 32 A."""
    await station.plug(1, phases=3, max_current_a=32)
    await station.plug(2, phases=3, max_current_a=32)
    await station.plug(3, phases=1, max_current_a=32)


async def test_three_cars_never_exceed_32_a_per_phase(station_factory: StationFactory) -> None:
    station = await station_factory(connectors=3, extra_toml=SITE, csms_url=None)
    await plug_three_cars(station)
    worst = [0.0, 0.0, 0.0]
    status: dict = {}
    for _ in range(40):
        await asyncio.sleep(0.1)
        status = await station.status()
        energy = status["energy"]
        for p, phase in enumerate(energy["phases"]):
            assert phase["measured_a"] is None or phase["measured_a"] <= 32 + 1e-6
            worst[p] = max(worst[p], phase["measured_a"] or 0.0)
            assert phase["allocated_a"] <= phase["budget_a"] + 1e-6
    energy = status["energy"]
    assert energy["healthy"] and energy["meter"]["state"] == "ok"
    conns = {c["id"]: c for c in energy["connectors"]}
    assert conns[3]["grid_phases"] == ["L2"]  # the 1-phase car on STR loads grid L2 only
    assert all(c["allocated_a"] >= 6 for c in conns.values())
    limits = {c["id"]: c["limiting_source"] for c in status["connectors"]}
    assert set(limits.values()) == {"energy_manager"}
    assert max(worst) > 20  # the cars really charge


async def test_modbus_meter_over_loopback_keeps_three_cars_within_32_a(
    station_factory: StationFactory,
) -> None:
    """The real-time variant of tests/test_energy_hour.py: a station process whose grid
    meter is the simulated Siemens PAC2200 on 127.0.0.1 (pymodbus server and client, the
    house load plus the chargers' own currents), polled every 0.2 s, for a few seconds."""
    from tests.csms import free_port

    port = free_port()
    toml = f"""
[installation]
min_current_a = 6
[site]
grid_limit_a = 32
safety_margin_a = 1
connectors = [{{id = 3, rotation = "STR"}}]
[energy]
cycle_s = 0.5
[[meters]]
map = "siemens_pac2200"
port = {port}
poll_s = 0.2
timeout_s = 0.5
simulate = true
profile = "constant:7,9,5"
"""
    station = await station_factory(connectors=3, extra_toml=toml, csms_url=None)
    await plug_three_cars(station)
    worst = [0.0, 0.0, 0.0]
    status: dict = {}
    for _ in range(30):
        await asyncio.sleep(0.1)
        status = await station.status()
        for p, phase in enumerate(status["energy"]["phases"]):
            measured = phase["measured_a"] or 0.0  # the Modbus reading: house + chargers
            assert measured <= 32 + 1e-6, status["energy"]
            worst[p] = max(worst[p], measured)
    energy = status["energy"]
    assert energy["healthy"] and energy["meter"]["state"] == "ok", energy
    assert energy["meter"]["placement"] == "includes_charging"
    conns = {c["id"]: c for c in energy["connectors"]}
    assert conns[3]["grid_phases"] == ["L2"]
    assert all(c["binding"] not in ("", "none", "inactive") for c in conns.values())
    assert {c["limiting_source"] for c in status["connectors"]} == {"energy_manager"}
    assert energy["phases"][1]["binding"] == "grid_L2"
    assert worst[1] > 25  # the chargers really use the room on L2
    inputs = await station.api("GET", "/energy/inputs")
    assert inputs["meters"][0]["ok"] and inputs["meters"][0]["map"] == "siemens_pac2200"
