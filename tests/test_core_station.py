"""The session state machine end to end, driven through the simulated hardware."""

from __future__ import annotations

from chargebox.core.events import (
    AuthorizationDecided,
    StatusChanged,
    TransactionStarted,
    TransactionStopped,
)
from chargebox.core.types import AuthorizationStatus, ChargePointStatus, StopReason
from tests.test_core_rig import Rig, rfid

S = ChargePointStatus


# ---------------------------------------------------------------- free charging


def test_free_charging_plug_in_starts_and_charges() -> None:
    rig = Rig(2)
    assert rig.statuses(1) == [S.AVAILABLE] and rig.statuses(0) == [S.AVAILABLE]
    rig.plug(1)
    events = [e for e in rig.events if isinstance(e, StatusChanged | TransactionStarted)]
    kinds = [
        e.status if isinstance(e, StatusChanged) else "start"
        for e in events
        if not isinstance(e, StatusChanged) or e.connector_id == 1
    ]
    assert kinds[:3] == [S.AVAILABLE, S.PREPARING, "start"]
    assert kinds[-1] is S.CHARGING
    [start] = rig.of(TransactionStarted)
    # in between, at most the instant the car needs to answer the PWM with state C
    between = [e for e in rig.of(StatusChanged) if e.connector_id == 1][2:-1]
    assert all(e.status is S.SUSPENDED_EV and e.timestamp == start.timestamp for e in between)
    free_tag = rig.config.get("FreeChargingIdTag")
    assert (start.connector_id, start.id_tag, start.meter_start_wh) == (1, free_tag, 0)
    assert rig.sim.connectors[1].lock_hw.locked and rig.sim.connectors[1].contactor
    assert rig.statuses(2) == [S.AVAILABLE]


def test_car_pausing_is_suspended_ev_and_resumes() -> None:
    rig = Rig(1)
    car = rig.plug()
    car.wants_energy = False
    rig.run(2)
    assert rig.status() is S.SUSPENDED_EV
    assert not rig.sim.connectors[1].contactor  # pilot B opens the contactor
    car.wants_energy = True
    rig.run(2)
    assert rig.status() is S.CHARGING


# ---------------------------------------------------------------- RFID required


def test_rfid_plug_first() -> None:
    rig = rfid()
    rig.plug()
    assert rig.status() is S.PREPARING and rig.tx() is None
    rig.station.present_token("CARD")
    rig.run(2)
    assert rig.tx().id_tag == "CARD" and rig.status() is S.CHARGING


def test_rfid_identification_first() -> None:
    rig = rfid()
    rig.station.present_token("CARD")
    rig.run(1)
    assert rig.status() is S.PREPARING and rig.tx() is None
    [decided] = rig.of(AuthorizationDecided)
    assert (decided.id_tag, decided.source) == ("CARD", "whitelist")
    rig.plug()
    assert rig.tx().id_tag == "CARD" and rig.status() is S.CHARGING


def test_rfid_unknown_card_is_refused() -> None:
    rig = rfid()
    rig.plug()
    rig.station.present_token("NOBODY")
    rig.run(1)
    assert rig.tx() is None and rig.status() is S.PREPARING
    [decided] = rig.of(AuthorizationDecided)
    assert decided.info.status is AuthorizationStatus.INVALID


def test_same_card_again_cancels_the_waiting_authorization() -> None:
    rig = rfid()  # two free connectors: the second card read must not authorize another one
    rig.station.present_token("CARD")
    assert rig.station.present_token("card") is None
    rig.run(1)
    assert [c.authorization for c in rig.station.connectors.values()] == [None, None]
    assert rig.statuses(1) == [S.AVAILABLE] and rig.statuses(2) == [S.AVAILABLE]
    rig.plug(1)
    assert rig.tx(1) is None


def test_connection_timeout_drops_authorization_without_car() -> None:
    rig = rfid(config={"ConnectionTimeOut": "20"})
    rig.station.present_token("CARD")
    rig.run(19)
    assert rig.status() is S.PREPARING
    rig.run(2)
    assert rig.status() is S.AVAILABLE
    rig.plug()
    assert rig.tx() is None and rig.status() is S.PREPARING


def test_same_card_stops_with_local_then_finishing_then_available() -> None:
    rig = rfid()
    rig.plug()
    rig.station.present_token("CARD")
    rig.run(2)
    rig.station.present_token("OTHER", 1)  # someone else's card does not stop it
    rig.run(1)
    assert rig.tx() is not None
    rig.station.present_token("card")  # idTags compare case-insensitively
    rig.run(1)
    stop = rig.stopped()
    assert (stop.reason, stop.id_tag) == (StopReason.LOCAL, "card")
    assert rig.status() is S.FINISHING
    assert not rig.sim.connectors[1].lock_hw.locked
    assert not rig.sim.connectors[1].contactor
    rig.unplug()
    assert rig.status() is S.AVAILABLE


# ------------------------------------------------------------ EV-side disconnect


def test_stop_on_ev_side_disconnect() -> None:
    rig = Rig(1)
    rig.plug()
    rig.unplug()
    assert rig.stopped().reason is StopReason.EV_DISCONNECTED
    assert rig.status() is S.AVAILABLE
    assert not rig.sim.connectors[1].lock_hw.locked


