"""The energy manager on a simulated station: meter timeout, fallback, fail-safe, claims."""

from __future__ import annotations

from typing import Any

from chargebox.core.limits import Claim, LimitSource
from chargebox.energy.manager import EnergyManager
from chargebox.energy.model import (
    ConnectorSite,
    ExternalLimit,
    GridReading,
    PhaseCurrents,
    Site,
)
from chargebox.energy.simgrid import SimGridMeter
from tests.test_core_rig import Rig

P = PhaseCurrents


class FakeMeter:
    def __init__(self) -> None:
        self.reading: GridReading | None = None

    def latest(self) -> GridReading | None:
        return self.reading


def setup(n: int = 3, grid: float = 32, meter: Any = None, **kw: Any) -> tuple[Rig, EnergyManager]:
    rig = Rig(n)
    wiring = kw.pop("wiring", {})
    site = Site(
        grid_limit_a=P.uniform(grid),
        connectors=tuple(ConnectorSite(i, **wiring.get(i, {})) for i in range(1, n + 1)),
        **kw,
    )
    manager = EnergyManager(rig.station, site, clock=rig.clock, meter=meter, bus=rig.bus)
    return rig, manager


def run(rig: Rig, manager: EnergyManager, seconds: int) -> None:
    for _ in range(seconds):
        rig.run(1)
        manager.cycle()


def offered(rig: Rig) -> list[float]:
    return [c.offered_a for c in rig.station.connectors.values()]


def test_three_cars_share_the_grid_and_one_phase_car_uses_one_phase() -> None:
    rig, manager = setup(3, grid=32, wiring={3: {"rotation": "STR"}})
    meter = SimGridMeter(
        rig.sim, {c.id: c for c in manager.site.connectors}, rig.clock, P.uniform(4)
    )
    manager.meter = meter
    for cid, phases in ((1, 3), (2, 3), (3, 1)):
        rig.plug(cid, phases=phases, max_current_a=32, response_delay_s=0)
        run(rig, manager, 3)
    run(rig, manager, 10)
    grid = meter.latest()
    assert grid is not None and grid.currents_a.max() <= 32
    alloc = manager.last
    assert alloc is not None and alloc.connectors[3].grid_phases == (1,)
    # L1 and L3: house 4 A + two 3-phase cars at 14 A; L2 adds the 1-phase car.
    assert offered(rig) == [9.3, 9.3, 9.3]
    assert rig.station.connectors[1].limit.source is LimitSource.ENERGY_MANAGER
    snap = manager.snapshot
    assert snap["phases"][1]["binding"] == "grid_L2" and snap["meter"]["state"] == "ok"
    assert snap["connectors"][2]["grid_phases"] == ["L2"]


def test_silent_meter_applies_the_fallback_load() -> None:
    meter = FakeMeter()
    rig, manager = setup(2, grid=30, meter=meter, fallback_load_a=P.uniform(10), meter_timeout_s=10)
    meter.reading = GridReading(P(), 0, rig.clock.time())
    rig.plug(1)
    rig.plug(2)
    run(rig, manager, 3)
    assert offered(rig) == [15, 15]
    meter.reading = GridReading(P(), 0, rig.clock.time())
    run(rig, manager, 11)  # the last reading is now older than the timeout
    assert manager.snapshot["meter"]["fallback"] is True
    assert offered(rig) == [10, 10]  # 30 - 10 fallback, shared
    meter.reading = GridReading(P(), 0, rig.clock.time())
    run(rig, manager, 1)
    assert offered(rig) == [15, 15]


def test_fallback_9999_stops_everything() -> None:
    meter = FakeMeter()
    rig, manager = setup(2, grid=63, meter=meter)  # default fallback 9999
    rig.plug(1)
    run(rig, manager, 2)
    assert offered(rig) == [0, 0]
    assert manager.snapshot["connectors"][0]["binding"] == "meter_fallback"


def test_any_exception_falls_back_to_the_safe_current_not_the_maximum() -> None:
    rig, manager = setup(2, grid=63)
    rig.plug(1)
    rig.plug(2)
    run(rig, manager, 2)
    assert offered(rig) == [31.5, 31.5]

    def boom() -> None:
        raise RuntimeError("injected")

    manager.fault_hook = boom
    assert manager.cycle() is None
    assert not manager.healthy and "injected" in (manager.error or "")
    assert offered(rig) == [6, 6]
    c = rig.station.connectors[1]
    assert LimitSource.ENERGY_MANAGER not in c.claims
    assert c.limit.source is LimitSource.SAFE
    manager.fault_hook = None
    run(rig, manager, 1)
    assert manager.healthy and offered(rig) == [31.5, 31.5]
    assert LimitSource.SAFE not in c.claims


