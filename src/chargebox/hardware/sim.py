"""Simulated hardware: a car, meter, lock and contactor per connector, an RFID reader, inputs.

These are the default drivers behind the core's ports (`chargebox.core.ports`), so a
simulated session runs through exactly the code a real one does. Physics are simple
but honest: the car follows the signalled current after a delay, tapers above 80 %
state of charge and stops at 100 %; the meter integrates power over real elapsed time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from chargebox.core.types import Measurement, PilotState

NOMINAL_VOLTAGE = 230.0

# Injected faults with a physical effect; any other code is simply reported.
LOCK_FAULT = "lock_failure"
METER_FAULT = "power_meter_failure"
WELD_FAULT = "power_switch_failure"
READER_FAULT = "reader_failure"
_SILENT_FAULTS = {LOCK_FAULT, METER_FAULT}  # the core detects these by their effect


@dataclass
class SimCar:
    """An electric vehicle as the station sees it through the control pilot."""

    capacity_kwh: float = 60.0
    soc_percent: float = 30.0
    max_current_a: float = 16.0
    phases: int = 3
    response_delay_s: float = 1.0
    # How long the car takes to come down to a lower current (IEC 61851-1 allows up to
    # 5 s); 0: at once, never drawing more than offered.
    decrease_delay_s: float = 0.0
    wants_energy: bool = True  # False: the car paused (state B)
    current_a: float = 0.0
    _target_since: float | None = None
    _target_a: float = 0.0

    def taper_a(self) -> float:
        """The most the battery accepts now: full current below 80 %, linear down to 0."""
        if self.soc_percent >= 100.0:
            return 0.0
        if self.soc_percent <= 80.0:
            return self.max_current_a
        return self.max_current_a * max(0.1, (100.0 - self.soc_percent) / 20.0)

    def pilot(self, offered_a: float) -> PilotState:
        if self.wants_energy and self.soc_percent < 100.0 and offered_a > 0:
            return PilotState.C
        return PilotState.B

    def follow(self, available_a: float, now: float) -> None:
        """Move toward what is available after the car's response delay."""
        target = min(available_a, self.taper_a())
        if target != self._target_a:
            self._target_a, self._target_since = target, now
        elapsed = now - self._target_since if self._target_since is not None else 0.0
        if target < self.current_a:
            if available_a <= 0 or elapsed >= self.decrease_delay_s:
                self.current_a = target  # 0 A (contactor open) is always at once
        elif self._target_since is not None and elapsed >= self.response_delay_s:
            self.current_a = self._target_a

    def charge(self, energy_wh: float) -> None:
        if self.capacity_kwh > 0:
            self.soc_percent = min(100.0, self.soc_percent + energy_wh / (self.capacity_kwh * 10.0))


@dataclass
class SimLock:
    fixed: bool = False
    locked: bool = False
    fail: bool = False

    @property
    def fixed_cable(self) -> bool:
        return self.fixed

    def lock(self) -> bool:
        if self.fail:
            return False
        self.locked = True
        return True

    def unlock(self) -> bool:
        if self.fail:
            return False
        self.locked = False
        return True

    def is_locked(self) -> bool:
        return self.locked


