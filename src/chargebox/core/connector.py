"""One connector's state, and the OCPP ChargePointStatus derived from it.

The status is never stored: it is computed from what the connector knows (pilot,
session, availability, errors), so it cannot drift from reality. What is reported
is a separate matter: `StatusReporter` holds a new status back until it has lasted
MinimumStatusDuration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chargebox.core.errors import ErrorDef, Severity, most_severe
from chargebox.core.events import MeterSample
from chargebox.core.limits import Claim, Limit, LimitSource
from chargebox.core.ports import ChargeController, ConnectorLock, Meter
from chargebox.core.types import (
    AuthorizationStatus,
    Availability,
    ChargePointStatus,
    IdTagInfo,
    Measurement,
    PilotState,
)

if TYPE_CHECKING:
    from chargebox.core.reservations import Reservation


@dataclass(frozen=True, slots=True)
class ConnectorSpec:
    """What the installation says about a connector."""

    id: int
    max_current_a: float = 32.0
    phases: int = 3
    fixed_cable: bool = False


@dataclass(frozen=True, slots=True)
class ConnectorHardware:
    controller: ChargeController
    lock: ConnectorLock
    meter: Meter


@dataclass
class Authorization:
    """An idTag accepted for this connector, waiting for the car or the transaction."""

    id_tag: str
    info: IdTagInfo
    source: str
    deadline: float | None  # ConnectionTimeOut for identification-first
    reservation_id: int | None = None


@dataclass
class Transaction:
    local_id: int
    connector_id: int
    id_tag: str
    start_time: float
    meter_start_wh: int
    parent_id_tag: str | None = None
    reservation_id: int | None = None
    remote_id: int | None = None
    id_tag_status: AuthorizationStatus | None = None  # None until StartTransaction.conf
    energy_budget_wh: float | None = None  # meter reading up to which a deauthorized tx may draw
    next_sample_at: float | None = None
    next_persist_at: float = 0.0
    data: list[MeterSample] = field(default_factory=list)  # StopTxn*Data samples


@dataclass
class Connector:
    spec: ConnectorSpec
    hw: ConnectorHardware
    availability: Availability = Availability.OPERATIVE
    scheduled_availability: Availability | None = None
    pilot: PilotState = PilotState.A
    authorization: Authorization | None = None
    awaiting_id_tag: str | None = None  # Authorize.req sent, answer pending
    transaction: Transaction | None = None
    finishing: bool = False  # stopped while the car is still plugged
    ev_left: bool = False  # car unplugged while the transaction goes on
    reservation: Reservation | None = None  # its own, or held for a connector-0 reservation
    hw_faults: frozenset[str] = frozenset()
    detected_faults: set[str] = field(default_factory=set)
    measurement: Measurement | None = None
    claims: dict[LimitSource, Claim] = field(default_factory=dict)
    limit: Limit = field(default_factory=lambda: Limit(0.0, LimitSource.SAFE, True, 0.0))
    offered_a: float = 0.0
    offered_since: float | None = None  # when energy was last offered after none
    contactor_commanded: bool = False

    @property
    def id(self) -> int:
        return self.spec.id

    @property
    def fault_codes(self) -> frozenset[str]:
        return self.hw_faults | frozenset(self.detected_faults)

    @property
    def busy(self) -> bool:
        """Occupied by a session in any phase: nobody else may start here."""
        return (
            self.transaction is not None
            or self.authorization is not None
            or self.awaiting_id_tag is not None
            or self.pilot.plugged
        )


def derive_status(
    c: Connector, errors: list[ErrorDef], station_errors: list[ErrorDef]
) -> tuple[ChargePointStatus, ErrorDef | None]:
    """The status OCPP should see now, and the error to report with it."""
    worst = most_severe([*errors, *station_errors])
    if worst is not None and worst.severity is Severity.FAULT:
        return ChargePointStatus.FAULTED, worst
    tx = c.transaction
    if tx is not None:
        if c.pilot.wants_energy and c.offered_a > 0 and c.contactor_commanded:
            return ChargePointStatus.CHARGING, worst
        if c.offered_a <= 0 and c.pilot.plugged:
            return ChargePointStatus.SUSPENDED_EVSE, worst
        return ChargePointStatus.SUSPENDED_EV, worst
    if c.availability is Availability.INOPERATIVE:
        return ChargePointStatus.UNAVAILABLE, worst
    if c.finishing:
        return ChargePointStatus.FINISHING, worst
    if c.authorization is not None or c.awaiting_id_tag is not None or c.pilot.plugged:
        return ChargePointStatus.PREPARING, worst
    if c.reservation is not None:
        return ChargePointStatus.RESERVED, worst
    return ChargePointStatus.AVAILABLE, worst


ReportKey = tuple[ChargePointStatus, str, str | None]


@dataclass
class StatusReporter:
    """Holds a status back until it has lasted MinimumStatusDuration seconds."""

    reported: ReportKey | None = None
    pending: ReportKey | None = None
    since: float = 0.0

    def observe(self, key: ReportKey, now: float, minimum_duration: float) -> ReportKey | None:
        if key == self.reported:
            self.pending = None
            return None
        if key != self.pending:
            self.pending, self.since = key, now
        if now - self.since >= minimum_duration:
            self.reported, self.pending = key, None
            return key
        return None


def status_key(status: ChargePointStatus, error: ErrorDef | None) -> ReportKey:
    if error is None:
        return (status, "NoError", None)
    return (status, error.ocpp_error_code, error.vendor_error_code)
