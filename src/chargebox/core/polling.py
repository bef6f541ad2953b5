"""What the tick learns from the hardware, and what the station does about it.

The ports are polled, never trusted to call in: each tick reads the meter, the
controller's faults, the contactor and the pilot, and turns changes into
errors and plug/unplug transitions of the session.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from chargebox.core.auth import AuthMode
from chargebox.core.connector import Connector
from chargebox.core.events import ErrorChanged
from chargebox.core.sessions import (
    LOCK_FAILURE,
    authorize,
    can_start,
    fault_raised,
    mode,
    set_detected,
    start_transaction,
    stop,
)
from chargebox.core.types import AuthorizationStatus, IdTagInfo, PilotState, StopReason

if TYPE_CHECKING:
    from chargebox.core.station import Station

log = logging.getLogger(__name__)

# Faults the core detects itself (the hardware cannot know it failed to report).
METER_FAILURE = "power_meter_failure"
CONTACTOR_WELDED = "contactor_welded"
MODE3_ERROR = "mode3_error"


def poll(st: Station, c: Connector, now: float) -> None:
    reading = c.hw.meter.read()
    if reading is None:
        set_detected(st, c, METER_FAILURE, True, now)
    else:
        c.measurement = reading
        set_detected(st, c, METER_FAILURE, False, now)
    faults = c.hw.controller.active_faults()
    if faults != c.hw_faults:
        added, removed = faults - c.hw_faults, c.hw_faults - faults
        c.hw_faults = frozenset(faults)
        for code in sorted(removed):
            st.bus.publish(ErrorChanged(now, c.id, code, False))
        for code in sorted(added):
            st.bus.publish(ErrorChanged(now, c.id, code, True))
            fault_raised(st, c, code, now)
    welded = not c.contactor_commanded and c.hw.controller.contactor_closed()
    set_detected(st, c, CONTACTOR_WELDED, welded, now)
    pilot = c.hw.controller.pilot_state()
    if pilot in (PilotState.E, PilotState.F):
        set_detected(st, c, MODE3_ERROR, True, now)
        return  # an error state is not an unplug: keep the session as it is
    set_detected(st, c, MODE3_ERROR, False, now)
    if pilot != c.pilot:
        old, c.pilot = c.pilot, pilot
        if pilot.plugged and not old.plugged:
            _plugged_in(st, c, now)
        elif not pilot.plugged and old.plugged:
            _unplugged(st, c, now)


def _plugged_in(st: Station, c: Connector, now: float) -> None:
    c.finishing = False
    if c.transaction is not None:
        c.ev_left = False  # the car came back to a transaction that kept running
        return
    if c.authorization is not None:
        start_transaction(st, c, now)
    elif mode(st) is AuthMode.FREE and can_start(st, c):
        info = IdTagInfo(AuthorizationStatus.ACCEPTED)
        authorize(st, c, st.config.get("FreeChargingIdTag"), info, "free", now)


def _unplugged(st: Station, c: Connector, now: float) -> None:
    tx = c.transaction
    unlock_on_disconnect = st.config.get_bool("UnlockConnectorOnEVSideDisconnect")
    if tx is not None:
        if st.config.get_bool("StopTransactionOnEVSideDisconnect"):
            stop(st, c, StopReason.EV_DISCONNECTED, None, now, unlock=unlock_on_disconnect)
        else:
            c.ev_left = True
            if unlock_on_disconnect:
                c.hw.lock.unlock()
    elif c.hw.lock.is_locked() and (unlock_on_disconnect or not c.finishing):
        c.hw.lock.unlock()
    c.finishing = c.transaction is None and c.hw.lock.is_locked()
    if (
        c.awaiting_id_tag is None
        and c.authorization is not None
        and c.authorization.deadline is None
    ):
        c.authorization = None  # plug-first authorization goes with the car
    set_detected(st, c, LOCK_FAILURE, False, now)


def expire_authorizations(st: Station, now: float) -> None:
    """An idTag presented before the car arrived lapses after ConnectionTimeOut."""
    for c in st.connectors.values():
        auth = c.authorization
        if auth is not None and auth.deadline is not None and now >= auth.deadline:
            log.info("connector %s: no car within ConnectionTimeOut, authorization dropped", c.id)
            c.authorization = None


def set_station_faults(st: Station, codes: Iterable[str]) -> None:
    """Station-wide fault inputs (e.g. an emergency stop) replace the previous set."""
    new = frozenset(codes)
    now = st.clock.time()
    for code in sorted(new - st.station_hw_faults):
        st.bus.publish(ErrorChanged(now, 0, code, True))
        for c in st.connectors.values():
            fault_raised(st, c, code, now)
    for code in sorted(st.station_hw_faults - new):
        st.bus.publish(ErrorChanged(now, 0, code, False))
    st.station_hw_faults = new
