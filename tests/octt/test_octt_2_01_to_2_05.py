"""OCTT 1.6 charge-point test cases, sections 2.01 to 2.05 (boot, sessions, auth cache, remote).

Every test runs a real `chargebox run` process against the test CSMS and asserts the
order of what the charge point sends (frame indexes) and the payload fields OCTT checks.
TC_003_CS lives in test_smoke_session.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ocpp.v16 import call
from ocpp.v16.enums import MessageTrigger
from tests.conftest import StationFactory
from tests.csms import StationProcess, TestCSMS

TAG = "TAG1"
TX_ID = 1001  # the first transactionId the test CSMS hands out


# ---------------------------------------------------------------- helpers


def _matches(payload: Any, match: Any) -> bool:
    if isinstance(match, dict):
        return isinstance(payload, dict) and all(
            k in payload and _matches(payload[k], v) for k, v in match.items()
        )
    return bool(payload == match)


def inbound(csms: TestCSMS, after: int = 0) -> list[tuple[int, str, dict[str, Any]]]:
    """(frame index, action, payload) of every CALL the charge point sent from `after` on."""
    return [
        (i, f.action, f.payload)
        for i, f in enumerate(csms.frames)
        if i >= after and f.direction == "in" and f.action
    ]


async def index_of(
    csms: TestCSMS,
    action: str,
    match: dict[str, Any] | None = None,
    after: int = 0,
    timeout: float = 5.0,
) -> int:
    """Wait for a CALL and return its frame index (so tests can assert the order)."""
    await csms.wait_for(action, match, timeout, after)
    for i, a, p in inbound(csms, after):
        if a == action and _matches(p, match or {}):
            return i
    raise AssertionError(f"{action} {match} vanished")  # pragma: no cover


async def answered(csms: TestCSMS, index: int, timeout: float = 3.0) -> dict[str, Any]:
    """The CSMS's CALLRESULT payload to the CALL at frame `index` (waits until it is sent)."""
    unique_id = csms.frames[index].data[1]
    for _ in range(int(timeout / 0.01)):
        for f in csms.frames[index + 1 :]:
            data = f.data
            if f.direction == "out" and data[0] == 3 and data[1] == unique_id:
                return dict(data[2])
        await asyncio.sleep(0.01)
    raise AssertionError(f"the CSMS never answered frame {index}")


def actions(csms: TestCSMS, after: int = 0, names: tuple[str, ...] | None = None) -> list[str]:
    return [a for _, a, _ in inbound(csms, after) if names is None or a in names]


async def status_at(
    csms: TestCSMS, connector_id: int, status: str, after: int = 0, timeout: float = 5.0
) -> int:
    """Frame index of the first StatusNotification `status` for the connector from `after`."""
    return await index_of(
        csms, "StatusNotification", {"connectorId": connector_id, "status": status}, after, timeout
    )


def statuses(csms: TestCSMS, connector_id: int, after: int = 0) -> list[str]:
    return [
        p["status"]
        for _, a, p in inbound(csms, after)
        if a == "StatusNotification" and p["connectorId"] == connector_id
    ]


def status_ok(payload: dict[str, Any], connector_id: int, status: str) -> None:
    assert payload["connectorId"] == connector_id
    assert payload["status"] == status
    assert payload["errorCode"] == "NoError"


async def wait_tx_id(station: StationProcess, connector_id: int = 1, tx_id: int = TX_ID) -> None:
    """Until StartTransaction.conf has given the station its transactionId."""
    for _ in range(100):
        if (await station.status(connector_id))["transaction_id"] == tx_id:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the station never learned the transactionId")


async def change(csms: TestCSMS, key: str, value: str) -> None:
    result = await csms.call(call.ChangeConfiguration(key=key, value=value))
    assert result["status"] == "Accepted", (key, value, result)


