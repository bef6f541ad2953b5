"""OCTT 1.6 charge-point test cases (chapters 2.10-2.21) against the test CSMS.

Each test follows one OCTT case: what the charge point must send, in which order, with
which payload. `after=` indexes keep every assertion to the frames of the case itself.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from ocpp.v16 import call
from tests.csms import StationProcess, TestCSMS, energy, go_offline, queued, ts

# ------------------------------------------------------------------ helpers


def actions_since(csms: TestCSMS, start: int, *names: str) -> list[str]:
    return [f.action for f in csms.frames[start:] if f.direction == "in" and f.action in names]


def calls_since(csms: TestCSMS, start: int, action: str) -> list[dict[str, Any]]:
    return [f.payload for f in csms.frames[start:] if f.direction == "in" and f.action == action]


def assert_one_start_one_stop(csms: TestCSMS, start: int) -> None:
    assert actions_since(csms, start, "StartTransaction", "StopTransaction") == [
        "StartTransaction",
        "StopTransaction",
    ]


async def go_online(csms: TestCSMS) -> None:
    csms.offline = False
    await csms.wait_connected()


async def wait_queue_empty(station: StationProcess, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while await queued(station):
        assert time.monotonic() < deadline, "transaction messages still queued"
        await asyncio.sleep(0.05)


async def start_session(
    station: StationProcess, csms: TestCSMS, id_tag: str = "TAG1", connector_id: int = 1
) -> dict[str, Any]:
    start = len(csms.frames)
    await station.plug(connector_id)
    await station.present(id_tag, connector_id)
    tx = await csms.wait_for(
        "StartTransaction", {"connectorId": connector_id, "idTag": id_tag}, after=start
    )
    await csms.wait_for(
        "StatusNotification", {"connectorId": connector_id, "status": "Charging"}, after=start
    )
    return tx


async def charge_offline(station: StationProcess, csms: TestCSMS, id_tag: str) -> None:
    """Offline, `id_tag` starts charging on connector 1."""
    await go_offline(csms, station)
    await station.plug(1)
    await station.present(id_tag, 1)
    await station.wait_status(1, "Charging")


async def offline_start_with_invalid_tag(station: StationProcess, csms: TestCSMS) -> int:
    """UNKNOWN1 (Invalid for the central system) starts charging offline; back online, its
    StartTransaction goes out. Returns the frame index at going back online."""
    csms.id_tags = {"UNKNOWN1": {"status": "Invalid"}}
    await charge_offline(station, csms, "UNKNOWN1")
    back = len(csms.frames)
    await go_online(csms)
    await csms.wait_for("StartTransaction", {"connectorId": 1, "idTag": "UNKNOWN1"}, after=back)
    return back


async def cache_tag(station: StationProcess, csms: TestCSMS, id_tag: str) -> None:
    """An online Authorize puts the tag in the authorization cache; the second tap cancels."""
    start = len(csms.frames)
    await station.present(id_tag, 1)
    await csms.wait_for("Authorize", {"idTag": id_tag}, after=start)
    await station.wait_status(1, "Preparing")
    await station.present(id_tag, 1)
    await station.wait_status(1, "Available")
    await csms.wait_for(
        "StatusNotification", {"connectorId": 1, "status": "Available"}, after=start
    )


async def trigger(csms: TestCSMS, uid: str, payload: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """TriggerMessage as a raw frame: its answer, and the index of the answer among the frames."""
    answer = await csms.send_raw(json.dumps([2, uid, "TriggerMessage", payload]), uid)
    index = next(
        i
        for i, f in enumerate(csms.frames)
        if f.direction == "in" and f.data[0] in (3, 4) and f.data[1] == uid
    )
    assert answer[0] == 3, answer
    return answer[2], index


# ------------------------------------------------------------- 2.10 authorization


async def test_tc_023_cs_authorize_invalid(station: StationProcess, csms: TestCSMS) -> None:
    csms.id_tags = {"BAD": {"status": "Invalid"}}
    start = len(csms.frames)
    await station.plug(1)
    await csms.wait_for(
        "StatusNotification", {"connectorId": 1, "status": "Preparing"}, after=start
    )
    await station.present("BAD", 1)
    await csms.wait_for("Authorize", {"idTag": "BAD"}, after=start)
    await asyncio.sleep(1.0)
    assert not calls_since(csms, start, "StartTransaction")
    current = await station.wait_status(1, "Preparing")  # plugged, not authorized
    assert current["transaction_id"] is None and current["local_transaction_id"] is None
    assert await queued(station) == 0
    await station.unplug(1)
    await csms.wait_for(
        "StatusNotification", {"connectorId": 1, "status": "Available"}, after=start
    )
    statuses = [
        p["status"] for p in calls_since(csms, start, "StatusNotification") if p["connectorId"] == 1
    ]
    assert "Charging" not in statuses and "Finishing" not in statuses
    assert not calls_since(csms, start, "StartTransaction")


async def test_tc_024_cs_lock_failure(station: StationProcess, csms: TestCSMS) -> None:
    start = len(csms.frames)
    await station.fault(1, "lock_failure")  # the lock is broken; nothing shows until it is used
    await station.plug(1)
    await csms.wait_for(
        "StatusNotification", {"connectorId": 1, "status": "Preparing"}, after=start
    )
    await station.present("TAG1", 1)
    auth = len(csms.frames)
    await csms.wait_for("Authorize", {"idTag": "TAG1"}, after=start)
    faulted = await csms.wait_for(
        "StatusNotification", {"connectorId": 1, "status": "Faulted"}, after=auth
    )
    assert faulted["errorCode"] == "ConnectorLockFailure"
    await asyncio.sleep(1.0)
    assert not calls_since(csms, start, "StartTransaction")
    assert (await station.status(1))["transaction_id"] is None
    assert actions_since(csms, start, "Authorize", "StartTransaction") == ["Authorize"]


# ------------------------------------------------------------ 2.11 remote actions


async def test_tc_026_cs_remote_start_connector_unavailable(
    station: StationProcess, csms: TestCSMS
) -> None:
    start = len(csms.frames)
    result = await csms.call(call.ChangeAvailability(connector_id=1, type="Inoperative"))
    assert result["status"] == "Accepted"
    await csms.wait_for(
        "StatusNotification", {"connectorId": 1, "status": "Unavailable"}, after=start
    )
    result = await csms.call(call.RemoteStartTransaction(id_tag="TAG1", connector_id=1))
    assert result["status"] == "Rejected"

    # An occupied connector rejects too.
    await start_session(station, csms, "TAG2", 2)
    occupied = len(csms.frames)
    result = await csms.call(call.RemoteStartTransaction(id_tag="TAG3", connector_id=2))
    assert result["status"] == "Rejected"
    await asyncio.sleep(0.5)
    assert not calls_since(csms, occupied, "StartTransaction")
    assert [p["connectorId"] for p in calls_since(csms, start, "StartTransaction")] == [2]
    assert (await station.status(1))["status"] == "Unavailable"


async def test_tc_027_cs_remote_start_connector_id_zero(
    station: StationProcess, csms: TestCSMS
) -> None:
    start = len(csms.frames)
    result = await csms.call(call.RemoteStartTransaction(id_tag="TAG1", connector_id=0))
    assert result["status"] == "Rejected"
    await asyncio.sleep(0.5)
    assert not calls_since(csms, start, "StartTransaction")
    assert [c["status"] for c in (await station.status())["connectors"]] == [
        "Available",
        "Available",
    ]


async def test_tc_028_cs_remote_stop_unknown_transaction(
    station: StationProcess, csms: TestCSMS
) -> None:
    tx = await start_session(station, csms)
    start = len(csms.frames)
    result = await csms.call(call.RemoteStopTransaction(transaction_id=424242))
    assert result["status"] == "Rejected"
    await asyncio.sleep(0.5)
    assert not calls_since(csms, start, "StopTransaction")
    current = await station.status(1)
    assert current["status"] == "Charging" and current["transaction_id"] == 1001
    assert tx["idTag"] == "TAG1"


async def test_tc_030_cs_unlock_failure(station: StationProcess, csms: TestCSMS) -> None:
    start = len(csms.frames)
    await station.fault(1, "lock_failure")
    result = await csms.call(call.UnlockConnector(connector_id=1))
    assert result["status"] == "UnlockFailed"
    faulted = await csms.wait_for(
        "StatusNotification", {"connectorId": 1, "status": "Faulted"}, after=start
    )
    assert faulted["errorCode"] == "ConnectorLockFailure"


async def test_tc_031_cs_unlock_unknown_connector(station: StationProcess, csms: TestCSMS) -> None:
    start = len(csms.frames)
    result = await csms.call(call.UnlockConnector(connector_id=9))
    assert result["status"] == "NotSupported"
    await asyncio.sleep(0.3)
    assert not calls_since(csms, start, "StatusNotification")


# ---------------------------------------------------------------- 2.12 offline


async def test_tc_036_cs_connection_loss_during_transaction(
    station: StationProcess, csms: TestCSMS
) -> None:
    assert (await csms.call(call.ChangeConfiguration(key="MeterValueSampleInterval", value="1")))[
        "status"
    ] == "Accepted"
    start = len(csms.frames)
    await start_session(station, csms)
    await csms.wait_for("MeterValues", {"transactionId": 1001}, after=start)
    await go_offline(csms, station)
    await asyncio.sleep(3.5)
    waiting = await queued(station)
    assert waiting >= 2, f"only {waiting} MeterValues queued while offline"
    back = len(csms.frames)
    await go_online(csms)
    await wait_queue_empty(station)
    delivered = calls_since(csms, back, "MeterValues")
    assert len(delivered) >= waiting
    assert all(mv["transactionId"] == 1001 and mv["connectorId"] == 1 for mv in delivered)

    await station.present("TAG1", 1)
    stop = await csms.wait_for("StopTransaction", {"transactionId": 1001}, after=back)
    assert stop["reason"] == "Local"

    every = calls_since(csms, start, "MeterValues")
    times = [ts(mv["meterValue"][0]["timestamp"]) for mv in every]
    assert times == sorted(times), "MeterValues out of order"
    unique = sorted(set(times))
    gaps = [b - a for a, b in zip(unique, unique[1:], strict=False)]
    assert gaps and max(gaps) < 1.6, f"a MeterValues is missing: gaps {gaps}"
    readings = [energy(mv) for mv in every]
    assert readings == sorted(readings)
    assert stop["meterStop"] >= readings[-1]
    assert_one_start_one_stop(csms, start)


async def test_tc_037_1_cs_offline_start_transaction_valid_id_tag(
    station_factory: Any, csms: TestCSMS
) -> None:
    station = await station_factory(keys={"LocalAuthorizeOffline": "true"})
    await cache_tag(station, csms, "TAG1")
    await go_offline(csms, station)
    before = time.time()
    await station.plug(1)
    await station.present("TAG1", 1)
    current = await station.wait_status(1, "Charging")
    assert current["transaction_id"] is None  # not known until the CSMS answers
    await asyncio.sleep(1.0)
    reconnect_at = time.time()
    back = len(csms.frames)
    await go_online(csms)
    tx = await csms.wait_for("StartTransaction", {"connectorId": 1, "idTag": "TAG1"}, after=back)
    assert before - 0.5 <= ts(tx["timestamp"]) < reconnect_at, "timestamp is not the offline start"
    assert tx["meterStart"] == 0
    await wait_queue_empty(station)
    deadline = time.monotonic() + 5
    while (await station.status(1))["transaction_id"] != 1001:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert (await station.status(1))["status"] == "Charging"
    assert len(calls_since(csms, back, "StartTransaction")) == 1
    assert not calls_since(csms, back, "Authorize")


async def test_tc_037_2_cs_offline_start_invalid_id_tag_stop_on_invalid_false(
    station_factory: Any, csms: TestCSMS
) -> None:
    station = await station_factory(
        keys={
            "AllowOfflineTxForUnknownId": "true",
            "StopTransactionOnInvalidId": "false",
            "MaxEnergyOnInvalidId": "0",
        }
    )
    back = await offline_start_with_invalid_tag(station, csms)
    await csms.wait_for(
        "StatusNotification", {"connectorId": 1, "status": "SuspendedEVSE"}, after=back
    )
    current = await station.wait_status(1, "SuspendedEVSE")
    assert current["transaction_id"] == 1001 and current["offered_a"] == 0
    await asyncio.sleep(1.5)
    assert not calls_since(csms, back, "StopTransaction")
    assert (await station.status(1))["status"] == "SuspendedEVSE"

    await station.present("UNKNOWN1", 1)  # the owner's card ends it
    stop = await csms.wait_for("StopTransaction", {"transactionId": 1001}, after=back)
    assert stop["reason"] == "Local"
    assert_one_start_one_stop(csms, back)


async def test_tc_037_3_cs_offline_start_invalid_id_tag_stop_on_invalid_true(
    station_factory: Any, csms: TestCSMS
) -> None:
    station = await station_factory(
        keys={
            "AllowOfflineTxForUnknownId": "true",
            "StopTransactionOnInvalidId": "true",
        }
    )
    back = await offline_start_with_invalid_tag(station, csms)
    stop = await csms.wait_for("StopTransaction", {"transactionId": 1001}, after=back)
    assert stop["reason"] == "DeAuthorized"
    assert_one_start_one_stop(csms, back)
    await csms.wait_for("StatusNotification", {"connectorId": 1, "status": "Finishing"}, after=back)


async def test_tc_038_cs_offline_stop_transaction(station: StationProcess, csms: TestCSMS) -> None:
    start = len(csms.frames)
    tx = await start_session(station, csms)
    await go_offline(csms, station)
    await station.present("TAG1", 1)
    await station.wait_status(1, "Finishing")
    assert await queued(station) >= 1
    back = len(csms.frames)
    await go_online(csms)
    stop = await csms.wait_for("StopTransaction", {"transactionId": 1001}, after=back)
    assert stop["reason"] == "Local"
    assert stop["idTag"] == "TAG1"
    assert stop["meterStop"] >= tx["meterStart"]
    await wait_queue_empty(station)
    assert_one_start_one_stop(csms, start)


async def test_tc_039_cs_offline_transaction(station_factory: Any, csms: TestCSMS) -> None:
    station = await station_factory(keys={"AllowOfflineTxForUnknownId": "true"})
    await charge_offline(station, csms, "TAG9")
    await asyncio.sleep(1.0)
    await station.present("TAG9", 1)
    await station.wait_status(1, "Finishing")
    back = len(csms.frames)
    await go_online(csms)
    tx = await csms.wait_for("StartTransaction", {"idTag": "TAG9"}, after=back)
    stop = await csms.wait_for("StopTransaction", after=back)
    assert stop["transactionId"] == 1001
    assert stop["reason"] == "Local"
    assert ts(tx["timestamp"]) < ts(stop["timestamp"])
    assert stop["meterStop"] >= tx["meterStart"]
    assert_one_start_one_stop(csms, back)
    await wait_queue_empty(station)


# ---------------------------------------------------------- 2.13 configuration


async def test_tc_040_1_cs_configuration_unknown_key(
    station: StationProcess, csms: TestCSMS
) -> None:
    result = await csms.call(call.ChangeConfiguration(key="NoSuchKeyAtAll", value="1"))
    assert result["status"] == "NotSupported"
    conf = await csms.call(call.GetConfiguration(key=["NoSuchKeyAtAll"]))
    assert conf.get("unknownKey") == ["NoSuchKeyAtAll"]


async def test_tc_040_2_cs_configuration_invalid_value(
    station: StationProcess, csms: TestCSMS
) -> None:
    before = await csms.call(call.GetConfiguration(key=["MeterValueSampleInterval"]))
    old = before["configurationKey"][0]["value"]
    for bad in ("-1", "abc"):
        result = await csms.call(
            call.ChangeConfiguration(key="MeterValueSampleInterval", value=bad)
        )
        assert result["status"] == "Rejected", bad
        after = await csms.call(call.GetConfiguration(key=["MeterValueSampleInterval"]))
        assert after["configurationKey"][0]["value"] == old


# -------------------------------------------------------------- 2.14 faults


async def test_tc_041_cs_fault_behaviour(station: StationProcess, csms: TestCSMS) -> None:
    start = len(csms.frames)
    await start_session(station, csms)
    fault_at = len(csms.frames)
    await station.fault(1, "ground_failure")
    faulted = await csms.wait_for(
        "StatusNotification", {"connectorId": 1, "status": "Faulted"}, after=fault_at
    )
    assert faulted["errorCode"] == "GroundFailure"
    stop = await csms.wait_for("StopTransaction", {"transactionId": 1001}, after=fault_at)
    assert stop["reason"] == "Other"
    assert (await station.status(1))["offered_a"] == 0
    cleared = len(csms.frames)
    await station.clear_fault(1, "ground_failure")
    finishing = await csms.wait_for(
        "StatusNotification", {"connectorId": 1, "status": "Finishing"}, after=cleared
    )
    assert finishing["errorCode"] == "NoError"
    await station.unplug(1)
    await csms.wait_for(
        "StatusNotification", {"connectorId": 1, "status": "Available"}, after=cleared
    )
    assert_one_start_one_stop(csms, start)

    # A warning: reported on connector 0 with the status it has, nothing stops.
    warn = len(csms.frames)
    await station.fault(0, "reader_failure")
    reader = await csms.wait_for(
        "StatusNotification", {"connectorId": 0, "errorCode": "ReaderFailure"}, after=warn
    )
    assert reader["status"] == "Available"
    await asyncio.sleep(0.3)
    assert not [p for p in calls_since(csms, warn, "StatusNotification") if p["connectorId"] != 0]
    await station.clear_fault(0, "reader_failure")
    ok = await csms.wait_for(
        "StatusNotification", {"connectorId": 0, "errorCode": "NoError"}, after=warn
    )
    assert ok["status"] == "Available"


# ---------------------------------------------------------- 2.21 remote trigger


async def test_tc_054_cs_trigger_message(station: StationProcess, csms: TestCSMS) -> None:
    cases: list[tuple[dict[str, Any], str, dict[str, Any]]] = [
        ({"requestedMessage": "BootNotification"}, "BootNotification", {}),
        ({"requestedMessage": "Heartbeat"}, "Heartbeat", {}),
        (
            {"requestedMessage": "StatusNotification", "connectorId": 1},
            "StatusNotification",
            {"connectorId": 1},
        ),
        ({"requestedMessage": "MeterValues", "connectorId": 1}, "MeterValues", {"connectorId": 1}),
    ]
    for n, (payload, action, match) in enumerate(cases):
        sent = len(csms.frames)
        answer, index = await trigger(csms, f"trig-{n}", payload)
        assert answer == {"status": "Accepted"}, (payload, answer)
        triggered = await csms.wait_for(action, match, after=index + 1)
        # nothing triggered goes out before the CALLRESULT
        assert not [
            f for f in csms.frames[sent:index] if f.direction == "in" and f.action == action
        ]
        if action == "MeterValues":
            assert triggered["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"
            assert "transactionId" not in triggered
        if action == "BootNotification":
            await asyncio.sleep(0.3)  # let the new registration settle before the next case

    # StatusNotification without connectorId: every connector, 0 included.
    answer, index = await trigger(csms, "trig-all", {"requestedMessage": "StatusNotification"})
    assert answer == {"status": "Accepted"}
    for cid in (0, 1, 2):
        await csms.wait_for(
            "StatusNotification", {"connectorId": cid, "status": "Available"}, after=index + 1
        )


async def test_tc_055_cs_trigger_message_rejected(station: StationProcess, csms: TestCSMS) -> None:
    start = len(csms.frames)
    for n, requested in enumerate(("MeterValues", "StatusNotification")):
        answer, _ = await trigger(
            csms, f"bad-{n}", {"requestedMessage": requested, "connectorId": 9}
        )
        assert answer == {"status": "Rejected"}
    await asyncio.sleep(0.5)
    assert not calls_since(csms, start, "MeterValues")
    assert not calls_since(csms, start, "StatusNotification")
