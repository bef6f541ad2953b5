"""OCTT 1.6 charge-point test cases, section 2.20 (Reservation).

A real `chargebox run` process against the test CSMS: ReserveNow / CancelReservation
answers, StatusNotification Reserved / Available, StartTransaction.reservationId, and a
reservation that survives a restart.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ocpp.v16 import call
from tests.conftest import StationFactory
from tests.csms import StationProcess, TestCSMS
from tests.octt.test_octt_2_01_to_2_05 import actions, answered, index_of, status_at
from tests.octt.test_octt_2_17 import restart

TAG = "TAG1"


def expiry(seconds: float = 3600) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=seconds)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def reserve(
    csms: TestCSMS,
    connector_id: int,
    reservation_id: int = 1,
    id_tag: str = TAG,
    seconds: float = 3600,
    parent: str | None = None,
) -> str:
    result = await csms.call(
        call.ReserveNow(
            connector_id=connector_id,
            expiry_date=expiry(seconds),
            id_tag=id_tag,
            reservation_id=reservation_id,
            parent_id_tag=parent,
        )
    )
    return str(result["status"])


async def reserved(csms: TestCSMS, connector_id: int, after: int) -> int:
    """ReserveNow.conf first, then StatusNotification(Reserved): the frame index of the latter."""
    return await status_at(csms, connector_id, "Reserved", after)


async def reserve_accepted(csms: TestCSMS, connector_id: int, **kwargs: Any) -> int:
    """ReserveNow Accepted, then StatusNotification(Reserved): the frame index of the latter."""
    start = len(csms.frames)
    assert await reserve(csms, connector_id, **kwargs) == "Accepted"
    return await reserved(csms, connector_id, start)


async def reserve_refused_when_faulted(
    station: StationProcess, csms: TestCSMS, connector_id: int, code: str
) -> None:
    await station.fault(connector_id, code)
    await status_at(csms, connector_id, "Faulted")
    assert await reserve(csms, connector_id) == "Faulted"


async def reserve_refused_when_unavailable(csms: TestCSMS, connector_id: int) -> None:
    result = await csms.call(call.ChangeAvailability(connector_id=connector_id, type="Inoperative"))
    assert result["status"] == "Accepted"
    await status_at(csms, connector_id, "Unavailable")
    assert await reserve(csms, connector_id) == "Unavailable"


async def start_reserved(
    station: StationProcess,
    csms: TestCSMS,
    connector_id: int,
    id_tag: str,
    after: int | None = None,
) -> dict[str, Any]:
    """The card, then the car: StartTransaction (returned) between Preparing and Charging.

    The frames looked at start at `after`, by default at the frames seen so far.
    """
    if after is None:
        after = len(csms.frames)
    await station.present(id_tag, connector_id)
    await station.plug(connector_id)
    preparing = await status_at(csms, connector_id, "Preparing", after)
    tx = await index_of(csms, "StartTransaction", {"connectorId": connector_id}, after)
    charging = await status_at(csms, connector_id, "Charging", after)
    assert preparing < tx < charging
    return csms.frames[tx].payload


# ------------------------------------------------------------------ a connector


async def test_tc_046_1_cs_reservation_of_a_connector_local_start_transaction(
    station: StationProcess, csms: TestCSMS
) -> None:
    await reserve_accepted(csms, 1, reservation_id=11)
    tx = await start_reserved(station, csms, 1, TAG)
    assert tx["idTag"] == TAG and tx["reservationId"] == 11
    assert await station.wait_status(1, "Charging")


async def test_tc_046_2_cs_reservation_of_a_connector_remote_start_transaction(
    station: StationProcess, csms: TestCSMS
) -> None:
    start = len(csms.frames)
    assert await reserve(csms, 1, reservation_id=12) == "Accepted"
    await reserved(csms, 1, start)
    # Another idTag may not take the reserved connector remotely; the reserved one may.
    other = await csms.call(call.RemoteStartTransaction(id_tag="OTHER", connector_id=1))
    assert other["status"] == "Rejected"
    ok = await csms.call(call.RemoteStartTransaction(id_tag=TAG, connector_id=1))
    assert ok["status"] == "Accepted"
    await station.plug(1)
    tx = await index_of(csms, "StartTransaction", {"connectorId": 1, "idTag": TAG}, start)
    assert csms.frames[tx].payload["reservationId"] == 12
    await status_at(csms, 1, "Charging", start)


async def test_tc_047_cs_reservation_of_a_connector_expire(
    station: StationProcess, csms: TestCSMS
) -> None:
    first = await reserve_accepted(csms, 1, seconds=2)
    back = await status_at(csms, 1, "Available", first, timeout=6)
    gap = csms.frames[back].at - csms.frames[first].at
    assert 1.0 <= gap <= 4.0, gap
    # Expired: anybody may use the connector again.
    tx = await start_reserved(station, csms, 1, "OTHER")
    assert "reservationId" not in tx


async def test_tc_048_1_cs_reservation_of_a_connector_faulted(
    station: StationProcess, csms: TestCSMS
) -> None:
    await reserve_refused_when_faulted(station, csms, 1, "ground_failure")


async def test_tc_048_2_cs_reservation_of_a_connector_occupied(
    station: StationProcess, csms: TestCSMS
) -> None:
    await station.plug(1)
    await status_at(csms, 1, "Preparing")
    assert await reserve(csms, 1, reservation_id=1) == "Occupied"
    # A connector reserved for another reservation is occupied too.
    await reserve_accepted(csms, 2, reservation_id=2)
    assert await reserve(csms, 2, reservation_id=3, id_tag="OTHER") == "Occupied"


async def test_tc_048_3_cs_reservation_of_a_connector_unavailable(
    station: StationProcess, csms: TestCSMS
) -> None:
    await reserve_refused_when_unavailable(csms, 1)


async def test_tc_048_4_cs_reservation_of_a_connector_rejected(
    station_factory: StationFactory, csms: TestCSMS
) -> None:
    """The station is configured not to take reservations (vendor key ReservationEnabled)."""
    await station_factory(keys={"ReservationEnabled": "false"})
    start = len(csms.frames)
    assert await reserve(csms, 1) == "Rejected"
    assert await reserve(csms, 0) == "Rejected"
    assert "StatusNotification" not in actions(csms, start)


# ------------------------------------------------------------------ the charge point (0)


async def test_tc_049_cs_reservation_of_a_charge_point_transaction(
    station: StationProcess, csms: TestCSMS
) -> None:
    start = len(csms.frames)
    assert await reserve(csms, 0, reservation_id=21) == "Accepted"
    # Two free connectors: one stays free for TAG1, so both still show Available.
    assert "StatusNotification" not in actions(csms, start)
    tx = await start_reserved(station, csms, 2, TAG, start)
    assert tx["idTag"] == TAG and tx["reservationId"] == 21


async def test_tc_049_cs_reservation_of_a_charge_point_holds_the_last_connector(
    station: StationProcess, csms: TestCSMS
) -> None:
    assert await reserve(csms, 0, reservation_id=22) == "Accepted"
    start = len(csms.frames)
    other = await start_reserved(station, csms, 1, "OTHER", start)
    assert "reservationId" not in other
    await reserved(csms, 2, start)  # the last free connector is kept for TAG1
    tx = await start_reserved(station, csms, 2, TAG)
    assert tx["reservationId"] == 22


async def test_tc_050_1_cs_reservation_of_a_charge_point_faulted(
    station: StationProcess, csms: TestCSMS
) -> None:
    await reserve_refused_when_faulted(station, csms, 0, "phase_loss")


async def test_tc_050_2_cs_reservation_of_a_charge_point_occupied(
    station: StationProcess, csms: TestCSMS
) -> None:
    await station.plug(1)
    await station.plug(2)
    await status_at(csms, 1, "Preparing")
    await status_at(csms, 2, "Preparing")
    assert await reserve(csms, 0) == "Occupied"


async def test_tc_050_3_cs_reservation_of_a_charge_point_unavailable(
    station: StationProcess, csms: TestCSMS
) -> None:
    await reserve_refused_when_unavailable(csms, 0)


async def test_tc_050_4_cs_reservation_of_a_charge_point_rejected(
    station_factory: StationFactory, csms: TestCSMS
) -> None:
    await station_factory(keys={"ReserveConnectorZeroSupported": "false"})
    assert await reserve(csms, 0) == "Rejected"
    assert await reserve(csms, 1) == "Accepted"  # a specific connector still may be


# ------------------------------------------------------------------ cancel, parentIdTag


async def test_tc_051_cs_cancel_reservation(station: StationProcess, csms: TestCSMS) -> None:
    first = await reserve_accepted(csms, 1, reservation_id=31)
    result = await csms.call(call.CancelReservation(reservation_id=31))
    assert result["status"] == "Accepted"
    await status_at(csms, 1, "Available", first)
    # The connector is anybody's again.
    tx = await start_reserved(station, csms, 1, "OTHER")
    assert "reservationId" not in tx


async def test_tc_052_cs_cancel_reservation_rejected(
    station: StationProcess, csms: TestCSMS
) -> None:
    result = await csms.call(call.CancelReservation(reservation_id=99))
    assert result["status"] == "Rejected"


async def test_tc_053_cs_use_a_reserved_connector_with_parent_id_tag(
    station: StationProcess, csms: TestCSMS
) -> None:
    """TAG2 is unknown locally: Authorize.conf tells its parentIdTag, which matches."""
    csms.id_tags["TAG2"] = {"status": "Accepted", "parentIdTag": "PARENT"}
    csms.id_tags["TAG3"] = {"status": "Accepted", "parentIdTag": "OTHER_PARENT"}
    await reserve_accepted(csms, 1, reservation_id=41, parent="PARENT")
    after = len(csms.frames)
    await station.plug(1)
    await station.present("TAG3", 1)  # another parent: refused
    auth3 = await index_of(csms, "Authorize", {"idTag": "TAG3"}, after)
    await answered(csms, auth3)
    await station.present("TAG2", 1)
    auth2 = await index_of(csms, "Authorize", {"idTag": "TAG2"}, after)
    tx = await index_of(csms, "StartTransaction", {"connectorId": 1}, after)
    assert auth2 < tx
    payload = csms.frames[tx].payload
    assert payload["idTag"] == "TAG2" and payload["reservationId"] == 41
    assert len(csms.calls("StartTransaction")) == 1


# ------------------------------------------------------------------ persistence


async def test_tc_046_1_cs_reservation_survives_a_restart(
    station: StationProcess, csms: TestCSMS
) -> None:
    start = len(csms.frames)
    assert await reserve(csms, 1, reservation_id=51) == "Accepted"
    assert await reserve(csms, 2, reservation_id=52, seconds=1) == "Accepted"
    await reserved(csms, 1, start)
    before = len(csms.frames)
    await restart(station, csms)
    boot = await index_of(csms, "BootNotification", after=before)
    await status_at(csms, 1, "Reserved", boot)
    await status_at(csms, 2, "Available", boot)  # expired meanwhile: dropped
    tx = await start_reserved(station, csms, 1, TAG)
    assert tx["reservationId"] == 51
