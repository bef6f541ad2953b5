"""Station commands: availability, remote start/stop, central-system authorization, reset, boot."""

from __future__ import annotations

from chargebox.core.clock import iso
from chargebox.core.events import (
    AuthorizationDecided,
    AuthorizationRequested,
    AvailabilityChanged,
    ResetRequested,
    TransactionStarted,
    TransactionStopped,
)
from chargebox.core.types import (
    AuthorizationStatus,
    Availability,
    ChargePointStatus,
    IdTagInfo,
    StopReason,
)
from tests.test_core_rig import ACCEPTED, Journal, Rig, online, rfid

S = ChargePointStatus
INOP = Availability.INOPERATIVE
INVALID = IdTagInfo(AuthorizationStatus.INVALID)

# ------------------------------------------------------------------ availability


def test_inoperative_while_charging_is_scheduled_until_the_transaction_ends() -> None:
    rig = Rig(1)
    rig.plug()
    assert rig.station.change_availability(1, INOP) == "Scheduled"
    rig.run(1)
    assert rig.status() is S.CHARGING and rig.tx() is not None
    [scheduled] = rig.of(AvailabilityChanged)
    assert (scheduled.connector_id, scheduled.availability, scheduled.scheduled) == (
        1,
        "Inoperative",
        True,
    )
    rig.unplug()
    assert rig.status() is S.UNAVAILABLE
    assert rig.of(AvailabilityChanged)[-1].scheduled is False
    rig.plug()  # an inoperative connector starts nothing
    assert rig.tx() is None and rig.status() is S.UNAVAILABLE
    assert rig.station.change_availability(1, Availability.OPERATIVE) == "Accepted"
    rig.run(1)
    assert rig.status() is S.PREPARING


def test_inoperative_on_connector_zero_applies_to_all() -> None:
    rig = Rig(2)
    assert rig.station.change_availability(0, INOP) == "Accepted"
    rig.run(1)
    assert [rig.status(cid) for cid in (0, 1, 2)] == [S.UNAVAILABLE] * 3
    assert rig.station.change_availability(0, Availability.OPERATIVE) == "Accepted"
    rig.run(1)
    assert [rig.status(cid) for cid in (0, 1, 2)] == [S.AVAILABLE] * 3


def test_inoperative_on_connector_zero_schedules_the_busy_connector_only() -> None:
    rig = Rig(2)
    rig.plug(1)
    assert rig.station.change_availability(0, INOP) == "Scheduled"
    rig.run(1)
    assert (rig.status(1), rig.status(2)) == (S.CHARGING, S.UNAVAILABLE)
    rig.station.stop_transaction(1)
    rig.run(1)
    assert rig.status(1) is S.UNAVAILABLE


def test_change_availability_unknown_connector_is_rejected() -> None:
    assert Rig(1).station.change_availability(7, INOP) == "Rejected"


# ------------------------------------------------------------------ remote control


def test_remote_start_and_remote_stop_by_remote_id() -> None:
    rig = rfid()
    assert rig.station.remote_start("REMOTE", 1)
    rig.run(1)
    assert rig.status() is S.PREPARING
    rig.plug()
    tx = rig.tx()
    assert tx.id_tag == "REMOTE" and rig.status() is S.CHARGING
    rig.station.transaction_confirmed(tx.local_id, 4711, ACCEPTED)
    assert rig.tx().remote_id == 4711
    assert not rig.station.remote_stop(4712)
    assert rig.station.remote_stop(4711)
    rig.run(1)
    stop = rig.stopped()
    assert (stop.local_id, stop.reason) == (tx.local_id, StopReason.REMOTE)
    assert rig.status() is S.FINISHING


def test_remote_start_with_car_already_plugged_starts_at_once() -> None:
    rig = rfid()
    rig.plug(2)
    assert rig.station.remote_start("REMOTE")  # no connector given: the plugged one
    assert rig.tx(2).id_tag == "REMOTE"


def test_remote_start_rejected_on_unknown_or_busy_connector() -> None:
    rig = rfid()
    assert not rig.station.remote_start("REMOTE", 9)
    assert rig.station.remote_start("REMOTE", 1)
    assert not rig.station.remote_start("OTHER", 1)  # already authorized
    rig.plug(1)
    assert not rig.station.remote_start("OTHER", 1)  # transaction running
    rig.sim.raise_fault(2, "ground_failure")
    rig.run(1)
    assert not rig.station.remote_start("OTHER", 2)  # faulted
    assert len(rig.of(TransactionStarted)) == 1


def test_authorize_remote_tx_requests_asks_the_central_system() -> None:
    rig = online(config={"AuthorizeRemoteTxRequests": "true"})
    assert rig.station.remote_start("REMOTE", 1)
    assert [e.id_tag for e in rig.of(AuthorizationRequested)] == ["REMOTE"]
    rig.run(1)
    assert rig.status() is S.PREPARING
    rig.station.authorization_result("REMOTE", ACCEPTED)
    assert rig.sources.cached["REMOTE"] == ACCEPTED  # every answer updates the cache
    rig.plug()
    assert rig.tx().id_tag == "REMOTE"


def test_authorize_remote_tx_requests_rejected() -> None:
    rig = online(config={"AuthorizeRemoteTxRequests": "true"})
    assert rig.station.remote_start("REMOTE", 1)
    rig.station.authorization_result("REMOTE", IdTagInfo(AuthorizationStatus.BLOCKED))
    [decided] = rig.of(AuthorizationDecided)
    assert decided.info.status is AuthorizationStatus.BLOCKED
    rig.run(1)
    assert rig.status() is S.AVAILABLE
    rig.plug()
    assert rig.tx() is None


