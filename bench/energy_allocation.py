"""Energy management benchmark. Not a test. Run from the repository root:

    /tmp/venv/bin/python bench/energy_allocation.py          # table on stdout

(a) allocation: `allocate()` for 250 active connectors (mixed 1-/3-phase cars, all six
    phase rotations, 4 supply groups, equal share with the budget binding, so paused
    connectors and rotation are exercised), N = 2000 after 200 warm-up; also FCFS.
    Target p99 < 5 ms.
(b) reaction: an in-process station (simulated hardware, 3 connectors, 32 A site) run by
    the real asyncio loop (hardware tick 0.1 s, energy manager cycle 1 s) with a grid meter
    source whose house load jumps by 20 A per phase; time from the first reading over the
    limit to the moment the pilots' sum plus the house load is back within 32 A on every
    phase. 20 trials. Target < 2 s.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.test_core_rig

from tests.test_core_rig import Rig

from chargebox.energy.allocator import ConnectorDemand, allocate
from chargebox.energy.manager import EnergyManager
from chargebox.energy.model import (
    ROTATIONS,
    AllocationMode,
    ConnectorSite,
    GridReading,
    PhaseCurrents,
    Site,
    SupplyGroup,
)
from chargebox.hardware.sim import SimCar

P = PhaseCurrents


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def bench_allocation(mode: AllocationMode) -> dict[str, float]:
    rng = random.Random(5)
    rotations = sorted(ROTATIONS)
    conns = tuple(
        ConnectorSite(
            i,
            rotation=rotations[i % 6],
            group=f"g{i % 4}",
            priority=i % 3,
            operator_limit_a=rng.choice([None, 16.0]),
        )
        for i in range(1, 251)
    )
    site = Site(
        grid_limit_a=P.uniform(1000),
        connectors=conns,
        groups=tuple(SupplyGroup(f"g{k}", P.uniform(300)) for k in range(4)),
        mode=mode,
    )
    demands = [
        ConnectorDemand(
            c.id,
            True,
            P(10, 0, 0) if rng.random() < 0.3 else P.uniform(rng.uniform(0, 16)),
            offered_a=16,
            settled=rng.random() < 0.5,
            session_start=rng.uniform(0, 100),
        )
        for c in conns
    ]
    state = None
    times = []
    for n in range(2200):
        t0 = time.perf_counter()
        result = allocate(site, demands, P(100, 80, 90), float(n), state=state)
        dt = time.perf_counter() - t0
        state = result.state
        if n >= 200:
            times.append(dt * 1000)
    return {
        "p50": statistics.median(times),
        "p99": pct(times, 0.99),
        "max": max(times),
        "paused": sum(1 for a in result.connectors.values() if a.paused),
    }


class StepMeter:
    def __init__(self, rig: Rig, site: Site) -> None:
        self.rig, self.site, self.house = rig, site, P.uniform(4)

    def charging(self) -> P:
        return P.from_tuple(
            [sum(sc.offered_a if sc.car else 0.0 for sc in self.rig.sim.connectors.values())] * 3
        )

    def latest(self) -> GridReading | None:
        now = self.rig.clock.time()
        cars = P.from_tuple(
            [
                sum(sc._phase_currents()[p] for sc in self.rig.sim.connectors.values())
                for p in range(3)
            ]
        )
        return GridReading(self.house + cars, 0, now)


async def reaction_trial() -> float:
    rig = Rig(3)
    rig.clock = type("Sys", (), {"time": staticmethod(time.time)})()
    rig.station.clock = rig.clock
    site = Site(grid_limit_a=P.uniform(32), connectors=tuple(ConnectorSite(i) for i in (1, 2, 3)))
    meter = StepMeter(rig, site)
    manager = EnergyManager(rig.station, site, clock=rig.clock, meter=meter, bus=rig.bus)
    for cid in (1, 2, 3):
        rig.sim.connectors[cid].plug(SimCar(max_current_a=32, response_delay_s=0))

    async def hardware() -> None:
        while True:
            rig.sim.advance(time.time())
            rig.station.tick()
            await asyncio.sleep(0.1)

    tasks = [asyncio.ensure_future(hardware()), asyncio.ensure_future(manager.run())]
    await asyncio.sleep(3 + random.random())
    meter.house = P.uniform(24)  # the building load jumps: 24 + 3 x 9.3 > 32
    t0 = time.perf_counter()
    while True:
        pilots = sum(c.offered_a for c in rig.station.connectors.values())
        if meter.house.max() + pilots <= 32 + 1e-6:
            break
        await asyncio.sleep(0.005)
    dt = time.perf_counter() - t0
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return dt


def main() -> None:
    print("| allocation, 250 connectors | p50 ms | p99 ms | max ms | paused |")
    print("|---|---:|---:|---:|---:|")
    for mode in (AllocationMode.EQUAL, AllocationMode.FCFS):
        r = bench_allocation(mode)
        print(
            f"| {mode.value} | {r['p50']:.3f} | {r['p99']:.3f} | {r['max']:.3f} "
            f"| {int(r['paused'])} |"
        )
    trials = [asyncio.run(reaction_trial()) for _ in range(20)]
    print()
    print("| reaction, meter over the limit -> pilots reduced | p50 s | max s |")
    print("|---|---:|---:|")
    p50, worst = statistics.median(trials), max(trials)
    print(f"| 20 trials, cycle 1 s, tick 0.1 s | {p50:.3f} | {worst:.3f} |")


if __name__ == "__main__":
    main()
