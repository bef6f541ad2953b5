"""Reservations in the core (OCPP 1.6 §5.13): manual clock, simulated hardware, no I/O."""

from __future__ import annotations

from chargebox.core.events import AuthorizationDecided, TransactionStarted
from chargebox.core.reservations import Reservation, ReservationChanged, ReservationStatus
from chargebox.core.types import AuthorizationStatus, Availability, ChargePointStatus, IdTagInfo
from chargebox.store import Database, ReservationStore
from tests.test_core_rig import ACCEPTED, Rig, online, rfid

S = ChargePointStatus
R = ReservationStatus
HOUR = 3600.0


def reserve(rig: Rig, cid: int, tag: str = "CARD", rid: int = 1, parent: str | None = None) -> R:
    return rig.station.reservations.reserve(cid, rig.clock.time() + HOUR, tag, rid, parent)


def changes(rig: Rig) -> list[tuple[int, bool, str]]:
    return [(e.reservation.reservation_id, e.active, e.reason) for e in rig.of(ReservationChanged)]


# ------------------------------------------------------------------ ReserveNow answers


def test_reserved_connector_shows_reserved_and_expires() -> None:
    rig = rfid()
    assert reserve(rig, 1) is R.ACCEPTED
    rig.run(1)
    assert rig.status(1) is S.RESERVED and rig.status(2) is S.AVAILABLE
    rig.run(HOUR - 60, dt=60)  # 59 minutes
    assert rig.status(1) is S.RESERVED
    rig.run(60)
    assert rig.status(1) is S.AVAILABLE
    assert changes(rig) == [(1, True, "reserved"), (1, False, "expired")]


def test_reserve_answers_faulted_occupied_unavailable_rejected() -> None:
    rig = rfid(connectors=3)
    rig.sim.raise_fault(1, "ground_failure")
    rig.plug(2)
    rig.station.change_availability(3, Availability.INOPERATIVE)
    rig.run(1)
    assert reserve(rig, 1) is R.FAULTED
    assert reserve(rig, 2) is R.OCCUPIED
    assert reserve(rig, 3) is R.UNAVAILABLE
    assert reserve(rig, 9) is R.REJECTED  # no such connector
    assert rig.of(ReservationChanged) == []


def test_reservations_disabled_or_already_expired_are_rejected() -> None:
    rig = rfid(config={"ReservationEnabled": "false"})
    assert reserve(rig, 1) is R.REJECTED
    rig = rfid()
    assert rig.station.reservations.reserve(1, rig.clock.time(), "CARD", 1) is R.REJECTED


def test_pending_authorization_or_other_reservation_is_occupied() -> None:
    rig = rfid()
    rig.station.present_token("CARD", 1)  # identification first: waiting for the car
    assert reserve(rig, 1) is R.OCCUPIED
    assert reserve(rig, 2, rid=1) is R.ACCEPTED
    assert reserve(rig, 2, tag="OTHER", rid=2) is R.OCCUPIED  # reserved for another id
    assert reserve(rig, 2, tag="CARD", rid=3) is R.OCCUPIED  # ... or the same idTag


def test_same_reservation_id_replaces_the_reservation() -> None:
    rig = rfid()
    assert reserve(rig, 1, tag="A", rid=7) is R.ACCEPTED
    assert reserve(rig, 2, tag="B", rid=7) is R.ACCEPTED
    rig.run(1)
    assert (rig.status(1), rig.status(2)) == (S.AVAILABLE, S.RESERVED)
    assert rig.station.reservations.all() == [Reservation(7, 2, "B", rig.clock.time() - 1 + HOUR)]


def test_cancel_reservation() -> None:
    rig = rfid()
    reserve(rig, 1, rid=5)
    rig.run(1)
    assert not rig.station.reservations.cancel(6)
    assert rig.station.reservations.cancel(5)
    rig.run(1)
    assert rig.statuses(1)[-2:] == [S.RESERVED, S.AVAILABLE]
    assert changes(rig)[-1] == (5, False, "cancelled")


def test_fault_or_unavailability_ends_the_reservation() -> None:
    rig = rfid()
    reserve(rig, 1, rid=1)
    reserve(rig, 2, rid=2)
    rig.sim.raise_fault(1, "ground_failure")
    rig.station.change_availability(2, Availability.INOPERATIVE)
    rig.run(1)
    assert rig.station.reservations.all() == []
    rig.sim.clear_fault(1, "ground_failure")
    rig.run(1)
    assert rig.status(1) is S.AVAILABLE


# ------------------------------------------------------------------ using a reservation


def test_only_the_reserved_id_starts_and_the_transaction_carries_the_reservation() -> None:
    rig = rfid()
    assert reserve(rig, 1, tag="CARD", rid=42) is R.ACCEPTED
    rig.plug(1)
    rig.station.present_token("OTHER", 1)
    assert rig.tx() is None
    assert rig.of(AuthorizationDecided)[-1].source == "reserved"
    rig.station.present_token("CARD", 1)
    assert rig.tx().reservation_id == 42
    [started] = rig.of(TransactionStarted)
    assert started.reservation_id == 42
    assert rig.journal.records[1].reservation_id == 42
    assert rig.station.reservations.all() == []
    assert changes(rig)[-1] == (42, False, "used")


def test_reserved_id_elsewhere_starts_without_the_reservation() -> None:
    rig = rfid()
    reserve(rig, 1, tag="CARD", rid=1)
    rig.plug(2)
    rig.station.present_token("CARD", 2)
    assert rig.tx(2).reservation_id is None
    rig.run(1)
    assert rig.status(1) is S.RESERVED  # the reservation still holds connector 1


