"""OCTT 1.6 charge-point cases: Reset, UnlockConnector, configuration, meter values, power failure.

Each test runs a real `chargebox run` process against the test CSMS and asserts the message
sequence the OCPP Compliance Testing Tool expects (order via frame indexes in `csms.frames`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ocpp.v16 import call
from tests.conftest import StationFactory
from tests.csms import StationProcess, TestCSMS, _contains

from chargebox.core.clock import parse_iso

FIXED_CABLE = "[[connectors]]\nid = 1\nfixed_cable = true\n"

# OCPP 1.6 §9.1 Core keys every charge point must report, with their readonly flag.
# (AuthorizeRemoteTxRequests may be R or RW, so its flag is not checked.)
REQUIRED_CORE_KEYS: dict[str, bool | None] = {
    "AuthorizeRemoteTxRequests": None,
    "ClockAlignedDataInterval": False,
    "ConnectionTimeOut": False,
    "ConnectorPhaseRotation": False,
    "GetConfigurationMaxKeys": True,
    "HeartbeatInterval": False,
    "LocalAuthorizeOffline": False,
    "LocalPreAuthorize": False,
    "MeterValuesAlignedData": False,
    "MeterValuesSampledData": False,
    "MeterValueSampleInterval": False,
    "NumberOfConnectors": True,
    "ResetRetries": False,
    "StopTransactionOnEVSideDisconnect": False,
    "StopTransactionOnInvalidId": False,
    "StopTxnAlignedData": False,
    "StopTxnSampledData": False,
    "SupportedFeatureProfiles": True,
    "TransactionMessageAttempts": False,
    "TransactionMessageRetryInterval": False,
    "UnlockConnectorOnEVSideDisconnect": False,
}
SECRET = "0123456789abcdefSECRET"


# ----------------------------------------------------------------------------- helpers


def index_of(
    csms: TestCSMS, action: str, match: dict[str, Any] | None = None, after: int = 0
) -> int:
    """Index in csms.frames of the first CALL `action` at/after `after` containing `match`."""
    for i in range(after, len(csms.frames)):
        f = csms.frames[i]
        if f.direction == "in" and f.action == action and _contains(f.payload, match or {}):
            return i
    return -1


async def wait_index(
    csms: TestCSMS,
    action: str,
    match: dict[str, Any] | None = None,
    timeout: float = 10.0,
    after: int = 0,
) -> int:
    await csms.wait_for(action, match, timeout, after)
    i = index_of(csms, action, match, after)
    assert i >= 0
    return i


def calls_after(
    csms: TestCSMS, action: str, match: dict[str, Any] | None = None, after: int = 0
) -> list[tuple[int, dict[str, Any]]]:
    return [
        (i, f.payload)
        for i, f in enumerate(csms.frames)
        if i >= after
        and f.direction == "in"
        and f.action == action
        and _contains(f.payload, match or {})
    ]


async def until(predicate: Any, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while True:
        if await predicate():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def start_session(
    station: StationProcess, csms: TestCSMS, connector: int = 1, tag: str = "TAG1"
) -> tuple[int, dict[str, Any]]:
    """Plug in, present a card; returns (transactionId, StartTransaction payload)."""
    start = len(csms.frames)
    await station.plug(connector)
    await station.present(tag, connector)
    tx = await csms.wait_for(
        "StartTransaction", {"connectorId": connector, "idTag": tag}, after=start
    )
    await csms.wait_for(
        "StatusNotification", {"connectorId": connector, "status": "Charging"}, after=start
    )

    async def confirmed() -> bool:
        return (await station.status(connector))["transaction_id"] is not None

    await until(confirmed, what="StartTransaction.conf")
    return int((await station.status(connector))["transaction_id"]), tx


def energy(meter_value: dict[str, Any]) -> float:
    for sv in meter_value["sampledValue"]:
        if sv.get("measurand", "Energy.Active.Import.Register") == "Energy.Active.Import.Register":
            return float(sv["value"])
    raise AssertionError(f"no energy register in {meter_value}")


def aligned(ts: str, interval: int, tolerance: float = 0.2) -> bool:
    offset = parse_iso(ts) % interval
    return offset <= tolerance or offset >= interval - tolerance


async def assert_restarted(
    station: StationProcess, csms: TestCSMS, kind: str, boot_at: int
) -> None:
    """The same process (PID) re-executed itself: a second connection, API back, two starts."""
    assert csms.connections == 2
    pid = station.proc.pid if station.proc is not None else None
    await station.wait_ready()
    assert station.proc is not None and station.proc.poll() is None and station.proc.pid == pid
    log = station.log()
    assert f"{kind} reset: restarting" in log
    assert log.count("API token for this station") == 2  # printed once per process start
    for cid in (0, 1, 2):
        await csms.wait_for(
            "StatusNotification", {"connectorId": cid, "status": "Available"}, after=boot_at
        )
    status = await station.status()
    assert status["ocpp"]["registration"] == "Accepted"
    assert [c["status"] for c in status["connectors"]] == ["Available", "Available"]


# ------------------------------------------------------------------------------- Reset


async def reset_without_transaction(station: StationProcess, csms: TestCSMS, kind: str) -> None:
    before = len(csms.frames)
    assert await csms.call(call.Reset(type=kind)) == {"status": "Accepted"}
    boot = await wait_index(csms, "BootNotification", after=before, timeout=15)
    await assert_restarted(station, csms, kind, boot)


async def test_tc_013_cs_hard_reset_without_transaction(
    station: StationProcess, csms: TestCSMS
) -> None:
    await reset_without_transaction(station, csms, "Hard")


async def test_tc_014_cs_soft_reset_without_transaction(
    station: StationProcess, csms: TestCSMS
) -> None:
    await reset_without_transaction(station, csms, "Soft")


async def test_tc_015_cs_hard_reset_with_transaction(
    station: StationProcess, csms: TestCSMS
) -> None:
    tx_id, _ = await start_session(station, csms)
    before = len(csms.frames)
    assert await csms.call(call.Reset(type="Hard")) == {"status": "Accepted"}
    # A hard reset may deliver the StopTransaction before or after the restart.
    await csms.wait_for(
        "StopTransaction", {"transactionId": tx_id, "reason": "HardReset"}, after=before, timeout=15
    )
    boot = await wait_index(csms, "BootNotification", after=before, timeout=15)
    await csms.wait_for("StatusNotification", {"connectorId": 1, "status": "Available"}, after=boot)
    await asyncio.sleep(0.5)
    # Stopped exactly once: the reboot must not find it open and add a PowerLoss stop.
    stops = calls_after(csms, "StopTransaction", after=before)
    assert [p["reason"] for _, p in stops] == ["HardReset"]
    assert csms.connections == 2


async def test_tc_016_cs_soft_reset_with_transaction(
    station: StationProcess, csms: TestCSMS
) -> None:
    tx_id, tx = await start_session(station, csms)
    before = len(csms.frames)
    assert await csms.call(call.Reset(type="Soft")) == {"status": "Accepted"}
    stop_at = await wait_index(
        csms, "StopTransaction", {"transactionId": tx_id, "reason": "SoftReset"}, after=before
    )
    boot = await wait_index(csms, "BootNotification", after=before, timeout=15)
    assert stop_at < boot, "a soft reset stops the transaction before rebooting"
    assert csms.frames[stop_at].payload["meterStop"] >= tx["meterStart"]
    await csms.wait_for("StatusNotification", {"connectorId": 1, "status": "Available"}, after=boot)
    assert len(calls_after(csms, "StopTransaction", after=before)) == 1
    assert csms.connections == 2


# ---------------------------------------------------------------------- UnlockConnector


async def test_tc_017_1_cs_unlock_connector_no_charging_session(
    station: StationProcess, csms: TestCSMS
) -> None:
    before = len(csms.frames)
    assert await csms.call(call.UnlockConnector(connector_id=1)) == {"status": "Unlocked"}
    await asyncio.sleep(0.3)
    assert not calls_after(csms, "StopTransaction", after=before)
    assert (await station.status(1))["status"] == "Available"


async def test_tc_017_2_cs_unlock_connector_no_session_fixed_cable(
    station_factory: StationFactory, csms: TestCSMS
) -> None:
    station = await station_factory(connectors=1, extra_toml=FIXED_CABLE)
    assert await csms.call(call.UnlockConnector(connector_id=1)) == {"status": "NotSupported"}
    assert (await station.status(1))["status"] == "Available"


async def test_tc_018_1_cs_unlock_connector_with_charging_session(
    station: StationProcess, csms: TestCSMS
) -> None:
    tx_id, tx = await start_session(station, csms)
    before = len(csms.frames)
    assert await csms.call(call.UnlockConnector(connector_id=1)) == {"status": "Unlocked"}
    stop = await csms.wait_for("StopTransaction", {"transactionId": tx_id}, after=before)
    assert stop["reason"] == "UnlockCommand"
    assert stop["meterStop"] >= tx["meterStart"]
    finishing = await wait_index(
        csms, "StatusNotification", {"connectorId": 1, "status": "Finishing"}, after=before
    )
    assert (await station.status(1))["status"] == "Finishing"  # the car is still plugged in
    await station.unplug(1)
    available = await wait_index(
        csms, "StatusNotification", {"connectorId": 1, "status": "Available"}, after=before
    )
    assert finishing < available


async def test_tc_018_2_cs_unlock_connector_with_session_fixed_cable(
    station_factory: StationFactory, csms: TestCSMS
) -> None:
    station = await station_factory(connectors=1, extra_toml=FIXED_CABLE)
    tx_id, _ = await start_session(station, csms)
    before = len(csms.frames)
    assert await csms.call(call.UnlockConnector(connector_id=1)) == {"status": "NotSupported"}
    # OCPP 1.6 §5.18: UnlockConnector is there to release a cable stuck in a socket; it stops
    # the transaction "first" only as part of unlocking. A fixed cable has no lock (status
    # NotSupported: "Charge Point has no connector lock"), nothing is unlocked, so the
    # transaction is left running (OCTT TC_018_2 expects NotSupported and no StopTransaction).
    await asyncio.sleep(1.0)
    assert not calls_after(csms, "StopTransaction", after=before)
    status = await station.status(1)
    assert status["status"] == "Charging" and status["transaction_id"] == tx_id


# ----------------------------------------------------------------------- Configuration


async def test_tc_019_cs_retrieve_configuration(
    station_factory: StationFactory, csms: TestCSMS
) -> None:
    await station_factory(keys={"AuthorizationKey": SECRET})
    result = await csms.call(call.GetConfiguration())
    keys = {kv["key"]: kv for kv in result["configurationKey"]}
    assert len(keys) == len(result["configurationKey"]), "each key reported once"
    assert not result.get("unknownKey")
    for name, readonly in REQUIRED_CORE_KEYS.items():
        assert name in keys, f"required Core key {name} missing"
        if readonly is not None:
            assert keys[name]["readonly"] is readonly, name
        assert keys[name].get("value") is not None, f"{name} has no value"
    assert keys["NumberOfConnectors"]["value"] == "2"
    assert keys["HeartbeatInterval"]["value"] == "300"  # the BootNotification.conf interval
    assert "Core" in keys["SupportedFeatureProfiles"]["value"].split(",")
    # The AuthorizationKey (write-only) is never revealed.
    if "AuthorizationKey" in keys:
        assert keys["AuthorizationKey"].get("value") is None
    assert not any(SECRET in f.raw for f in csms.frames if f.direction == "in")

    result = await csms.call(
        call.GetConfiguration(
            key=["HeartbeatInterval", "NumberOfConnectors", "NoSuchKey", "AuthorizationKey"]
        )
    )
    got = {kv["key"]: kv for kv in result["configurationKey"]}
    assert set(got) <= {"HeartbeatInterval", "NumberOfConnectors", "AuthorizationKey"}
    assert {"HeartbeatInterval", "NumberOfConnectors"} <= set(got)
    assert got["HeartbeatInterval"] == {
        "key": "HeartbeatInterval",
        "readonly": False,
        "value": "300",
    }
    assert got["NumberOfConnectors"]["readonly"] is True
    assert got.get("AuthorizationKey", {}).get("value") is None
    assert result["unknownKey"] == ["NoSuchKey"]
    assert not any(SECRET in f.raw for f in csms.frames if f.direction == "in")


async def test_tc_021_cs_change_set_configuration(station: StationProcess, csms: TestCSMS) -> None:
    result = await csms.call(call.ChangeConfiguration(key="MeterValueSampleInterval", value="17"))
    assert result == {"status": "Accepted"}
    got = await csms.call(call.GetConfiguration(key=["MeterValueSampleInterval"]))
    assert got["configurationKey"] == [
        {"key": "MeterValueSampleInterval", "readonly": False, "value": "17"}
    ]
    # What cannot be set is refused, and the value stays.
    for key, value, status in (
        ("MeterValueSampleInterval", "-5", "Rejected"),
        ("MeterValueSampleInterval", "often", "Rejected"),
        ("NumberOfConnectors", "3", "Rejected"),  # read-only
        ("NoSuchKey", "1", "NotSupported"),
    ):
        result = await csms.call(call.ChangeConfiguration(key=key, value=value))
        assert result == {"status": status}, (key, value)
    got = await csms.call(
        call.GetConfiguration(key=["MeterValueSampleInterval", "NumberOfConnectors"])
    )
    assert [kv["value"] for kv in got["configurationKey"]] == ["17", "2"]
    # Runtime changes persist: a power cut and a restart keep the value.
    station.kill()
    before = len(csms.frames)
    station.start()
    await station.wait_ready()
    await wait_index(csms, "BootNotification", after=before)
    got = await csms.call(call.GetConfiguration(key=["MeterValueSampleInterval"]))
    assert got["configurationKey"][0]["value"] == "17"


# ------------------------------------------------------------------------ Meter values

SAMPLED = "Energy.Active.Import.Register,Current.Import,Voltage,Power.Active.Import,SoC"


async def configure(csms: TestCSMS, keys: dict[str, str]) -> None:
    for key, value in keys.items():
        assert await csms.call(call.ChangeConfiguration(key=key, value=value)) == {
            "status": "Accepted"
        }


async def transaction_meter_values(
    csms: TestCSMS, tx_id: int, after: int, count: int, timeout: float, what: str
) -> list[dict[str, Any]]:
    """Waits for `count` MeterValues of transaction `tx_id` after frame `after`; returns all."""

    async def enough() -> bool:
        return len(calls_after(csms, "MeterValues", {"transactionId": tx_id}, after=after)) >= count

    await until(enough, timeout=timeout, what=what)
    return [p for _, p in calls_after(csms, "MeterValues", {"transactionId": tx_id}, after=after)]


async def test_tc_070_cs_sampled_meter_values(station: StationProcess, csms: TestCSMS) -> None:
    await configure(
        csms,
        {
            "MeterValueSampleInterval": "1",
            "MeterValuesSampledData": SAMPLED,
            "StopTxnSampledData": "Energy.Active.Import.Register",
        },
    )
    tx_id, tx = await start_session(station, csms)
    started = len(csms.frames)
    samples = await transaction_meter_values(
        csms, tx_id, started, 3, timeout=6, what="three periodic MeterValues"
    )
    stamps = []
    for payload in samples:
        assert payload["connectorId"] == 1
        (mv,) = payload["meterValue"]
        stamps.append(parse_iso(mv["timestamp"]))
        values = mv["sampledValue"]
        assert {sv["context"] for sv in values} == {"Sample.Periodic"}
        by_measurand: dict[str, list[dict[str, Any]]] = {}
        for sv in values:
            by_measurand.setdefault(sv["measurand"], []).append(sv)
        assert set(by_measurand) == set(SAMPLED.split(","))
        assert sorted(sv["phase"] for sv in by_measurand["Current.Import"]) == ["L1", "L2", "L3"]
        assert all(float(sv["value"]) > 0 for sv in by_measurand["Current.Import"])
        assert all(sv.get("phase") for sv in by_measurand["Voltage"])
        assert by_measurand["Energy.Active.Import.Register"][0]["unit"] == "Wh"
        assert by_measurand["SoC"][0]["unit"] == "Percent"
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    assert all(0.5 <= g <= 1.6 for g in gaps), gaps  # ticks may lag under load
    energies = [energy(p["meterValue"][0]) for p in samples]
    assert all(b > a for a, b in zip(energies, energies[1:], strict=False)), energies
    assert energies[0] >= tx["meterStart"]

    await station.present("TAG1", 1)
    stop = await csms.wait_for("StopTransaction", {"transactionId": tx_id}, after=started)
    data = stop["transactionData"]
    contexts = [mv["sampledValue"][0]["context"] for mv in data]
    assert contexts[0] == "Transaction.Begin" and contexts[-1] == "Transaction.End"
    assert "Sample.Periodic" in contexts[1:-1]
    for mv in data:
        assert [sv["measurand"] for sv in mv["sampledValue"]] == ["Energy.Active.Import.Register"]
    stop_energies = [energy(mv) for mv in data]
    assert stop_energies == sorted(stop_energies)
    assert stop_energies[0] == tx["meterStart"]


async def test_tc_071_cs_clock_aligned_meter_values(
    station: StationProcess, csms: TestCSMS
) -> None:
    await configure(
        csms,
        {
            "MeterValueSampleInterval": "0",
            "MeterValuesAlignedData": "Energy.Active.Import.Register",
            "StopTxnAlignedData": "Energy.Active.Import.Register",
            "ClockAlignedDataInterval": "2",
        },
    )
    before = len(csms.frames)
    # Without a transaction: one per connector, no transactionId.
    for cid in (1, 2):
        mv = await csms.wait_for("MeterValues", {"connectorId": cid}, after=before, timeout=4)
        assert "transactionId" not in mv
        (value,) = mv["meterValue"]
        assert aligned(value["timestamp"], 2), value["timestamp"]
        assert [(sv["measurand"], sv["context"]) for sv in value["sampledValue"]] == [
            ("Energy.Active.Import.Register", "Sample.Clock")
        ]
    tx_id, _ = await start_session(station, csms)
    started = len(csms.frames)
    samples = await transaction_meter_values(
        csms, tx_id, started, 2, timeout=5, what="two clock-aligned MeterValues"
    )
    stamps = [parse_iso(p["meterValue"][0]["timestamp"]) for p in samples]
    for p in samples:
        assert p["connectorId"] == 1
        assert aligned(p["meterValue"][0]["timestamp"], 2)
        assert {sv["context"] for sv in p["meterValue"][0]["sampledValue"]} == {"Sample.Clock"}
    assert 1.6 <= stamps[1] - stamps[0] <= 2.4
    # The other connector, idle, still reports clock-aligned values without a transactionId.
    idle = calls_after(csms, "MeterValues", {"connectorId": 2}, after=started)
    assert idle and all("transactionId" not in p for _, p in idle)

    await station.present("TAG1", 1)
    stop = await csms.wait_for("StopTransaction", {"transactionId": tx_id}, after=started)
    clock = [
        mv for mv in stop["transactionData"] if mv["sampledValue"][0]["context"] == "Sample.Clock"
    ]
    assert len(clock) >= 2
    for mv in clock:
        assert aligned(mv["timestamp"], 2)
        assert [sv["measurand"] for sv in mv["sampledValue"]] == ["Energy.Active.Import.Register"]


# ----------------------------------------------------------------------- Power failure


async def test_tc_032_1_cs_power_failure_while_offline_stop_transaction(
    station_factory: StationFactory, csms: TestCSMS
) -> None:
    """Offline when the power fails: the queued StartTransaction and MeterValues survive the
    power cut and go out first, in order, then the StopTransaction with reason PowerLoss."""
    station = await station_factory(
        keys={"MeterValueSampleInterval": "1", "AllowOfflineTxForUnknownId": "true"}
    )
    csms.offline = True
    await csms.disconnect()

    async def offline() -> bool:
        return not (await station.status())["ocpp"]["connected"]

    await until(offline, what="the station to notice it is offline")
    await station.plug(1)
    await station.present("TAG1", 1)
    await station.wait_status(1, "Charging")

    async def queued() -> bool:  # StartTransaction + 2 MeterValues
        return int((await station.status())["ocpp"]["queued_messages"]) >= 3

    await until(queued, timeout=5, what="queued transaction messages")
    station.kill()
    killed_at = time.time()
    before = len(csms.frames)
    csms.offline = False
    station.start()
    await station.wait_ready()

    boot = await wait_index(csms, "BootNotification", after=before)
    start_at = await wait_index(
        csms, "StartTransaction", {"connectorId": 1, "idTag": "TAG1"}, after=before
    )
    stop_at = await wait_index(csms, "StopTransaction", {"reason": "PowerLoss"}, after=before)
    start = csms.frames[start_at].payload
    stop = csms.frames[stop_at].payload
    assert boot < start_at < stop_at
    assert parse_iso(start["timestamp"]) < killed_at  # the original start time, not the replay
    tx_id = 1001  # the id the CSMS gave the replayed StartTransaction
    assert stop["transactionId"] == tx_id
    meter_values = calls_after(csms, "MeterValues", {"connectorId": 1}, after=before)
    assert len(meter_values) >= 2
    assert all(start_at < i < stop_at for i, _ in meter_values), "queued order kept"
    assert all(p["transactionId"] == tx_id for _, p in meter_values)
    energies = [energy(p["meterValue"][0]) for _, p in meter_values]
    assert energies == sorted(energies)
    assert stop["meterStop"] >= start["meterStart"]
    # meterStop is the last persisted reading, truncated to Wh; sampled values are rounded.
    assert stop["meterStop"] >= energies[-1] - 1
    assert parse_iso(start["timestamp"]) <= parse_iso(stop["timestamp"]) < killed_at
    await csms.wait_for("StatusNotification", {"connectorId": 1, "status": "Available"}, after=boot)
    assert len(calls_after(csms, "StopTransaction", after=before)) == 1


async def test_tc_032_2_cs_power_failure_stop_transaction(
    station_factory: StationFactory, csms: TestCSMS
) -> None:
    """Online when the power fails: after the reboot, StopTransaction(PowerLoss) at the last
    persisted meter reading; the StartTransaction (already confirmed) is not sent again."""
    station = await station_factory(keys={"MeterValueSampleInterval": "1"})
    tx_id, tx = await start_session(station, csms)
    started = len(csms.frames)
    await csms.wait_for("MeterValues", {"transactionId": tx_id}, after=started, timeout=3)
    await asyncio.sleep(1.1)
    sent = [
        energy(p["meterValue"][0])
        for _, p in calls_after(csms, "MeterValues", {"transactionId": tx_id}, after=started)
    ]
    assert sent and sent[-1] > tx["meterStart"]
    station.kill()
    killed_at = time.time()
    before = len(csms.frames)
    station.start()
    await station.wait_ready()

    boot = await wait_index(csms, "BootNotification", after=before)
    stop_at = await wait_index(csms, "StopTransaction", {"transactionId": tx_id}, after=before)
    assert boot < stop_at
    stop = csms.frames[stop_at].payload
    assert stop["reason"] == "PowerLoss"
    assert stop["meterStop"] >= tx["meterStart"]
    assert stop["meterStop"] >= sent[-1] - 1  # the last persisted reading (truncated Wh)
    assert "idTag" not in stop
    assert parse_iso(tx["timestamp"]) <= parse_iso(stop["timestamp"]) < killed_at
    for cid in (0, 1):
        await csms.wait_for(
            "StatusNotification", {"connectorId": cid, "status": "Available"}, after=boot
        )
    assert not calls_after(csms, "StartTransaction", after=before)
    assert len(calls_after(csms, "StopTransaction", after=before)) == 1


async def test_tc_034_cs_power_failure_with_unavailable_status(
    station: StationProcess, csms: TestCSMS
) -> None:
    before = len(csms.frames)
    result = await csms.call(call.ChangeAvailability(connector_id=1, type="Inoperative"))
    assert result == {"status": "Accepted"}
    await csms.wait_for(
        "StatusNotification", {"connectorId": 1, "status": "Unavailable"}, after=before
    )

    station.kill()
    before = len(csms.frames)
    station.start()
    await station.wait_ready()
    boot = await wait_index(csms, "BootNotification", after=before)
    first = await csms.wait_for("StatusNotification", {"connectorId": 1}, after=boot)
    assert first["status"] == "Unavailable", "the availability survives the power failure"
    await csms.wait_for("StatusNotification", {"connectorId": 2, "status": "Available"}, after=boot)
    assert (await station.status(1))["availability"] == "Inoperative"

    mark = len(csms.frames)
    result = await csms.call(call.ChangeAvailability(connector_id=1, type="Operative"))
    assert result == {"status": "Accepted"}
    await csms.wait_for("StatusNotification", {"connectorId": 1, "status": "Available"}, after=mark)

    # During a transaction Inoperative is Scheduled and applies when the transaction ends.
    tx_id, _ = await start_session(station, csms)
    mark = len(csms.frames)
    result = await csms.call(call.ChangeAvailability(connector_id=1, type="Inoperative"))
    assert result == {"status": "Scheduled"}
    await asyncio.sleep(0.3)
    assert not calls_after(
        csms, "StatusNotification", {"connectorId": 1, "status": "Unavailable"}, after=mark
    )
    assert (await station.status(1))["status"] == "Charging"
    await station.present("TAG1", 1)
    stop_at = await wait_index(csms, "StopTransaction", {"transactionId": tx_id}, after=mark)
    unavailable = await wait_index(
        csms, "StatusNotification", {"connectorId": 1, "status": "Unavailable"}, after=mark
    )
    assert stop_at < unavailable

    # The whole station (connector 0) made Inoperative also stays so across a power failure.
    mark = len(csms.frames)
    await station.unplug(1)
    result = await csms.call(call.ChangeAvailability(connector_id=0, type="Inoperative"))
    assert result == {"status": "Accepted"}
    for cid in (0, 2):
        await csms.wait_for(
            "StatusNotification", {"connectorId": cid, "status": "Unavailable"}, after=mark
        )
    station.kill()
    before = len(csms.frames)
    station.start()
    await station.wait_ready()
    boot = await wait_index(csms, "BootNotification", after=before)
    for cid in (0, 1, 2):
        first = await csms.wait_for("StatusNotification", {"connectorId": cid}, after=boot)
        assert first["status"] == "Unavailable", cid
    mark = len(csms.frames)
    result = await csms.call(call.ChangeAvailability(connector_id=0, type="Operative"))
    assert result == {"status": "Accepted"}
    for cid in (0, 1, 2):
        await csms.wait_for(
            "StatusNotification", {"connectorId": cid, "status": "Available"}, after=mark
        )
