"""The station's errors and statuses as the OCPP side sees them.

Statuses are derived, never stored (see `connector.derive_status`); this module
gathers the errors that feed the derivation and decides when a new status is
worth reporting. Everything else in the station asks here whether a connector
or the whole station is faulted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chargebox.core.connector import Connector, derive_status, status_key
from chargebox.core.errors import ErrorDef, Scope, Severity, most_severe
from chargebox.core.events import StatusChanged
from chargebox.core.types import Availability, ChargePointStatus

if TYPE_CHECKING:
    from chargebox.core.station import Station

# IEC 61851-1 gives a car 3 s to answer a PWM change; until then "SuspendedEV" is not news.
EV_RESPONSE_GRACE_S = 3.0


def connector_errors(st: Station, c: Connector, faults_only: bool = False) -> list[ErrorDef]:
    """The connector's own errors (station-scoped ones are the station's)."""
    return [
        e
        for code in sorted(c.fault_codes)
        if (e := st.catalogue.get(code)) is not None
        and e.scope is not Scope.STATION
        and (not faults_only or e.severity is Severity.FAULT)
    ]


def station_errors(
    st: Station, faults_only: bool = False, *, for_cp: bool = False
) -> list[ErrorDef]:
    """Errors of the whole station: raised at connector 0, or station-scoped anywhere.

    With `for_cp` (connector 0's own report) a connector's "both"-scoped error counts
    too; it is reported on the charge point as well but does not stop other connectors.
    """
    found: list[ErrorDef] = []
    for code in sorted(st.station_hw_faults):
        e = st.catalogue.get(code)
        if e is not None and e.scope is not Scope.CONNECTOR:
            found.append(e)
    for c in st.connectors.values():
        for code in sorted(c.fault_codes):
            e = st.catalogue.get(code)
            if e is not None and (e.scope is Scope.STATION or (for_cp and e.scope is Scope.BOTH)):
                found.append(e)
    return [e for e in found if not faults_only or e.severity is Severity.FAULT]


def is_faulted(st: Station, c: Connector) -> bool:
    """A fault on the connector or on the station keeps it from charging."""
    return bool(connector_errors(st, c, faults_only=True) or station_errors(st, faults_only=True))


def status_of(st: Station, connector_id: int) -> tuple[ChargePointStatus, ErrorDef | None]:
    errors = station_errors(st, for_cp=connector_id == 0)
    if connector_id == 0:
        worst = most_severe(errors)
        if worst is not None and worst.severity is Severity.FAULT:
            return ChargePointStatus.FAULTED, worst
        if st.availability is Availability.INOPERATIVE:
            return ChargePointStatus.UNAVAILABLE, worst
        return ChargePointStatus.AVAILABLE, worst
    c = st.connectors[connector_id]
    faults = [e for e in errors if e.severity is Severity.FAULT]
    return derive_status(c, connector_errors(st, c), faults)


def status_event(st: Station, connector_id: int, now: float) -> StatusChanged:
    status, error = status_of(st, connector_id)
    return StatusChanged(now, connector_id, *status_key(status, error))


def report(st: Station, now: float) -> None:
    """Publish each status that changed and has lasted MinimumStatusDuration."""
    minimum = float(st.config.get_int("MinimumStatusDuration"))
    for cid, reporter in st._reporters.items():
        status, error = status_of(st, cid)
        if status is ChargePointStatus.SUSPENDED_EV and _car_still_responding(st, cid, now):
            continue  # energy was offered a moment ago: give the car time to take it
        key = reporter.observe(status_key(status, error), now, minimum)
        if key is not None:
            st.bus.publish(StatusChanged(now, cid, *key))


def _car_still_responding(st: Station, connector_id: int, now: float) -> bool:
    c = st.connectors[connector_id]
    return c.offered_since is not None and now - c.offered_since < EV_RESPONSE_GRACE_S