async def charging_session(station: StationProcess, csms: TestCSMS, id_tag: str = TAG) -> int:
    """Plug first, then the card: a running transaction TX_ID on connector 1 (Charging)."""
    start = len(csms.frames)
    await station.plug(1)
    await status_at(csms, 1, "Preparing", start)
    await station.present(id_tag, 1)
    auth = await index_of(csms, "Authorize", {"idTag": id_tag}, start)
    tx = await index_of(csms, "StartTransaction", {"connectorId": 1, "idTag": id_tag}, start)
    charging = await status_at(csms, 1, "Charging", start)
    assert auth < tx < charging
    await wait_tx_id(station)
    return len(csms.frames)


# ---------------------------------------------------------- 2.01 boot


async def test_tc_001_cs_cold_boot(station_factory: StationFactory, csms: TestCSMS) -> None:
    csms.boot_status, csms.boot_interval = "Rejected", 1
    await station_factory(boot=False)
    first = await index_of(csms, "BootNotification")
    assert (await answered(csms, first))["status"] == "Rejected"
    boot = csms.calls("BootNotification")[0].payload
    assert boot["chargePointVendor"] and boot["chargePointModel"]
    # Rejected: the next BootNotification only after the interval, nothing else meanwhile.
    second = await index_of(csms, "BootNotification", after=first + 1, timeout=4)
    gap = csms.frames[second].at - csms.frames[first].at
    assert gap >= 0.8, f"BootNotification retried after {gap:.2f}s, interval was 1s"
    assert actions(csms) == ["BootNotification", "BootNotification"]
    assert (await answered(csms, second))["status"] == "Rejected"

    csms.boot_status, csms.boot_interval = "Accepted", 2
    accepted = await index_of(csms, "BootNotification", after=second + 1, timeout=4)
    last_status = accepted
    for cid in (0, 1, 2):
        i = await index_of(csms, "StatusNotification", {"connectorId": cid}, accepted)
        status_ok(csms.frames[i].payload, cid, "Available")
        last_status = max(last_status, i)
    assert all(i > accepted for i, a, _ in inbound(csms) if a != "BootNotification")

    # The heartbeat interval from BootNotification.conf is used (and reported).
    beat = await index_of(csms, "Heartbeat", after=accepted, timeout=4)
    idle = csms.frames[beat].at - csms.frames[last_status].at
    assert 1.5 <= idle <= 3.5, f"Heartbeat after {idle:.2f}s idle, HeartbeatInterval is 2"
    conf = await csms.call(call.GetConfiguration(key=["HeartbeatInterval"]))
    assert conf["configurationKey"][0]["value"] == "2"


async def test_tc_002_cs_cold_boot_pending(station_factory: StationFactory, csms: TestCSMS) -> None:
    csms.boot_status, csms.boot_interval = "Pending", 30
    await station_factory(boot=False)
    first = await index_of(csms, "BootNotification")
    # A Pending charge point answers the central system's configuration requests.
    conf = await csms.call(call.GetConfiguration(key=["HeartbeatInterval", "ConnectionTimeOut"]))
    values = {kv["key"]: kv["value"] for kv in conf["configurationKey"]}
    assert values == {"HeartbeatInterval": "300", "ConnectionTimeOut": "30"}
    await change(csms, "MeterValueSampleInterval", "7")
    # Unprompted, it sends nothing but BootNotification while Pending (no status, no heartbeat).
    # (OCPP 1.6 §4.2 lets the CSMS TriggerMessage other requests while Pending; the station
    # rejects those today, which is not asserted here either way.)
    await asyncio.sleep(0.5)
    assert actions(csms) == ["BootNotification"]

    csms.boot_status, csms.boot_interval = "Accepted", 300
    trigger = call.TriggerMessage(requested_message=MessageTrigger.boot_notification)
    result = await csms.call(trigger)
    assert result["status"] == "Accepted"
    accepted = await index_of(csms, "BootNotification", after=first + 1, timeout=3)
    for cid in (0, 1, 2):
        i = await index_of(csms, "StatusNotification", {"connectorId": cid}, accepted)
        status_ok(csms.frames[i].payload, cid, "Available")
    assert all(i > accepted for i, a, _ in inbound(csms) if a != "BootNotification")
    conf = await csms.call(call.GetConfiguration(key=["MeterValueSampleInterval"]))
    assert conf["configurationKey"][0]["value"] == "7"  # the change made while Pending holds