def test_exception_inside_the_allocation_is_caught() -> None:
    rig, manager = setup(2, grid=63)
    rig.plug(1)
    manager.meter = None
    manager.site = None  # type: ignore[assignment]  # a bug anywhere in the cycle
    assert manager.cycle() is None
    assert offered(rig)[0] == 6


def test_external_limit_applies_at_once_and_station_claims_are_allocated() -> None:
    rig, manager = setup(2, grid=63)
    rig.plug(1)
    rig.plug(2, phases=1)
    run(rig, manager, 3)
    manager.post_limit(ExternalLimit("load_shedding", None, 0.0))
    assert offered(rig) == [0, 0]  # no waiting for the next cycle
    manager.clear_limit("load_shedding")
    assert offered(rig) == [31.5, 31.5]
    # A connector-0 claim (e.g. ChargePointMaxProfile) is a budget for all: the 1-phase
    # car on L1 and the 3-phase car share L1's 20 A; the station does not halve it again.
    rig.station.set_claim(0, Claim.uniform(LimitSource.SMART_CHARGING, 20))
    run(rig, manager, 1)
    assert offered(rig) == [10, 10]


def test_decreases_before_increases_in_one_step() -> None:
    rig, manager = setup(2, grid=32)
    rig.plug(1, max_current_a=32)
    run(rig, manager, 2)
    assert offered(rig) == [32, 0]
    seen: list[tuple[float, float]] = []
    for sc in rig.sim.connectors.values():
        original = sc.set_pilot_current

        def spy(amps: float, _orig: Any = original) -> None:
            _orig(amps)
            seen.append(tuple(c.offered_a for c in rig.sim.connectors.values()))  # type: ignore[arg-type]

        sc.set_pilot_current = spy  # type: ignore[method-assign]
    rig.plug(2, max_current_a=32)
    run(rig, manager, 2)
    assert offered(rig) == [16, 16]
    assert all(a + b <= 32 for a, b in seen)


def test_a_finished_car_gives_its_minimum_back_and_is_asked_again() -> None:
    """SoC 100 %, state B, session still open: after the settle (give-back) time its 6 A go
    to the others; every rotation period it is offered the minimum again."""
    rig, manager = setup(2, grid=20, rotation_period_s=60)
    rig.plug(1, max_current_a=32, response_delay_s=0)
    full = rig.plug(2, max_current_a=32, response_delay_s=0, soc_percent=99.99, capacity_kwh=1)
    run(rig, manager, 3)
    assert full.soc_percent >= 100 and rig.station.connectors[2].transaction is not None
    assert offered(rig) == [10, 10]  # still reserved until it has shown it takes nothing
    run(rig, manager, 6)
    assert offered(rig) == [20, 0]  # released: the charging car gets the whole 20 A
    conns = {c["id"]: c for c in manager.snapshot["connectors"]}
    assert conns[2]["binding"] == "ev_suspended" and conns[2]["paused"]
    assert rig.station.connectors[2].transaction is not None  # the session goes on
    run(rig, manager, 60)
    assert offered(rig) == [10, 10]  # its turn to be asked again (rotation period)
    run(rig, manager, 6)
    assert offered(rig) == [20, 0]


def test_a_stuck_meter_reading_is_paired_with_the_charging_of_its_time() -> None:
    """The last good reading is 8 s old and a car started since: subtracting today's
    charging from it would make room that is not there (and more every cycle)."""
    meter = FakeMeter()
    rig, manager = setup(2, grid=32, meter=meter, meter_timeout_s=10)
    rig.plug(1, max_current_a=32, response_delay_s=0)
    house = P.uniform(10)
    for _ in range(3):
        rig.run(1)
        manager.cycle()
        charging = P.from_tuple(rig.sim.connectors[1]._phase_currents())
        meter.reading = GridReading(house + charging, 0, rig.clock.time())
    assert offered(rig) == [22, 0]
    rig.plug(2, max_current_a=32, response_delay_s=0)  # the meter is stuck from here
    for _ in range(8):
        rig.run(1)
        manager.cycle()
        drawn = sum(sc._phase_currents()[0] for sc in rig.sim.connectors.values())
        assert 10 + drawn <= 32  # L1 through the fuse, every second
    assert offered(rig) == [11, 11]
