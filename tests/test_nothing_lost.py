"""Transaction messages are never lost: across an outage, a kill -9, a late answer, a CALLERROR.

StartTransaction, the MeterValues of a transaction and StopTransaction go through the
persistent queue: they reach the central system in order, with the transactionId the
central system gave, or are dropped only after TransactionMessageAttempts failures.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from ocpp.exceptions import InternalError

from tests.conftest import StationFactory
from tests.csms import Frame, StationProcess, TestCSMS, energy, go_offline, queued, ts

TX_ACTIONS = ("StartTransaction", "MeterValues", "StopTransaction")


def tx_frames(csms: TestCSMS, start: int) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f.action, f.payload)
        for f in csms.frames[start:]
        if f.direction == "in" and f.action in TX_ACTIONS
    ]


async def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def wait_transaction_id(
    station: StationProcess, connector_id: int, transaction_id: int, what: str
) -> None:
    async def has_id() -> bool:
        return (await station.status(connector_id))["transaction_id"] == transaction_id

    await wait_until(has_id, 5, what)


async def start_unanswered(station: StationProcess, csms: TestCSMS) -> tuple[int, Frame]:
    """TAG1 starts on connector 1; the central system does not answer the StartTransaction.

    Returns the frame index before the session and the (first) StartTransaction frame.
    """
    csms.no_answer = {"StartTransaction"}
    start = len(csms.frames)
    await station.plug(1)
    await station.present("TAG1", 1)
    await csms.wait_for("StartTransaction", after=start)
    frame = next(
        f for f in csms.frames[start:] if f.direction == "in" and f.action == "StartTransaction"
    )
    return start, frame


async def answer_late(csms: TestCSMS, unique_id: str, transaction_id: int) -> float:
    """Answer the StartTransaction `unique_id` now; returns when (time.monotonic())."""
    assert csms._ws is not None
    await csms._ws.send(
        json.dumps(
            [3, unique_id, {"transactionId": transaction_id, "idTagInfo": {"status": "Accepted"}}]
        )
    )
    return time.monotonic()


async def test_kill_9_while_offline_loses_nothing(
    station_factory: StationFactory, csms: TestCSMS
) -> None:
    station = await station_factory(
        keys={
            "MeterValueSampleInterval": "1",
            "AllowOfflineTxForUnknownId": "true",
        }
    )
    await go_offline(csms, station)
    await station.plug(1)
    await station.present("TAG1", 1)
    await station.wait_status(1, "Charging")

    async def several_queued() -> bool:
        return await queued(station) >= 5  # StartTransaction and at least 4 MeterValues

    await wait_until(several_queued, 15, "MeterValues were not queued while offline")
    await asyncio.sleep(0.3)
    waiting = await queued(station)
    station.kill()  # SIGKILL: no chance to stop the transaction or flush anything

    csms.offline = False
    back = len(csms.frames)
    station.start()
    await station.wait_ready()
    await csms.wait_connected()
    await csms.wait_for("BootNotification", after=back)
    stop = await csms.wait_for("StopTransaction", after=back, timeout=20)

    sent = tx_frames(csms, back)
    names = [name for name, _ in sent]
    meter_values = [p for name, p in sent if name == "MeterValues"]
    assert names == ["StartTransaction", *["MeterValues"] * len(meter_values), "StopTransaction"], (
        names
    )
    assert len(names) >= waiting + 1, f"{waiting} queued before the kill, {names} delivered"
    start = sent[0][1]
    assert start["idTag"] == "TAG1" and start["connectorId"] == 1 and start["meterStart"] == 0
    assert all(mv["transactionId"] == 1001 and mv["connectorId"] == 1 for mv in meter_values)
    times = [ts(mv["meterValue"][0]["timestamp"]) for mv in meter_values]
    assert times == sorted(times) and len(set(times)) == len(times), (
        "MeterValues out of order or twice"
    )
    readings = [energy(mv) for mv in meter_values]
    assert readings == sorted(readings)
    assert readings[-1] > 0

    assert stop["transactionId"] == 1001
    assert stop["reason"] == "PowerLoss"
    assert stop["meterStop"] >= readings[-1], (stop["meterStop"], readings)
    assert ts(stop["timestamp"]) >= times[-1]
    assert ts(start["timestamp"]) <= times[0]

    async def empty() -> bool:
        return await queued(station) == 0

    await wait_until(empty, 10, "messages left in the queue")
    current = await station.status(1)
    assert current["transaction_id"] is None and current["local_transaction_id"] is None


async def test_start_transaction_retried_after_timeout_gets_its_id(
    station_factory: StationFactory, csms: TestCSMS
) -> None:
    station = await station_factory(
        keys={
            "MeterValueSampleInterval": "1",
            "TransactionMessageRetryInterval": "1",
        }
    )
    start, first_frame = await start_unanswered(station, csms)
    first = first_frame.payload
    await asyncio.sleep(3.3)  # the call timeout is 3 s
    csms.no_answer = set()
    await csms.wait_for("MeterValues", {"transactionId": 1001}, after=start, timeout=10)
    await station.present("TAG1", 1)
    stop = await csms.wait_for("StopTransaction", after=start)
    assert stop["transactionId"] == 1001 and stop["reason"] == "Local"

    starts = [p for name, p in tx_frames(csms, start) if name == "StartTransaction"]
    assert len(starts) == 2 and starts[0] == starts[1] == first  # the same message, resent
    names = [name for name, _ in tx_frames(csms, start)]
    assert names[:2] == ["StartTransaction", "StartTransaction"] and names[-1] == "StopTransaction"
    assert all(
        p["transactionId"] == 1001 for name, p in tx_frames(csms, start) if name == "MeterValues"
    )


async def test_late_start_transaction_answer_names_the_transaction(
    station_factory: StationFactory, csms: TestCSMS
) -> None:
    station = await station_factory(
        keys={
            "MeterValueSampleInterval": "1",
            "TransactionMessageRetryInterval": "20",
        }
    )
    start, first = await start_unanswered(station, csms)
    unique_id = first.data[1]
    await asyncio.sleep(3.5)  # the charge point has given up waiting (call timeout 3 s)
    answered = await answer_late(csms, unique_id, 4242)
    csms.no_answer = set()
    await wait_transaction_id(station, 1, 4242, "the late answer was not applied")
    mv = await csms.wait_for("MeterValues", {"transactionId": 4242}, after=start, timeout=20)
    delay = time.monotonic() - answered
    assert delay < 3.0, (
        f"queued MeterValues waited {delay:.1f}s for the retry timer after the late answer"
    )
    assert mv["connectorId"] == 1
    await station.present("TAG1", 1)
    stop = await csms.wait_for("StopTransaction", after=start, timeout=20)
    assert stop["transactionId"] == 4242
    sent = tx_frames(csms, start)
    assert [n for n, _ in sent].count("StartTransaction") == 1, "answered late, yet sent again"
    assert all(p.get("transactionId") == 4242 for n, p in sent if n != "StartTransaction")


async def test_stop_transaction_callerror_retried_then_dropped(
    station_factory: StationFactory, csms: TestCSMS
) -> None:
    station = await station_factory(
        keys={
            "TransactionMessageAttempts": "3",
            "TransactionMessageRetryInterval": "1",
        }
    )
    assert csms.cp is not None

    def refuse(**_: Any) -> Any:
        raise InternalError(description="the central system is broken today")

    start = len(csms.frames)
    await station.plug(1)
    await station.present("TAG1", 1)
    await csms.wait_for("StartTransaction", after=start)
    await station.wait_status(1, "Charging")
    original = csms.cp.route_map["StopTransaction"]["_on_action"]
    csms.cp.route_map["StopTransaction"]["_on_action"] = refuse
    stop_at = len(csms.frames)
    await station.present("TAG1", 1)

    async def three_attempts() -> bool:
        return len(csms.calls("StopTransaction")) >= 3

    await wait_until(three_attempts, 15, "StopTransaction was not retried")
    await asyncio.sleep(4.0)  # a fourth attempt would come by now (interval x attempts)
    attempts = [
        f for f in csms.frames[stop_at:] if f.direction == "in" and f.action == "StopTransaction"
    ]
    assert len(attempts) == 3, [f.raw for f in attempts]
    assert len({f.data[1] for f in attempts}) == 3  # each attempt is a new CALL
    assert all(f.payload == attempts[0].payload for f in attempts)
    assert attempts[0].payload["transactionId"] == 1001
    errors = {
        f.data[1]: f.data[2]
        for f in csms.frames[stop_at:]
        if f.direction == "out" and f.data[0] == 4
    }
    assert all(errors.get(f.data[1]) == "InternalError" for f in attempts), errors
    gaps = [b.at - a.at for a, b in zip(attempts, attempts[1:], strict=False)]
    assert gaps[0] >= 0.9 and gaps[1] >= 1.9, gaps  # TransactionMessageRetryInterval x attempt
    assert await queued(station) == 0  # given up: the queue moves on

    # The queue is not stuck behind the dropped message.
    csms.cp.route_map["StopTransaction"]["_on_action"] = original
    later = len(csms.frames)
    await station.plug(2)
    await station.present("TAG2", 2)
    tx = await csms.wait_for("StartTransaction", {"connectorId": 2}, after=later)
    assert tx["idTag"] == "TAG2"

    await wait_transaction_id(station, 2, 1002, "the second transaction got no id")
    await station.present("TAG2", 2)
    stop = await csms.wait_for("StopTransaction", {"transactionId": 1002}, after=later)
    assert stop["reason"] == "Local"


async def test_late_start_answer_releases_the_queue_at_once(
    station_factory: StationFactory, csms: TestCSMS
) -> None:
    """Nothing else wakes the sender here (no sampling, the session already stopped)."""
    station = await station_factory(
        keys={
            "MeterValueSampleInterval": "0",
            "TransactionMessageRetryInterval": "20",
        }
    )
    start, first = await start_unanswered(station, csms)
    unique_id = first.data[1]
    await asyncio.sleep(1.0)
    await station.present("TAG1", 1)  # stopped before the central system answered
    await asyncio.sleep(3.0)  # the charge point has given up waiting (call timeout 3 s)
    await station.unplug(1)
    await csms.wait_for(
        "StatusNotification", {"connectorId": 1, "status": "Available"}, after=start
    )
    await asyncio.sleep(0.5)
    answered = await answer_late(csms, unique_id, 4343)
    stop = await csms.wait_for("StopTransaction", after=start, timeout=25)
    delay = time.monotonic() - answered
    assert stop["transactionId"] == 4343 and stop["reason"] == "Local"
    assert delay < 3.0, (
        f"StopTransaction waited {delay:.1f}s for the retry timer after the late answer"
    )
    assert [n for n, _ in tx_frames(csms, start)] == ["StartTransaction", "StopTransaction"]
