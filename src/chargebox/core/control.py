"""Commands from the central system or an operator: remote start and stop,
unlock, availability and reset.

Each answers with the OCPP status the adapter sends back, so the decision of
what to answer stays in the core with the state it depends on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chargebox.core.auth import decide
from chargebox.core.events import AvailabilityChanged, ResetRequested
from chargebox.core.sessions import (
    LOCK_FAILURE,
    auth_context,
    authorize,
    can_start,
    set_availability,
    set_detected,
    stop,
)
from chargebox.core.tokens import apply_decision, select_connector
from chargebox.core.types import AuthorizationStatus, Availability, IdTagInfo, StopReason

if TYPE_CHECKING:
    from chargebox.core.station import Station


def remote_start(st: Station, id_tag: str, connector_id: int | None) -> bool:
    if connector_id is not None and connector_id not in st.connectors:
        return False
    c = select_connector(st, connector_id, id_tag)
    if c is None or not can_start(st, c) or c.authorization is not None or c.awaiting_id_tag:
        return False
    if not st.reservations.may_try(c, id_tag):
        return False  # reserved for another idTag
    now = st.clock.time()
    if st.config.get_bool("AuthorizeRemoteTxRequests"):
        decision = decide(id_tag, auth_context(st), st.auth_sources, c.id)
        apply_decision(st, c, id_tag, decision, "start", now)
        return True
    info = IdTagInfo(AuthorizationStatus.ACCEPTED)
    return authorize(st, c, id_tag, info, "remote", now)


def remote_stop(st: Station, remote_id: int) -> bool:
    for c in st.connectors.values():
        if c.transaction is not None and c.transaction.remote_id == remote_id:
            stop(st, c, StopReason.REMOTE, None, st.clock.time())
            return True
    return False


def stop_transaction(st: Station, connector_id: int, reason: StopReason) -> bool:
    c = st.connectors.get(connector_id)
    if c is None or c.transaction is None:
        return False
    stop(st, c, reason, None, st.clock.time())
    return True


def unlock(st: Station, connector_id: int) -> str:
    """Unlocking ends the transaction first; the lock itself is moved here, once."""
    c = st.connectors.get(connector_id)
    if c is None or c.hw.lock.fixed_cable:
        return "NotSupported"
    now = st.clock.time()
    if c.transaction is not None:
        stop(st, c, StopReason.UNLOCK_COMMAND, None, now, unlock=False)
    if not c.hw.lock.unlock():
        set_detected(st, c, LOCK_FAILURE, True, now)
        return "UnlockFailed"
    set_detected(st, c, LOCK_FAILURE, False, now)
    c.finishing = c.pilot.plugged
    return "Unlocked"


def change_availability(st: Station, connector_id: int, availability: Availability) -> str:
    """Inoperative waits for a running transaction to end ('Scheduled')."""
    if connector_id != 0 and connector_id not in st.connectors:
        return "Rejected"
    now = st.clock.time()
    targets = list(st.connectors.values()) if connector_id == 0 else [st.connectors[connector_id]]
    scheduled = False
    for c in targets:
        if c.transaction is not None and availability is Availability.INOPERATIVE:
            c.scheduled_availability = availability
            scheduled = True
            st.bus.publish(AvailabilityChanged(now, c.id, availability.value, True))
        else:
            set_availability(st, c, availability, now)
    if connector_id == 0:
        st.availability = availability
        st.bus.publish(AvailabilityChanged(now, 0, availability.value, scheduled))
    return "Scheduled" if scheduled else "Accepted"


def reset(st: Station, kind: str) -> None:
    reason = StopReason.HARD_RESET if kind == "Hard" else StopReason.SOFT_RESET
    now = st.clock.time()
    for c in st.connectors.values():
        if c.transaction is not None:
            stop(st, c, reason, None, now)
    st.bus.publish(ResetRequested(now, kind))