@dataclass
class SimConnector:
    """Control pilot, contactor, meter and fault inputs of one simulated connector."""

    connector_id: int
    cable_a: float | None = 32.0
    car: SimCar | None = None
    lock_hw: SimLock = field(default_factory=SimLock)
    faults: set[str] = field(default_factory=set)
    offered_a: float = 0.0
    contactor: bool = False
    energy_wh: float = 0.0
    last_advance: float | None = None
    temperature_c: float = 25.0
    phases: int = 3  # 1 when the phase switch has dropped L2 and L3
    phase_switches: int = 0

    # -- ChargeController
    def pilot_state(self) -> PilotState:
        return PilotState.A if self.car is None else self.car.pilot(self.offered_a)

    def set_pilot_current(self, amps: float) -> None:
        self.offered_a = amps

    def set_contactor(self, closed: bool) -> None:
        if WELD_FAULT in self.faults and self.contactor:
            return  # a welded contact does not open
        self.contactor = closed

    def contactor_closed(self) -> bool:
        return self.contactor

    def cable_rating_a(self) -> float | None:
        return self.cable_a if self.car is not None else None

    def active_faults(self) -> frozenset[str]:
        return frozenset(self.faults - _SILENT_FAULTS)

    # -- PhaseSwitch (optional port: real drivers may not have it)
    def set_phases(self, phases: int) -> bool:
        """Switch the supply between 1 phase (L1) and 3 phases."""
        if phases not in (1, 3):
            return False
        if phases != self.phases:
            self.phases = phases
            self.phase_switches += 1
        return True

    def active_phases(self) -> int:
        return self.phases

    # -- Meter
    def read(self) -> Measurement | None:
        if METER_FAULT in self.faults:
            return None
        amps = self._phase_currents()
        power = sum(NOMINAL_VOLTAGE * a for a in amps)
        return Measurement(
            energy_wh=round(self.energy_wh, 3),
            power_w=round(power, 1),
            voltage_v=(NOMINAL_VOLTAGE,) * 3,
            current_a=amps,
            soc_percent=round(self.car.soc_percent, 1) if self.car else None,
            temperature_c=self.temperature_c,
            offered_a=self.offered_a,
        )

    def _phase_currents(self) -> tuple[float, float, float]:
        car = self.car
        if car is None or not self.contactor:
            return (0.0, 0.0, 0.0)
        a = round(car.current_a, 2)
        phases = min(car.phases, self.phases)
        return (a, a if phases >= 2 else 0.0, a if phases >= 3 else 0.0)

    # -- the world moves on
    def advance(self, now: float) -> None:
        """Integrate energy over the real time since the last call."""
        dt = 0.0 if self.last_advance is None else max(0.0, now - self.last_advance)
        self.last_advance = now
        car = self.car
        if car is None:
            return
        flowing = self.contactor and car.pilot(self.offered_a) is PilotState.C
        if dt > 0 and flowing:
            energy = sum(NOMINAL_VOLTAGE * a for a in self._phase_currents()) * dt / 3600.0
            self.energy_wh += energy
            car.charge(energy)
        car.follow(self.offered_a if flowing else 0.0, now)

    # -- control API
    def plug(self, car: SimCar) -> None:
        self.car = car

    def unplug(self) -> None:
        self.car = None

    def raise_fault(self, code: str) -> None:
        self.faults.add(code)
        if code == LOCK_FAULT:
            self.lock_hw.fail = True

    def clear_fault(self, code: str) -> None:
        self.faults.discard(code)
        if code == LOCK_FAULT:
            self.lock_hw.fail = False


@dataclass
class SimReader:
    """An RFID reader: cards presented through the control API wait here for the station."""

    failed: bool = False
    presented: deque[tuple[str, int | None]] = field(default_factory=deque)

    def present(self, id_tag: str, connector_id: int | None = None) -> bool:
        if self.failed:
            return False
        self.presented.append((id_tag, connector_id))
        return True

    def take(self) -> list[tuple[str, int | None]]:
        out = list(self.presented)
        self.presented.clear()
        return out


@dataclass
class SimInputs:
    """Digital inputs (load shedding, door contact, emergency stop) set through the API."""

    values: dict[str, bool] = field(default_factory=dict)
    listeners: list[Callable[[str, bool], None]] = field(default_factory=list)

    def read(self) -> dict[str, bool]:
        return dict(self.values)

    def set(self, name: str, value: bool) -> None:
        """Drive an input; listeners (load shedding) hear of it at once."""
        changed = self.values.get(name) != value
        self.values[name] = value
        if changed:
            for listener in list(self.listeners):
                listener(name, value)


@dataclass
class SimStation:
    """All simulated hardware of one station."""

    connectors: dict[int, SimConnector]
    reader: SimReader = field(default_factory=SimReader)
    inputs: SimInputs = field(default_factory=SimInputs)
    station_faults: set[str] = field(default_factory=set)

    @classmethod
    def build(
        cls, count: int, *, fixed_cable: bool = False, cable_a: float | None = 32.0
    ) -> SimStation:
        return cls(
            {
                n: SimConnector(n, cable_a=cable_a, lock_hw=SimLock(fixed=fixed_cable))
                for n in range(1, count + 1)
            }
        )

    def advance(self, now: float) -> None:
        for connector in self.connectors.values():
            connector.advance(now)

    def raise_fault(self, connector_id: int, code: str) -> None:
        if connector_id == 0:
            self.station_faults.add(code)
            self.reader.failed = READER_FAULT in self.station_faults
        else:
            self.connectors[connector_id].raise_fault(code)

    def clear_fault(self, connector_id: int, code: str) -> None:
        if connector_id == 0:
            self.station_faults.discard(code)
            self.reader.failed = READER_FAULT in self.station_faults
        else:
            self.connectors[connector_id].clear_fault(code)