def test_no_stop_on_ev_side_disconnect_suspends_and_replug_resumes() -> None:
    rig = Rig(1, config={"StopTransactionOnEVSideDisconnect": "false"})
    rig.plug()
    local_id = rig.tx().local_id
    rig.unplug()
    assert rig.of(TransactionStopped) == [] and rig.status() is S.SUSPENDED_EV
    assert rig.sim.connectors[1].offered_a == 0 and not rig.sim.connectors[1].contactor
    assert not rig.sim.connectors[1].lock_hw.locked  # UnlockConnectorOnEVSideDisconnect
    rig.plug()
    assert rig.tx().local_id == local_id and rig.status() is S.CHARGING
    assert len(rig.of(TransactionStarted)) == 1


def test_keep_locked_on_ev_side_disconnect_until_owner_returns() -> None:
    rig = rfid(config={"UnlockConnectorOnEVSideDisconnect": "false"})
    rig.plug()
    rig.station.present_token("CARD")
    rig.run(2)
    rig.unplug()
    assert rig.stopped().reason is StopReason.EV_DISCONNECTED
    assert rig.sim.connectors[1].lock_hw.locked and rig.status() is S.FINISHING
    rig.station.present_token("OTHER", 1)
    rig.run(1)
    assert rig.sim.connectors[1].lock_hw.locked
    rig.station.present_token("CARD", 1)
    rig.run(1)
    assert not rig.sim.connectors[1].lock_hw.locked and rig.status() is S.AVAILABLE


# ---------------------------------------------------------------------- faults


def test_lock_failure_on_start_faults_without_transaction() -> None:
    rig = Rig(1)
    rig.sim.raise_fault(1, "lock_failure")
    rig.plug()
    assert rig.of(TransactionStarted) == [] and rig.tx() is None
    assert rig.errors()[-1] == (S.FAULTED, "ConnectorLockFailure")
    rig.unplug()
    rig.sim.clear_fault(1, "lock_failure")
    rig.run(1)
    assert rig.errors()[-1] == (S.AVAILABLE, "NoError")


def test_stopping_fault_stops_transaction_and_clears() -> None:
    rig = Rig(1)
    rig.plug()
    rig.sim.raise_fault(1, "ground_failure")
    rig.run(1)
    assert rig.stopped().reason is StopReason.OTHER
    assert rig.errors()[-1] == (S.FAULTED, "GroundFailure")
    assert rig.sim.connectors[1].offered_a == 0 and not rig.sim.connectors[1].contactor
    rig.sim.clear_fault(1, "ground_failure")
    rig.run(1)
    assert rig.errors()[-1] == (S.FINISHING, "NoError")
    rig.unplug()
    assert rig.status() is S.AVAILABLE


def test_station_warning_keeps_status_and_reports_error_code() -> None:
    rig = Rig(1)
    rig.plug()
    rig.station.set_station_faults({"reader_failure"})
    rig.run(1)
    assert rig.errors(0)[-1] == (S.AVAILABLE, "ReaderFailure")
    assert rig.status(1) is S.CHARGING and rig.tx() is not None
    rig.station.set_station_faults(set())
    rig.run(1)
    assert rig.errors(0)[-1] == (S.AVAILABLE, "NoError")


def test_connector_warning_keeps_charging_with_error_code() -> None:
    rig = Rig(1)
    rig.plug()
    rig.sim.raise_fault(1, "plug_lock_failed")
    rig.run(1)
    assert rig.errors()[-1] == (S.CHARGING, "ConnectorLockFailure")
    assert rig.tx() is not None and rig.of(TransactionStopped) == []


def test_welded_contactor_is_detected() -> None:
    rig = Rig(1)
    rig.plug()
    rig.sim.raise_fault(1, "power_switch_failure")
    rig.run(1)
    assert rig.stopped().reason is StopReason.OTHER
    assert rig.sim.connectors[1].contactor  # still closed: welded
    assert "contactor_welded" in rig.station.connectors[1].detected_faults
    last = rig.of(StatusChanged)[-1]
    assert (last.status, last.error_code, last.info) == (S.FAULTED, "PowerSwitchFailure", None)


def test_meter_failure_is_power_meter_failure() -> None:
    rig = Rig(1)
    rig.plug()
    rig.run(60)
    rig.sim.raise_fault(1, "power_meter_failure")
    rig.run(1)
    stop = rig.stopped()
    assert stop.meter_stop_wh > 0  # the last reading known
    assert rig.errors()[-1] == (S.FAULTED, "PowerMeterFailure")
    rig.sim.clear_fault(1, "power_meter_failure")
    rig.run(1)
    assert rig.status() is S.FINISHING


def test_minimum_status_duration_holds_back_short_status() -> None:
    rig = rfid(config={"MinimumStatusDuration": "5", "ConnectionTimeOut": "3"})
    rig.station.present_token("CARD")
    rig.run(10)  # Preparing lasted 3 s only
    assert rig.statuses() == [S.AVAILABLE]
    rig.station.present_token("CARD")
    rig.run(4)
    assert rig.statuses() == [S.AVAILABLE]
    rig.plug()  # the car keeps the connector in Preparing
    rig.run(5)
    assert rig.statuses() == [S.AVAILABLE, S.PREPARING]