# ------------------------------------------------- 2.02 regular sessions


async def test_tc_004_1_cs_regular_charging_session_identification_first(
    station: StationProcess, csms: TestCSMS
) -> None:
    start = len(csms.frames)
    await station.present(TAG, 1)
    auth = await index_of(csms, "Authorize", {"idTag": TAG}, start)
    preparing = await status_at(csms, 1, "Preparing", start)
    assert auth < preparing
    assert actions(csms, start, ("StartTransaction",)) == []
    await station.plug(1)
    tx = await index_of(csms, "StartTransaction", {"connectorId": 1}, start)
    payload = csms.frames[tx].payload
    assert payload["idTag"] == TAG and payload["meterStart"] == 0 and "timestamp" in payload
    charging = await status_at(csms, 1, "Charging", start)
    assert preparing < tx < charging
    # No SuspendedEV while the car is given its time to answer the PWM (IEC 61851-1: 3 s).
    assert statuses(csms, 1, start) == ["Preparing", "Charging"]
    assert actions(csms, start, ("Authorize",)) == ["Authorize"]


async def test_tc_004_2_cs_regular_charging_session_identification_first_connection_timeout(
    station: StationProcess, csms: TestCSMS
) -> None:
    await change(csms, "ConnectionTimeOut", "2")
    start = len(csms.frames)
    await station.present(TAG, 1)
    await index_of(csms, "Authorize", {"idTag": TAG}, start)
    preparing = await status_at(csms, 1, "Preparing", start)
    available = await status_at(csms, 1, "Available", preparing, timeout=5)
    waited = csms.frames[available].at - csms.frames[preparing].at
    assert 1.5 <= waited <= 3.5, f"back to Available after {waited:.2f}s, ConnectionTimeOut is 2"
    # A car arriving after the timeout does not start a transaction on the expired card.
    await station.plug(1)
    await status_at(csms, 1, "Preparing", available)
    await asyncio.sleep(0.5)
    assert actions(csms, start, ("StartTransaction",)) == []
    assert statuses(csms, 1, start) == ["Preparing", "Available", "Preparing"]


async def test_tc_068_cs_stop_transaction_idtag_stop_matches_idtag_start(
    station: StationProcess, csms: TestCSMS
) -> None:
    mark = await charging_session(station, csms)
    await station.present(TAG, 1)
    stop = await index_of(csms, "StopTransaction", {"transactionId": TX_ID}, mark)
    payload = csms.frames[stop].payload
    assert payload["idTag"] == TAG and payload["reason"] == "Local"
    assert payload["meterStop"] >= 0
    finishing = await status_at(csms, 1, "Finishing", mark)
    assert stop < finishing
    # The card that started the transaction stops it without asking the central system.
    assert actions(csms, mark, ("Authorize",)) == []
    await station.unplug(1)
    await status_at(csms, 1, "Available", finishing)
    assert statuses(csms, 1, mark) == ["Finishing", "Available"]


async def other_card_during_session(
    station: StationProcess, csms: TestCSMS, tag2_parent: str
) -> tuple[int, int]:
    """TAG (parentIdTag PARENT) charges; TAG2 (parentIdTag `tag2_parent`) is presented.

    Returns the session's frame mark and the index of TAG2's Authorize.
    """
    csms.id_tags = {
        TAG: {"status": "Accepted", "parentIdTag": "PARENT"},
        "TAG2": {"status": "Accepted", "parentIdTag": tag2_parent},
    }
    mark = await charging_session(station, csms)
    await station.present("TAG2", 1)
    auth = await index_of(csms, "Authorize", {"idTag": "TAG2"}, mark)
    return mark, auth


