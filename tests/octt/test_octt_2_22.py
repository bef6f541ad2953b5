"""OCTT 1.6 charge-point test cases, section 2.22 Smart Charging (TC_056 … TC_060, TC_082).

Each test runs a real `chargebox run` process against the test CSMS. Besides the answers
OCTT checks, they show through the control API that a profile visibly changes the current
the car is offered (`current_limit_a`, `limiting_source == "smart_charging"`).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from ocpp.v16 import call
from tests.conftest import StationFactory
from tests.csms import StationProcess, TestCSMS, ts

TAG = "TAG1"
TX_ID = 1001  # the first transactionId the test CSMS hands out
KEYS = {"AuthorizeRemoteTxRequests": "false"}


def stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def profile(
    pid: int,
    purpose: str,
    periods: list[tuple[int, float]],
    *,
    level: int = 0,
    start: float | None = None,
    kind: str = "Absolute",
    duration: int | None = None,
    transaction_id: int | None = None,
) -> dict[str, Any]:
    schedule: dict[str, Any] = {
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": s, "limit": a} for s, a in periods],
    }
    if kind != "Relative":
        schedule["startSchedule"] = stamp(start if start is not None else time.time())
    if duration is not None:
        schedule["duration"] = duration
    out: dict[str, Any] = {
        "chargingProfileId": pid,
        "stackLevel": level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": schedule,
    }
    if transaction_id is not None:
        out["transactionId"] = transaction_id
    return out


async def set_profile(csms: TestCSMS, connector_id: int, p: dict[str, Any]) -> str:
    result = await csms.call(
        call.SetChargingProfile(connector_id=connector_id, cs_charging_profiles=p)
    )
    return str(result["status"])


async def composite(csms: TestCSMS, connector_id: int, duration: int) -> dict[str, Any]:
    return await csms.call(
        call.GetCompositeSchedule(
            connector_id=connector_id, duration=duration, charging_rate_unit="A"
        )
    )


async def session(station: StationProcess, csms: TestCSMS) -> None:
    """Plug, then the card: transaction TX_ID charging on connector 1."""
    await station.plug(1)
    await station.present(TAG, 1)
    await csms.wait_for("StartTransaction", {"connectorId": 1})
    await station.wait_status(1, "Charging")
    for _ in range(100):
        if (await station.status(1))["transaction_id"] == TX_ID:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the station never learned the transactionId")


async def offered(station: StationProcess, amps: float, timeout: float = 3.0) -> float:
    """Wait until the car is offered `amps` because of smart charging; seconds it took."""
    start = time.monotonic()
    while True:
        s = await station.status(1)
        want_smart = amps != 32
        if (
            s["current_limit_a"] == amps
            and (s["limiting_source"] == "smart_charging") == want_smart
        ):
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"connector 1 offers {s['current_limit_a']} A ({s}), not {amps}")
        await asyncio.sleep(0.05)


# ---------------------------------------------------------------- TxDefault / TxProfile


async def test_tc_056_cs_central_smart_charging_tx_default_profile(
    station_factory: StationFactory, csms: TestCSMS
) -> None:
    station = await station_factory(keys=KEYS)
    p = profile(1, "TxDefaultProfile", [(0, 10)], start=time.time() - 60)
    assert await set_profile(csms, 1, p) == "Accepted"
    await session(station, csms)
    await offered(station, 10)
    got = await composite(csms, 1, 60)
    assert got["status"] == "Accepted"
    assert got["chargingSchedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 10}]


async def test_tc_057_cs_central_smart_charging_tx_profile(
    station_factory: StationFactory, csms: TestCSMS
) -> None:
    station = await station_factory(keys=KEYS)
    await session(station, csms)
    await offered(station, 32)
    p = profile(2, "TxProfile", [(0, 8)], transaction_id=TX_ID)
    assert await set_profile(csms, 1, p) == "Accepted"
    took = await offered(station, 8)
    assert took < 1.0


async def test_tc_058_1_cs_central_smart_charging_no_ongoing_transaction(
    station_factory: StationFactory, csms: TestCSMS
) -> None:
    station = await station_factory(keys=KEYS)
    p = profile(3, "TxProfile", [(0, 8)], transaction_id=TX_ID)
    assert await set_profile(csms, 1, p) == "Rejected"
    assert (await station.status(1))["limiting_source"] != "smart_charging"
    # A ChargePointMaxProfile only on connector 0, a TxProfile never there.
    assert await set_profile(csms, 1, profile(4, "ChargePointMaxProfile", [(0, 8)])) == "Rejected"
    assert await set_profile(csms, 0, profile(5, "TxProfile", [(0, 8)])) == "Rejected"


async def test_tc_058_2_cs_central_smart_charging_wrong_transaction_id(
    station_factory: StationFactory, csms: TestCSMS
) -> None:
    station = await station_factory(keys=KEYS)
    await session(station, csms)
    p = profile(3, "TxProfile", [(0, 8)], transaction_id=TX_ID + 7)
    assert await set_profile(csms, 1, p) == "Rejected"
    await asyncio.sleep(0.3)
    assert (await station.status(1))["limiting_source"] != "smart_charging"


async def test_tc_082_cs_central_smart_charging_tx_default_profile_with_ongoing_transaction(
    station_factory: StationFactory, csms: TestCSMS
) -> None:
    station = await station_factory(keys=KEYS)
    await session(station, csms)
    p = profile(1, "TxDefaultProfile", [(0, 7)], start=time.time() - 5)
    assert await set_profile(csms, 0, p) == "Accepted"
    await offered(station, 7)


# ---------------------------------------------------------------- composite, clear, stacking


async def test_tc_066_cs_get_composite_schedule(
    station_factory: StationFactory, csms: TestCSMS
) -> None:
    station = await station_factory(keys=KEYS)
    await session(station, csms)
    now = time.time()
    cp_max = profile(1, "ChargePointMaxProfile", [(0, 10)], start=now, duration=86400)
    assert await set_profile(csms, 0, cp_max) == "Accepted"
    default = [(0, 6), (60, 10), (120, 8), (180, 15), (260, 8)]
    assert await set_profile(csms, 1, profile(2, "TxDefaultProfile", default)) == "Accepted"
    tx = profile(3, "TxProfile", [(0, 8), (50, 11), (140, 16), (200, 6), (240, 12)])
    tx["transactionId"] = TX_ID
    tx_start = ts(tx["chargingSchedule"]["startSchedule"])
    assert await set_profile(csms, 1, tx) == "Accepted"
    await asyncio.sleep(1.2)  # a real delay x between the TxProfile and scheduleStart
    got = await composite(csms, 1, 400)
    assert got["status"] == "Accepted" and got["connectorId"] == 1
    x = int(ts(got["scheduleStart"]) - int(tx_start))
    assert 1 <= x <= 3
    schedule = got["chargingSchedule"]
    assert schedule["duration"] == 400 and schedule["chargingRateUnit"] == "A"
    assert schedule["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 8},
        {"startPeriod": 50 - x, "limit": 10},
        {"startPeriod": 200 - x, "limit": 6},
        {"startPeriod": 240 - x, "limit": 10},
    ]
    await offered(station, 8)
    assert (await composite(csms, 3, 60))["status"] == "Rejected"  # no connector 3


async def test_tc_067_cs_clear_charging_profile(
    station_factory: StationFactory, csms: TestCSMS
) -> None:
    station = await station_factory(keys=KEYS)
    await session(station, csms)
    assert await set_profile(csms, 1, profile(5, "TxProfile", [(0, 9)])) == "Accepted"
    await offered(station, 9)
    result = await csms.call(call.ClearChargingProfile(id=5))
    assert result["status"] == "Accepted"
    await offered(station, 32)
    assert (await csms.call(call.ClearChargingProfile(id=5)))["status"] == "Unknown"
    # By filters: purpose and stack level.
    assert await set_profile(csms, 0, profile(6, "ChargePointMaxProfile", [(0, 20)])) == "Accepted"
    by_filter = call.ClearChargingProfile(
        charging_profile_purpose="ChargePointMaxProfile", stack_level=0
    )
    assert (await csms.call(by_filter))["status"] == "Accepted"
    assert (await csms.call(call.ClearChargingProfile()))["status"] == "Unknown"


async def test_tc_072_cs_stacking_charging_profiles(
    station_factory: StationFactory, csms: TestCSMS
) -> None:
    station = await station_factory(keys=KEYS)
    await session(station, csms)
    now = time.time()
    base = profile(1, "TxDefaultProfile", [(0, 10)], start=now - 10)
    top = profile(2, "TxDefaultProfile", [(0, 6)], level=1, start=now - 10, duration=14)
    assert await set_profile(csms, 1, base) == "Accepted"
    assert await set_profile(csms, 1, top) == "Accepted"
    got = await composite(csms, 1, 30)
    periods = got["chargingSchedule"]["chargingSchedulePeriod"]
    assert [p["limit"] for p in periods] == [6, 10]
    change_at = ts(got["scheduleStart"]) + periods[1]["startPeriod"]
    await offered(station, 6)
    # The higher stack level ends: the car gets the lower one's 10 A within a second.
    await offered(station, 10, timeout=max(0.0, change_at - time.time()) + 3)
    assert time.time() - change_at < 1.0


# ---------------------------------------------------------------- RemoteStartTransaction


async def remote_start_with_profile(
    station: StationProcess, csms: TestCSMS, pid: int, purpose: str
) -> str:
    """Plugged in (Preparing), RemoteStartTransaction for TAG with a relative 9 A profile.

    Returns the answer's status.
    """
    await station.plug(1)
    await station.wait_status(1, "Preparing")
    p = profile(pid, purpose, [(0, 9)], kind="Relative")
    result = await csms.call(
        call.RemoteStartTransaction(id_tag=TAG, connector_id=1, charging_profile=p)
    )
    return str(result["status"])


async def test_tc_059_cs_remote_start_transaction_with_charging_profile(
    station_factory: StationFactory, csms: TestCSMS
) -> None:
    station = await station_factory(keys=KEYS)
    assert await remote_start_with_profile(station, csms, 11, "TxProfile") == "Accepted"
    await csms.wait_for("StartTransaction", {"connectorId": 1, "idTag": TAG})
    await offered(station, 9)
    got = await composite(csms, 1, 60)
    assert got["chargingSchedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 9}]
    # The TxProfile ends with its transaction.
    await csms.call(call.RemoteStopTransaction(transaction_id=TX_ID))
    await csms.wait_for("StopTransaction", {"transactionId": TX_ID})
    assert (await csms.call(call.ClearChargingProfile(id=11)))["status"] == "Unknown"


async def test_tc_060_cs_remote_start_transaction_with_charging_profile_rejected(
    station_factory: StationFactory, csms: TestCSMS
) -> None:
    station = await station_factory(keys=KEYS)
    assert await remote_start_with_profile(station, csms, 12, "TxDefaultProfile") == "Rejected"
    await asyncio.sleep(0.5)
    assert "StartTransaction" not in csms.actions()
    assert (await station.status(1))["status"] == "Preparing"


# ---------------------------------------------------------------- persistence


async def test_profiles_survive_a_restart(station_factory: StationFactory, csms: TestCSMS) -> None:
    station = await station_factory(keys=KEYS)
    cp_max = profile(1, "ChargePointMaxProfile", [(0, 12)], kind="Relative")
    assert await set_profile(csms, 0, cp_max) == "Accepted"
    default = profile(2, "TxDefaultProfile", [(0, 11)], start=time.time() - 5)
    assert await set_profile(csms, 1, default) == "Accepted"
    station.kill()
    start = len(csms.frames)
    station.start()
    await station.wait_ready()
    await csms.wait_for("BootNotification", after=start)
    await csms.wait_for("StatusNotification", {"connectorId": 2}, after=start)
    got = await composite(csms, 0, 60)
    assert got["chargingSchedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 12}]
    await session(station, csms)
    await offered(station, 11)
