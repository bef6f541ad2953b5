"""What the core needs from the world, as protocols; adapters implement them.

The simulated drivers in ``chargebox.hardware`` and the SQLite store in
``chargebox.store`` satisfy these, and so can real drivers later. Calls are
synchronous and quick (a driver that talks to a slow bus keeps its own cache).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from chargebox.core.types import Measurement, PilotState


class ChargeController(Protocol):
    """Control pilot, contactor and fault inputs of one connector."""

    def pilot_state(self) -> PilotState: ...

    def set_pilot_current(self, amps: float) -> None:
        """Signal the current the car may draw; 0 means no energy offered."""

    def set_contactor(self, closed: bool) -> None: ...

    def contactor_closed(self) -> bool:
        """As sensed by the feedback contact: a welded contactor stays closed."""

    def cable_rating_a(self) -> float | None:
        """Proximity-pilot rating of the plugged cable, None when unknown."""

    def active_faults(self) -> frozenset[str]:
        """Error-catalogue codes the hardware reports right now."""


class PhaseSwitch(Protocol):
    """Optional: a connector that can switch between 1-phase and 3-phase supply.

    A controller without `set_phases` simply cannot switch (`Station.can_switch_phases`).
    """

    def set_phases(self, phases: int) -> bool:
        """1 or 3; False when the hardware refuses."""

    def active_phases(self) -> int: ...


class ConnectorLock(Protocol):
    """Socket cable lock; a fixed (tethered) cable has none."""

    @property
    def fixed_cable(self) -> bool: ...

    def lock(self) -> bool: ...

    def unlock(self) -> bool: ...

    def is_locked(self) -> bool: ...


class Meter(Protocol):
    def read(self) -> Measurement | None:
        """The latest reading, or None when the meter does not answer."""


class JournalRecord(Protocol):
    """What the core reads back of a transaction after a restart."""

    @property
    def local_id(self) -> int: ...

    @property
    def connector_id(self) -> int: ...

    @property
    def id_tag(self) -> str: ...

    @property
    def parent_id_tag(self) -> str | None: ...

    @property
    def reservation_id(self) -> int | None: ...

    @property
    def meter_start_wh(self) -> int: ...

    @property
    def start_time(self) -> str: ...

    @property
    def remote_id(self) -> int | None: ...

    @property
    def last_meter_wh(self) -> int | None: ...

    @property
    def last_meter_time(self) -> str | None: ...


class TransactionJournal(Protocol):
    """Durable record of transactions: written before the core announces them."""

    def create(
        self,
        connector_id: int,
        id_tag: str,
        meter_start_wh: int,
        start_time: str,
        parent_id_tag: str | None = None,
        reservation_id: int | None = None,
    ) -> int: ...

    def update_meter(self, local_id: int, wh: int, time: str) -> None: ...

    def stop(
        self,
        local_id: int,
        meter_stop_wh: int,
        stop_time: str,
        reason: str,
        stop_id_tag: str | None = None,
    ) -> None: ...

    def open_transactions(self) -> Sequence[JournalRecord]: ...
