"""The site model of energy management, and the interfaces its inputs speak.

Pure data: no asyncio, no I/O. A *grid phase* is L1/L2/L3 of the building's
connection; a connector's own phases are mapped onto grid phases by its phase
rotation (the way it is wired: "RST" = connector L1 on grid L1, "STR" = connector
L1 on grid L2, ...). Every current here is in amps per phase.

Export is never room: grid currents are signed (import positive, PV export negative),
but a negative external load counts as 0 A. The fuse protects the conductor, and the
PV power that makes the export can vanish with a cloud faster than the loop reacts, so
the charging budget on a phase is at most ``grid_limit_a - safety_margin_a`` whatever
the building exports. Using the surplus is the PV module's job (``energy/pv.py``), and
it does so within that budget.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

STOP_EVERYTHING_A = 9999.0  # fallback external load meaning "stop all charging"


@dataclass(frozen=True, slots=True)
class PhaseCurrents:
    """Amps on L1, L2, L3 (grid or connector phases, as the context says)."""

    l1: float = 0.0
    l2: float = 0.0
    l3: float = 0.0

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.l1, self.l2, self.l3)

    def max(self) -> float:
        return max(self.l1, self.l2, self.l3)

    def min(self) -> float:
        return min(self.l1, self.l2, self.l3)

    def __getitem__(self, phase: int) -> float:
        return self.as_tuple()[phase]

    @classmethod
    def from_tuple(cls, values: Iterable[float]) -> PhaseCurrents:
        a, b, c = tuple(values)
        return cls(float(a), float(b), float(c))

    @classmethod
    def uniform(cls, amps: float) -> PhaseCurrents:
        return cls(amps, amps, amps)

    def __add__(self, other: PhaseCurrents) -> PhaseCurrents:
        return PhaseCurrents(self.l1 + other.l1, self.l2 + other.l2, self.l3 + other.l3)

    def __sub__(self, other: PhaseCurrents) -> PhaseCurrents:
        return PhaseCurrents(self.l1 - other.l1, self.l2 - other.l2, self.l3 - other.l3)


@dataclass(frozen=True, slots=True)
class GridReading:
    """One reading of the grid meter: signed currents (import positive, export negative)."""

    currents_a: PhaseCurrents
    power_w: float
    timestamp: float  # seconds since the epoch, when the meter was read


class GridMeterSource(Protocol):
    """Anything that knows the latest grid reading (Modbus meter, simulation, test fake)."""

    def latest(self) -> GridReading | None:
        """The newest reading, or None when the meter is silent or failed.

        The manager applies the meter timeout by the reading's timestamp, so a source
        may keep returning its last good reading.
        """


@dataclass(frozen=True, slots=True)
class ExternalLimit:
    """A limit posted to the manager by load shedding, PV surplus or another input.

    `per_phase_a` caps the charging budget on each grid phase (amps available for all
    connectors together); `station_limit_a` caps every connector's current; `offset_a`
    shifts the budget of each grid phase, as measured and limited by everything else, by
    a signed per-phase offset (load shedding's offset mode: -10 turns a 16 A budget into
    6 A). Only reductions count: a positive offset never adds room. None = no cap.
    """

    source: str  # e.g. "load_shedding", "pv"
    per_phase_a: PhaseCurrents | None = None
    station_limit_a: float | None = None
    offset_a: PhaseCurrents | None = None


class AllocationMode(StrEnum):
    EQUAL = "equal"  # fair share (the manuals' default)
    FCFS = "fcfs"  # first come, first served
    PRIORITY = "priority"  # higher connector priority first, then FCFS


class MeterPlacement(StrEnum):
    INCLUDES_CHARGING = "includes_charging"  # the grid meter also measures the chargers
    EXCLUDES_CHARGING = "excludes_charging"  # it measures the rest of the building only


# Phase rotation: for each connector phase (L1, L2, L3), the grid phase index it is wired to.
ROTATIONS: dict[str, tuple[int, int, int]] = {
    "RST": (0, 1, 2),
    "RTS": (0, 2, 1),
    "SRT": (1, 0, 2),
    "STR": (1, 2, 0),
    "TRS": (2, 0, 1),
    "TSR": (2, 1, 0),
}


@dataclass(frozen=True, slots=True)
class ConnectorSite:
    """How one connector hangs on the site."""

    id: int
    hardware_limit_a: float = 32.0
    installation_limit_a: float | None = None
    operator_limit_a: float | None = None
    phases: int = 3  # phases connected: 1 or 3
    rotation: str = "RST"
    group: str | None = None  # supply line shared with other connectors
    priority: int = 0  # higher first in priority mode

    @property
    def max_a(self) -> float:
        """The tightest static limit of the connector."""
        values = [self.hardware_limit_a]
        values += [v for v in (self.installation_limit_a, self.operator_limit_a) if v is not None]
        return min(values)

    def grid_phases(self, connector_phases: Iterable[int] | None = None) -> tuple[int, ...]:
        """Grid phase indices used by the given connector phases (default: all connected)."""
        used = range(self.phases) if connector_phases is None else connector_phases
        mapping = ROTATIONS[self.rotation]
        return tuple(sorted({mapping[p] for p in used if p < self.phases}))


@dataclass(frozen=True, slots=True)
class SupplyGroup:
    """A supply line (or sub-distribution branch) shared by several connectors."""

    name: str
    limit_a: PhaseCurrents


@dataclass(frozen=True, slots=True)
class Site:
    """Everything the allocator needs to know about the installation."""

    grid_limit_a: PhaseCurrents
    connectors: tuple[ConnectorSite, ...]
    subdistribution_limit_a: PhaseCurrents | None = None
    operator_subdistribution_limit_a: PhaseCurrents | None = None
    groups: tuple[SupplyGroup, ...] = ()
    voltage_v: float = 230.0
    min_current_a: float = 6.0
    it_network: bool = False
    meter_placement: MeterPlacement = MeterPlacement.INCLUDES_CHARGING
    safety_margin_a: PhaseCurrents = field(default_factory=PhaseCurrents)
    fallback_load_a: PhaseCurrents = field(
        default_factory=lambda: PhaseCurrents.uniform(STOP_EVERYTHING_A)
    )
    meter_timeout_s: float = 10.0
    # How far back a grid reading's values may lie before its timestamp (the meter's own
    # averaging and update interval): the chargers' currents subtracted from it are the
    # smallest measured in [timestamp - meter_lag_s, timestamp]. 0: the values are those
    # of the timestamp (the simulated meters). Too large costs short conservative dips
    # after a car ramps up; too small may let one ramp through uncounted for one reading.
    meter_lag_s: float = 0.0
    mode: AllocationMode = AllocationMode.EQUAL
    rotation_period_s: float = 900.0
    unbalance_limit_a: float | None = None  # None = no unbalanced-load limit
    cycle_s: float = 1.0

    def connector(self, connector_id: int) -> ConnectorSite | None:
        for c in self.connectors:
            if c.id == connector_id:
                return c
        return None

    def group(self, name: str) -> SupplyGroup | None:
        for g in self.groups:
            if g.name == name:
                return g
        return None