async def test_tc_069_cs_stop_transaction_idtag_stop_shares_parentidtag(
    station: StationProcess, csms: TestCSMS
) -> None:
    mark, auth = await other_card_during_session(station, csms, "PARENT")
    stop = await index_of(csms, "StopTransaction", {"transactionId": TX_ID}, mark)
    payload = csms.frames[stop].payload
    assert payload["idTag"] == "TAG2" and payload["reason"] == "Local"
    finishing = await status_at(csms, 1, "Finishing", mark)
    assert auth < stop < finishing


async def test_tc_069_cs_other_parentidtag_does_not_stop(
    station: StationProcess, csms: TestCSMS
) -> None:
    """The negative of TC_069: an accepted card of another group leaves the transaction alone."""
    mark, _ = await other_card_during_session(station, csms, "OTHER")
    await asyncio.sleep(0.5)
    assert actions(csms, mark, ("StopTransaction",)) == []
    assert (await station.status(1))["status"] == "Charging"


# ------------------------------------------------- 2.03 EV side disconnect


async def test_tc_005_1_cs_ev_side_disconnected(station: StationProcess, csms: TestCSMS) -> None:
    """StopTransactionOnEVSideDisconnect and UnlockConnectorOnEVSideDisconnect true (defaults).

    The transaction stops with EVDisconnected and, the cable being unlocked with it, the
    connector becomes Available (Charging -> Available, OCPP 1.6 C1; Finishing in between
    is allowed but not sent here).
    """
    mark = await charging_session(station, csms)
    await station.unplug(1)
    stop = await index_of(csms, "StopTransaction", {"transactionId": TX_ID}, mark)
    payload = csms.frames[stop].payload
    assert payload["reason"] == "EVDisconnected" and "idTag" not in payload
    available = await status_at(csms, 1, "Available", mark)
    assert stop < available
    assert statuses(csms, 1, mark)[-1] == "Available"
    assert set(statuses(csms, 1, mark)) <= {"Finishing", "Available"}
    assert (await station.status(1))["transaction_id"] is None


async def test_tc_005_2_cs_ev_side_disconnected_stop_no_unlock(
    station_factory: StationFactory, csms: TestCSMS
) -> None:
    """StopTransactionOnEVSideDisconnect true, UnlockConnectorOnEVSideDisconnect false.

    The transaction stops with EVDisconnected; the cable stays locked at the station, so
    the connector is Finishing (not Available) until its owner's card releases it.
    """
    station = await station_factory(keys={"UnlockConnectorOnEVSideDisconnect": "false"})
    mark = await charging_session(station, csms)
    await station.unplug(1)
    stop = await index_of(csms, "StopTransaction", {"transactionId": TX_ID}, mark)
    assert csms.frames[stop].payload["reason"] == "EVDisconnected"
    finishing = await status_at(csms, 1, "Finishing", mark)
    assert stop < finishing
    await asyncio.sleep(0.5)
    assert statuses(csms, 1, mark) == ["Finishing"]
    assert (await station.status(1))["status"] == "Finishing"
    # The owner's card unlocks the cable: Available, without a new Authorize or transaction.
    release = len(csms.frames)
    await station.present(TAG, 1)
    await status_at(csms, 1, "Available", release)
    assert actions(csms, release, ("Authorize", "StartTransaction", "StopTransaction")) == []


