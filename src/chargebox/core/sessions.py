"""A connector's session: authorization, transaction start and stop.

Every path that starts or ends a transaction (a card, a plug, a remote command,
a fault, a reset) goes through `authorize`, `start_transaction` and `stop`, so
the journal, the lock, the output and the events stay in step. Faults the core
detects itself live here too, because raising one may stop a transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chargebox.core.auth import AuthContext, AuthMode, effective_mode
from chargebox.core.claims import apply_limits, output
from chargebox.core.clock import iso
from chargebox.core.connector import Authorization, Connector, Transaction
from chargebox.core.events import (
    AuthorizationDecided,
    AvailabilityChanged,
    ErrorChanged,
    TransactionStarted,
    TransactionStopped,
)
from chargebox.core.meter_schedule import keep_for_stop
from chargebox.core.status import is_faulted, report
from chargebox.core.types import Availability, IdTagInfo, StopReason

if TYPE_CHECKING:
    from chargebox.core.station import Station

# The lock did not move when told to (the hardware cannot know it failed to report).
LOCK_FAILURE = "lock_failure"

_STOP_REASON_FOR_FAULT = {"emergency_stop": StopReason.EMERGENCY_STOP}


def mode(st: Station) -> AuthMode:
    """The OCPP key FreeChargingEnabled switches free charging on over any file setting."""
    if st.config.get_bool("FreeChargingEnabled"):
        return AuthMode.FREE
    return effective_mode(st.settings.auth_mode, st.settings.backend_configured)


def can_start(st: Station, c: Connector) -> bool:
    return (
        c.transaction is None
        and not c.finishing
        and c.availability is Availability.OPERATIVE
        and st.availability is Availability.OPERATIVE
        and not is_faulted(st, c)
    )


def auth_context(st: Station, online: bool | None = None) -> AuthContext:
    cfg = st.config
    return AuthContext(
        backend=st.settings.backend_configured,
        online=st.online if online is None else online,
        now=st.clock.time(),
        local_pre_authorize=cfg.get_bool("LocalPreAuthorize"),
        local_authorize_offline=cfg.get_bool("LocalAuthorizeOffline"),
        allow_offline_tx_for_unknown_id=cfg.get_bool("AllowOfflineTxForUnknownId"),
        authorization_cache_enabled=cfg.get_bool("AuthorizationCacheEnabled"),
        local_auth_list_enabled=cfg.get_bool("LocalAuthListEnabled"),
    )


def authorize(
    st: Station, c: Connector, id_tag: str, info: IdTagInfo, source: str, now: float
) -> bool:
    """Hold an accepted idTag on the connector; start at once if the car is plugged.

    False when a reservation keeps the connector for another idTag.
    """
    admitted, reservation_id = st.reservations.admit(c, id_tag, info.parent_id_tag)
    if not admitted:
        c.awaiting_id_tag = None
        st.bus.publish(AuthorizationDecided(now, id_tag, c.id, info, "reserved"))
        return False
    deadline = None if c.pilot.plugged else now + st.config.get_int("ConnectionTimeOut")
    c.authorization = Authorization(id_tag, info, source, deadline, reservation_id)
    c.awaiting_id_tag = None
    st.bus.publish(AuthorizationDecided(now, id_tag, c.id, info, source))
    if c.pilot.plugged:
        start_transaction(st, c, now)
    return True


def start_transaction(st: Station, c: Connector, now: float) -> None:
    auth = c.authorization
    assert auth is not None
    if not c.hw.lock.fixed_cable and not c.hw.lock.is_locked() and not c.hw.lock.lock():
        c.authorization = None
        set_detected(st, c, LOCK_FAILURE, True, now)
        return
    report(st, now)  # Preparing goes out before StartTransaction
    meter = round(c.measurement.energy_wh) if c.measurement is not None else 0
    auth.reservation_id = st.reservations.consume(auth.reservation_id)
    local_id = st.journal.create(
        c.id, auth.id_tag, meter, iso(now), auth.info.parent_id_tag, auth.reservation_id
    )
    tx = Transaction(
        local_id, c.id, auth.id_tag, now, meter, auth.info.parent_id_tag, auth.reservation_id
    )
    c.transaction, c.authorization, c.finishing = tx, None, False
    st._last_id_tag[c.id] = auth.id_tag
    keep_for_stop(st, c, tx, "StopTxnSampledData", "Transaction.Begin", now)
    st.bus.publish(TransactionStarted(now, c.id, local_id, auth.id_tag, meter, auth.reservation_id))
    apply_limits(st, now)


def stop(
    st: Station,
    c: Connector,
    reason: StopReason,
    id_tag: str | None,
    now: float,
    *,
    unlock: bool = True,
) -> None:
    """End the connector's transaction: output off, journal closed, cable released."""
    tx = c.transaction
    assert tx is not None
    output(st, c, 0.0)
    meter = round(c.measurement.energy_wh) if c.measurement is not None else tx.meter_start_wh
    keep_for_stop(st, c, tx, "StopTxnSampledData", "Transaction.End", now)
    st.journal.stop(tx.local_id, meter, iso(now), reason.value, id_tag)
    c.transaction, c.ev_left = None, False
    lock = c.hw.lock
    if unlock and not lock.fixed_cable and lock.is_locked() and not lock.unlock():
        set_detected(st, c, LOCK_FAILURE, True, now)
    c.finishing = c.pilot.plugged or c.hw.lock.is_locked()
    st.bus.publish(
        TransactionStopped(now, c.id, tx.local_id, meter, reason, id_tag, tuple(tx.data))
    )
    if c.scheduled_availability is not None:
        set_availability(st, c, c.scheduled_availability, now)


def set_detected(st: Station, c: Connector, code: str, active: bool, now: float) -> None:
    """Raise or clear a fault the core detected itself, publishing only changes."""
    if active and code not in c.detected_faults:
        c.detected_faults.add(code)
        st.bus.publish(ErrorChanged(now, c.id, code, True))
        fault_raised(st, c, code, now)
    elif not active and code in c.detected_faults:
        c.detected_faults.discard(code)
        st.bus.publish(ErrorChanged(now, c.id, code, False))


def fault_raised(st: Station, c: Connector, code: str, now: float) -> None:
    """The catalogue decides whether a new error ends the running transaction."""
    error = st.catalogue.get(code)
    if error is not None and error.stops_transaction and c.transaction is not None:
        stop(st, c, _STOP_REASON_FOR_FAULT.get(code, StopReason.OTHER), None, now)


def set_availability(st: Station, c: Connector, availability: Availability, now: float) -> None:
    c.availability, c.scheduled_availability = availability, None
    if availability is Availability.INOPERATIVE:
        c.authorization = None
        c.awaiting_id_tag = None
    st.bus.publish(AvailabilityChanged(now, c.id, availability.value, False))