def other_card_at_reserved_connector(tag: str, parent: str) -> Rig:
    """Connector 1 reserved for CARD (reservation 3, parentIdTag FLEET), the car plugged in;
    `tag` is presented and the central system accepts it with parentIdTag `parent`."""
    rig = online()
    reserve(rig, 1, tag="CARD", rid=3, parent="FLEET")
    rig.plug(1)
    rig.station.present_token(tag, 1)
    rig.station.authorization_result(tag, IdTagInfo(AuthorizationStatus.ACCEPTED, None, parent))
    return rig


def test_parent_id_tag_learned_from_authorize_matches() -> None:
    rig = other_card_at_reserved_connector("COLLEAGUE", "FLEET")
    assert rig.tx().id_tag == "COLLEAGUE" and rig.tx().reservation_id == 3


def test_other_parent_id_tag_is_refused() -> None:
    rig = other_card_at_reserved_connector("STRANGER", "OTHER_FLEET")
    assert rig.tx() is None
    assert rig.station.reservations.get(3) is not None


def test_remote_start_for_the_reserved_id_only() -> None:
    rig = rfid()
    reserve(rig, 1, tag="CARD", rid=9)
    assert not rig.station.remote_start("OTHER", 1)
    assert rig.station.remote_start("CARD", 1)
    rig.plug(1)
    assert rig.tx().reservation_id == 9


def test_card_without_connector_goes_to_its_reserved_connector() -> None:
    rig = rfid()
    reserve(rig, 2, tag="CARD", rid=1)
    rig.station.present_token("OTHER")  # not to the reserved connector
    assert rig.station.connectors[1].authorization is not None
    rig.station.present_token("OTHER")  # cancels its waiting session
    rig.station.present_token("CARD")
    assert rig.station.connectors[2].authorization is not None


# ------------------------------------------------------------------ connector 0


def test_connector_zero_keeps_one_connector_for_the_id() -> None:
    rig = rfid()
    assert reserve(rig, 0, tag="CARD", rid=1) is R.ACCEPTED
    rig.run(1)
    assert (rig.status(1), rig.status(2)) == (S.AVAILABLE, S.AVAILABLE)
    rig.plug(1)
    rig.station.present_token("OTHER", 1)
    assert rig.tx(1).id_tag == "OTHER" and rig.tx(1).reservation_id is None
    rig.run(1)
    assert rig.status(2) is S.RESERVED  # the last free connector is held
    rig.plug(2)
    rig.station.present_token("STRANGER", 2)
    assert rig.tx(2) is None
    rig.station.present_token("CARD", 2)
    assert rig.tx(2).reservation_id == 1
    assert rig.station.reservations.all() == []


def test_connector_zero_answers() -> None:
    rig = rfid(config={"ReserveConnectorZeroSupported": "false"})
    assert reserve(rig, 0) is R.REJECTED
    rig = rfid()
    rig.plug(1)
    rig.plug(2)
    assert reserve(rig, 0) is R.OCCUPIED
    rig = rfid()
    rig.station.change_availability(0, Availability.INOPERATIVE)
    rig.run(1)
    assert reserve(rig, 0) is R.UNAVAILABLE
    rig = rfid()
    rig.sim.raise_fault(0, "phase_loss")
    rig.station.set_station_faults(rig.sim.station_faults)
    rig.run(1)
    assert reserve(rig, 0) is R.FAULTED
    rig = rfid()
    assert reserve(rig, 0, rid=1) is R.ACCEPTED
    assert reserve(rig, 0, rid=2) is R.ACCEPTED  # two connectors, two reservations
    assert reserve(rig, 0, rid=3) is R.OCCUPIED
    assert reserve(rig, 1, rid=4) is R.OCCUPIED  # both connectors are promised


def test_connector_zero_reservation_blocks_a_specific_one_when_it_is_the_last() -> None:
    rig = rfid(connectors=1)
    assert reserve(rig, 0, rid=1) is R.ACCEPTED
    rig.run(1)
    assert rig.status(1) is S.RESERVED


# ------------------------------------------------------------------ restart


def test_restored_reservations_hold_and_expired_ones_end_at_boot() -> None:
    rig = rfid()
    now = rig.clock.time()
    live = Reservation(1, 1, "CARD", now + HOUR)
    dead = Reservation(2, 2, "CARD", now - 1)
    station = rig.station
    # As the app does: the station is built with what the store kept, then boots.
    station.reservations = type(station.reservations)(station, [live, dead])
    rig.events.clear()
    station.boot()
    assert station.reservations.all() == [live]
    assert changes(rig) == [(2, False, "expired")]
    rig.run(1)
    assert rig.status(1) is S.RESERVED


def test_accepted_everywhere_when_nothing_is_reserved() -> None:
    rig = rfid()
    rig.sources.white["X"] = ACCEPTED
    rig.plug(1)
    rig.station.present_token("X", 1)
    assert rig.tx().reservation_id is None


def test_store_keeps_reservations() -> None:
    with Database.memory() as db:
        store = ReservationStore(db)
        r = Reservation(3, 0, "CARD", 1_767_225_600.5, "FLEET")
        store.save(r)
        store.save(Reservation(4, 1, "X", 1_767_225_700.0))
        store.save(Reservation(4, 2, "Y", 1_767_225_800.0))  # same id replaces
        assert store.all() == [r, Reservation(4, 2, "Y", 1_767_225_800.0)]
        assert store.delete(3) and not store.delete(3)
        assert len(store) == 1
