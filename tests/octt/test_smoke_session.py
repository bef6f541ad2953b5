"""A complete charging session through the control API against the test CSMS."""

from __future__ import annotations

from ocpp.v16 import call
from tests.csms import StationProcess, TestCSMS


async def test_tc_003_cs_regular_charging_session_plugin_first(
    station: StationProcess, csms: TestCSMS
) -> None:
    await csms.call(call.ChangeConfiguration(key="MeterValueSampleInterval", value="1"))
    start = len(csms.frames)
    await station.plug(1)
    await csms.wait_for(
        "StatusNotification", {"connectorId": 1, "status": "Preparing"}, after=start
    )
    await station.present("TAG1", 1)
    await csms.wait_for("Authorize", {"idTag": "TAG1"}, after=start)
    tx = await csms.wait_for("StartTransaction", {"connectorId": 1, "idTag": "TAG1"}, after=start)
    assert tx["meterStart"] == 0
    await csms.wait_for("StatusNotification", {"connectorId": 1, "status": "Charging"}, after=start)
    mv = await csms.wait_for("MeterValues", {"connectorId": 1, "transactionId": 1001}, after=start)
    assert mv["meterValue"][0]["sampledValue"][0]["measurand"] == "Energy.Active.Import.Register"
    await station.present("TAG1", 1)
    stop = await csms.wait_for("StopTransaction", {"transactionId": 1001}, after=start)
    assert stop["reason"] == "Local"
    await csms.wait_for(
        "StatusNotification", {"connectorId": 1, "status": "Finishing"}, after=start
    )
    await station.unplug(1)
    await csms.wait_for(
        "StatusNotification", {"connectorId": 1, "status": "Available"}, after=start
    )
    order = [
        f.action
        for f in csms.frames[start:]
        if f.direction == "in" and f.action in ("Authorize", "StartTransaction", "StopTransaction")
    ]
    assert order == ["Authorize", "StartTransaction", "StopTransaction"]