async def test_tc_005_3_cs_ev_side_disconnected_no_stop_no_unlock(
    station_factory: StationFactory, csms: TestCSMS
) -> None:
    """Both keys false: the transaction survives the unplug (SuspendedEV) and resumes."""
    station = await station_factory(
        keys={
            "StopTransactionOnEVSideDisconnect": "false",
            "UnlockConnectorOnEVSideDisconnect": "false",
        }
    )
    mark = await charging_session(station, csms)
    await station.unplug(1)
    suspended = await status_at(csms, 1, "SuspendedEV", mark)
    await asyncio.sleep(0.5)
    assert actions(csms, mark, ("StopTransaction",)) == []
    current = await station.status(1)
    assert current["transaction_id"] == TX_ID and current["offered_a"] == 0
    await station.plug(1)
    charging = await status_at(csms, 1, "Charging", suspended)
    assert actions(csms, mark, ("StartTransaction", "StopTransaction")) == []
    await station.present(TAG, 1)
    stop = await index_of(csms, "StopTransaction", {"transactionId": TX_ID}, charging)
    payload = csms.frames[stop].payload
    assert payload["reason"] == "Local" and payload["idTag"] == TAG
    await status_at(csms, 1, "Finishing", stop)
    assert statuses(csms, 1, mark) == ["SuspendedEV", "Charging", "Finishing"]


# ------------------------------------------------- 2.04 authorization cache


async def test_tc_007_cs_regular_start_charging_session_cached_id(
    station: StationProcess, csms: TestCSMS
) -> None:
    # A first session: the Authorize.conf puts the card in the authorization cache.
    mark = await charging_session(station, csms)
    await station.present(TAG, 1)
    await index_of(csms, "StopTransaction", {"transactionId": TX_ID, "reason": "Local"}, mark)
    await station.unplug(1)
    await status_at(csms, 1, "Available", mark)

    await change(csms, "LocalPreAuthorize", "true")
    start = len(csms.frames)
    await station.present(TAG, 1)
    preparing = await status_at(csms, 1, "Preparing", start)
    await station.plug(1)
    tx = await index_of(csms, "StartTransaction", {"connectorId": 1, "idTag": TAG}, start)
    charging = await status_at(csms, 1, "Charging", start)
    assert preparing < tx < charging
    assert actions(csms, start, ("Authorize",)) == [], "a cached idTag needs no Authorize"


async def test_tc_061_cs_clear_authorization_data_in_authorization_cache(
    station_factory: StationFactory, csms: TestCSMS
) -> None:
    station = await station_factory(keys={"LocalPreAuthorize": "true"})
    # Fill the cache, and show that it is used: the second presentation sends no Authorize.
    start = len(csms.frames)
    await station.present(TAG, 1)
    await index_of(csms, "Authorize", {"idTag": TAG}, start)
    await station.wait_status(1, "Preparing")
    await station.present(TAG, 1)  # the same card again cancels the waiting session
    await station.wait_status(1, "Available")
    cached = len(csms.frames)
    await station.present(TAG, 1)
    await station.wait_status(1, "Preparing")
    assert actions(csms, cached, ("Authorize",)) == []
    await station.present(TAG, 1)
    await station.wait_status(1, "Available")

    result = await csms.call(call.ClearCache())
    assert result["status"] == "Accepted"
    cleared = len(csms.frames)
    await station.present(TAG, 1)
    await index_of(csms, "Authorize", {"idTag": TAG}, cleared)
    await status_at(csms, 1, "Preparing", cleared)


# ------------------------------------------------- 2.05 remote actions


async def test_tc_010_cs_remote_start_charging_session_cable_plugged_in_first(
    station: StationProcess, csms: TestCSMS
) -> None:
    start = len(csms.frames)
    await station.plug(1)
    preparing = await status_at(csms, 1, "Preparing", start)
    result = await csms.call(call.RemoteStartTransaction(id_tag=TAG, connector_id=1))
    assert result["status"] == "Accepted"
    tx = await index_of(csms, "StartTransaction", {"connectorId": 1}, start)
    payload = csms.frames[tx].payload
    assert payload["idTag"] == TAG and payload["meterStart"] == 0
    charging = await status_at(csms, 1, "Charging", start)
    assert preparing < tx < charging
    assert actions(csms, start, ("Authorize",)) == []  # AuthorizeRemoteTxRequests is false


