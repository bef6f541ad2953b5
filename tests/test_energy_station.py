"""A station process with a 32 A site and three simulated cars (one 1-phase) stays below 32 A.

The grid meter here is the simulated one (the chargers' own currents plus a constant house
load); the Modbus meter version lives with the meters.
"""

from __future__ import annotations

import asyncio

from tests.conftest import StationFactory

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


async def test_three_cars_never_exceed_32_a_per_phase(station_factory: StationFactory) -> None:
    station = await station_factory(connectors=3, extra_toml=SITE, csms_url=None)
    await station.plug(1, phases=3, max_current_a=32)
    await station.plug(2, phases=3, max_current_a=32)
    await station.plug(3, phases=1, max_current_a=32)
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
