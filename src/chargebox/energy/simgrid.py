"""A simulated grid meter: the simulated chargers' own currents plus a house load.

Stands in for a real meter (placement "includes the charging sub-distribution") until
a Modbus meter is configured; tests use it to watch the grid phases.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from chargebox.core.clock import Clock
from chargebox.energy.manager import grid_currents
from chargebox.energy.model import ConnectorSite, GridReading, PhaseCurrents
from chargebox.hardware.sim import NOMINAL_VOLTAGE, SimStation


@dataclass
class SimGridMeter:
    sim: SimStation
    connectors: dict[int, ConnectorSite]
    clock: Clock
    house_load: Callable[[float], PhaseCurrents] | PhaseCurrents = field(
        default_factory=PhaseCurrents
    )
    silent: bool = False  # a failed meter: latest() answers None

    def charging(self) -> PhaseCurrents:
        total = PhaseCurrents()
        for cid, sc in self.sim.connectors.items():
            site = self.connectors.get(cid)
            if site is not None:
                total = total + grid_currents(site, sc._phase_currents())
        return total

    def latest(self) -> GridReading | None:
        if self.silent:
            return None
        now = self.clock.time()
        house = self.house_load(now) if callable(self.house_load) else self.house_load
        currents = house + self.charging()
        return GridReading(currents, sum(currents.as_tuple()) * NOMINAL_VOLTAGE, now)