async def test_tc_010_cs_remote_start_cable_plugged_in_first_authorize_remote_tx(
    station_factory: StationFactory, csms: TestCSMS
) -> None:
    station = await station_factory(keys={"AuthorizeRemoteTxRequests": "true"})
    start = len(csms.frames)
    await station.plug(1)
    await status_at(csms, 1, "Preparing", start)
    result = await csms.call(call.RemoteStartTransaction(id_tag=TAG, connector_id=1))
    assert result["status"] == "Accepted"
    auth = await index_of(csms, "Authorize", {"idTag": TAG}, start)
    tx = await index_of(csms, "StartTransaction", {"connectorId": 1, "idTag": TAG}, start)
    charging = await status_at(csms, 1, "Charging", start)
    assert auth < tx < charging


async def test_tc_011_1_cs_remote_start_transaction_remote_start_first(
    station: StationProcess, csms: TestCSMS
) -> None:
    start = len(csms.frames)
    result = await csms.call(call.RemoteStartTransaction(id_tag=TAG, connector_id=1))
    assert result["status"] == "Accepted"
    preparing = await status_at(csms, 1, "Preparing", start)
    assert actions(csms, start, ("StartTransaction", "Authorize")) == []
    await station.plug(1)
    tx = await index_of(csms, "StartTransaction", {"connectorId": 1, "idTag": TAG}, start)
    assert csms.frames[tx].payload["meterStart"] == 0
    charging = await status_at(csms, 1, "Charging", start)
    assert preparing < tx < charging
    # No SuspendedEV while the car is given its time to answer the PWM (IEC 61851-1: 3 s).
    assert statuses(csms, 1, start) == ["Preparing", "Charging"]


async def test_tc_011_2_cs_remote_start_transaction_time_out(
    station: StationProcess, csms: TestCSMS
) -> None:
    await change(csms, "ConnectionTimeOut", "2")
    start = len(csms.frames)
    result = await csms.call(call.RemoteStartTransaction(id_tag=TAG, connector_id=1))
    assert result["status"] == "Accepted"
    preparing = await status_at(csms, 1, "Preparing", start)
    available = await status_at(csms, 1, "Available", preparing, timeout=5)
    waited = csms.frames[available].at - csms.frames[preparing].at
    assert 1.5 <= waited <= 3.5, f"back to Available after {waited:.2f}s, ConnectionTimeOut is 2"
    assert actions(csms, start, ("StartTransaction", "Authorize")) == []
    assert statuses(csms, 1, start) == ["Preparing", "Available"]


async def test_tc_012_cs_remote_stop_charging_session(
    station: StationProcess, csms: TestCSMS
) -> None:
    start = len(csms.frames)
    result = await csms.call(call.RemoteStartTransaction(id_tag=TAG, connector_id=1))
    assert result["status"] == "Accepted"
    await station.plug(1)
    await status_at(csms, 1, "Charging", start)
    await wait_tx_id(station)
    mark = len(csms.frames)
    wrong = await csms.call(call.RemoteStopTransaction(transaction_id=TX_ID + 1))
    assert wrong["status"] == "Rejected"
    result = await csms.call(call.RemoteStopTransaction(transaction_id=TX_ID))
    assert result["status"] == "Accepted"
    stop = await index_of(csms, "StopTransaction", {"transactionId": TX_ID}, mark)
    payload = csms.frames[stop].payload
    assert payload["reason"] == "Remote" and "idTag" not in payload
    finishing = await status_at(csms, 1, "Finishing", mark)
    assert stop < finishing
    assert actions(csms, mark, ("StopTransaction",)) == ["StopTransaction"]
    await station.unplug(1)
    await status_at(csms, 1, "Available", finishing)