# ------------------------------------------------------ central-system authorization


def test_online_token_is_asked_then_accepted() -> None:
    rig = online()
    rig.plug()
    rig.station.present_token("TAG")
    assert [e.id_tag for e in rig.of(AuthorizationRequested)] == ["TAG"]
    assert rig.tx() is None
    rig.station.authorization_result("TAG", ACCEPTED)
    assert rig.tx().id_tag == "TAG"
    [decided] = rig.of(AuthorizationDecided)
    assert decided.source == "backend"


def test_online_token_expired_answer_is_refused() -> None:
    rig = online()
    rig.plug()
    rig.station.present_token("TAG")
    past = IdTagInfo(AuthorizationStatus.ACCEPTED, rig.clock.time() - 1)
    rig.station.authorization_result("TAG", past)
    assert rig.tx() is None


def test_going_offline_decides_pending_tokens_offline() -> None:
    rig = online()
    rig.sources.local["LISTED"] = ACCEPTED
    rig.plug(1)
    rig.plug(2)
    rig.station.present_token("LISTED", 1)
    rig.station.present_token("STRANGER", 2)
    assert len(rig.of(AuthorizationRequested)) == 2
    rig.station.set_online(False)
    assert rig.tx(1).id_tag == "LISTED"  # LocalAuthorizeOffline (default true)
    assert rig.tx(2) is None  # AllowOfflineTxForUnknownId (default false)
    rig.station.authorization_result("STRANGER", ACCEPTED)  # too late: nothing pending
    assert rig.tx(2) is None


def test_offline_unknown_id_allowed() -> None:
    rig = online(config={"AllowOfflineTxForUnknownId": "true"})
    rig.station.set_online(False)
    rig.plug()
    rig.station.present_token("STRANGER")
    assert rig.tx().id_tag == "STRANGER" and rig.of(AuthorizationRequested) == []


def test_invalid_id_with_stop_on_invalid_id_deauthorizes() -> None:
    rig = online()
    rig.plug()
    rig.station.present_token("TAG")
    rig.station.authorization_result("TAG", ACCEPTED)
    rig.run(5)
    rig.station.transaction_confirmed(rig.tx().local_id, 99, INVALID)
    rig.run(1)
    stop = rig.stopped()
    assert stop.reason is StopReason.DE_AUTHORIZED
    assert rig.sources.cached["TAG"] == INVALID
    assert rig.status() is S.FINISHING


def test_invalid_id_without_stop_suspends_after_max_energy() -> None:
    rig = Rig(1, config={"StopTransactionOnInvalidId": "false", "MaxEnergyOnInvalidId": "100"})
    rig.plug()
    rig.run(10)
    rig.station.transaction_confirmed(rig.tx().local_id, 5, INVALID)
    start_wh = rig.sim.connectors[1].energy_wh
    rig.run(30)  # 11 kW: 100 Wh take about 33 s
    assert rig.status() is S.CHARGING
    rig.run(10)
    assert rig.status() is S.SUSPENDED_EVSE
    assert rig.tx() is not None and rig.of(TransactionStopped) == []
    delivered = rig.sim.connectors[1].energy_wh - start_wh
    assert 100 <= delivered < 100 + 11040 / 3600 * 2  # at most one tick beyond the budget
    assert rig.sim.connectors[1].offered_a == 0 and not rig.sim.connectors[1].contactor


# --------------------------------------------------------------------- reset, boot


def test_soft_reset_stops_transactions_and_requests_reset() -> None:
    rig = Rig(2)
    rig.plug(1)
    rig.plug(2)
    rig.station.reset("Soft")
    stops = rig.of(TransactionStopped)
    assert {(s.connector_id, s.reason) for s in stops} == {
        (1, StopReason.SOFT_RESET),
        (2, StopReason.SOFT_RESET),
    }
    assert rig.events[-1] == ResetRequested(rig.clock.time(), "Soft")
    assert all(r.stop is not None for r in rig.journal.records.values())


def test_hard_reset_reason() -> None:
    rig = Rig(1)
    rig.plug()
    rig.station.reset("Hard")
    assert rig.stopped().reason is StopReason.HARD_RESET


def test_boot_closes_journal_transaction_with_power_loss() -> None:
    journal = Journal()
    start = 1_767_225_000.0
    local_id = journal.create(1, "CARD", 1000, iso(start))
    journal.update_meter(local_id, 1500, iso(start + 300))
    rig = Rig(1, journal=journal)
    stop = rig.stopped()
    assert (stop.local_id, stop.connector_id, stop.meter_stop_wh) == (local_id, 1, 1500)
    assert stop.reason is StopReason.POWER_LOSS and stop.recovered
    assert stop.timestamp == start + 300
    assert journal.records[local_id].stop == (1500, iso(start + 300), "PowerLoss", None)
    assert journal.open_transactions() == []
    assert rig.status() is S.AVAILABLE


def test_boot_without_meter_update_uses_meter_start() -> None:
    journal = Journal()
    journal.create(1, "CARD", 1000, iso(1_767_225_000.0))
    rig = Rig(1, journal=journal)
    assert rig.stopped().meter_stop_wh == 1000
