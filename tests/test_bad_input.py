"""Bad input from every side: OCPP frames, the control API, and station.toml.

Each bad input gets the exact answer it is owed (CALLERROR code and unique id, HTTP
status naming the field, one stderr line naming the setting) and leaves the station
working.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from ocpp.v16 import call

from tests.csms import StationProcess, TestCSMS

LONG_KEY = "K" * 51

# (raw frame, unique id of the CALLERROR, error code)
BAD_FRAMES: list[tuple[str, str, str]] = [
    # frame structure
    ("this is not json", "-1", "FormationViolation"),
    ('[2,"nan1","GetConfiguration",{"key":NaN}]', "-1", "FormationViolation"),
    ('{"messageTypeId": 2}', "-1", "FormationViolation"),
    ('"just a string"', "-1", "FormationViolation"),
    ("[]", "-1", "ProtocolError"),
    ('[2,"short1"]', "short1", "ProtocolError"),
    ('[2,"short2","GetConfiguration"]', "short2", "ProtocolError"),
    ('[9,"type9",{}]', "type9", "ProtocolError"),
    ('["2","strtype","GetConfiguration",{}]', "strtype", "FormationViolation"),
    ('[2,"long1","GetConfiguration",{},"extra"]', "long1", "FormationViolation"),
    ('[2,17,"GetConfiguration",{}]', "-1", "FormationViolation"),
    ('[2,"arr1","GetConfiguration",[]]', "arr1", "FormationViolation"),
    ('[2,"act1",5,{}]', "act1", "FormationViolation"),
    # action
    ('[2,"id1","NoSuchAction",{}]', "id1", "NotImplemented"),
    (
        '[2,"boot1","BootNotification",{"chargePointVendor":"x","chargePointModel":"y"}]',
        "boot1",
        "NotSupported",
    ),
    ('[2,"hb1","Heartbeat",{}]', "hb1", "NotSupported"),
    # payload
    ('[2,"reset1","Reset",{"type":"Medium"}]', "reset1", "PropertyConstraintViolation"),
    (
        '[2,"avail1","ChangeAvailability",{"connectorId":1,"type":"Broken"}]',
        "avail1",
        "PropertyConstraintViolation",
    ),
    (
        '[2,"trig1","TriggerMessage",{"requestedMessage":"Nope"}]',
        "trig1",
        "PropertyConstraintViolation",
    ),
    (
        '[2,"cc1","ChangeConfiguration",{"key":"HeartbeatInterval"}]',
        "cc1",
        "OccurenceConstraintViolation",
    ),
    ('[2,"dt1","DataTransfer",{"messageId":"ping"}]', "dt1", "OccurenceConstraintViolation"),
    ('[2,"unl1","UnlockConnector",{"connectorId":"1"}]', "unl1", "TypeConstraintViolation"),
    ('[2,"unl2","UnlockConnector",{"connectorId":null}]', "unl2", "TypeConstraintViolation"),
    (
        f'[2,"cc2","ChangeConfiguration",{{"key":"{LONG_KEY}","value":"1"}}]',
        "cc2",
        "TypeConstraintViolation",
    ),
    (
        '[2,"extra1","UnlockConnector",{"connectorId":1,"colour":"red"}]',
        "extra1",
        "FormationViolation",
    ),
    ('[2,"extra2","GetConfiguration",{"key":[],"bogus":1}]', "extra2", "FormationViolation"),
    # several violations: structure wins over presence
    ('[2,"multi1","ChangeConfiguration",{"bogus":1}]', "multi1", "FormationViolation"),
    # refused by the handler (GetConfigurationMaxKeys = 100), not by the schema
    (
        json.dumps([2, "many1", "GetConfiguration", {"key": [f"K{i}" for i in range(101)]}]),
        "many1",
        "OccurenceConstraintViolation",
    ),
]


async def send_unrecorded(
    csms: TestCSMS, raw: str, unique_id: str, timeout: float = 10.0
) -> list[Any]:
    """Like `csms.send_raw`, without recording the outbound frame (it may not be JSON)."""
    assert csms._ws is not None, "no charge point connected"
    start = len(csms.frames)
    await csms._ws.send(raw)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for frame in csms.frames[start:]:
            data = frame.data
            if frame.direction == "in" and data[0] in (3, 4) and data[1] == unique_id:
                return list(data)
        await asyncio.sleep(0.01)
    raise AssertionError(f"no answer to {raw[:60]!r}")


async def test_bad_frames_get_exact_callerrors(station: StationProcess, csms: TestCSMS) -> None:
    for raw, unique_id, code in BAD_FRAMES:
        answer = await send_unrecorded(csms, raw, unique_id)
        assert answer[0] == 4, (raw, answer)
        assert answer[1] == unique_id, (raw, answer)
        assert answer[2] == code, (raw, answer)
        assert isinstance(answer[3], str) and isinstance(answer[4], dict), (raw, answer)

    # Stray answers to nothing are ignored, not answered.
    start = len(csms.frames)
    await csms._ws.send('[3,"nobody",{}]')  # type: ignore[union-attr]
    await csms._ws.send('[4,"nobody","GenericError","",{}]')  # type: ignore[union-attr]

    # The station still works: a configuration request and a whole session.
    conf = await csms.call(call.GetConfiguration(key=["HeartbeatInterval"]))
    assert conf["configurationKey"][0]["key"] == "HeartbeatInterval"
    assert not [f for f in csms.frames[start:] if f.direction == "in" and f.data[0] == 4]
    await station.plug(1)
    await station.present("TAG1", 1)
    tx = await csms.wait_for("StartTransaction", {"connectorId": 1, "idTag": "TAG1"}, after=start)
    assert tx["meterStart"] == 0
    await csms.wait_for("StatusNotification", {"connectorId": 1, "status": "Charging"}, after=start)
    assert (await station.api("GET", "/status"))["ocpp"]["connected"] is True


async def test_valid_frame_with_odd_but_legal_values_is_accepted(
    station: StationProcess, csms: TestCSMS
) -> None:
    """Not everything unusual is an error: legal values must not be refused."""
    answer = await csms.send_raw('[2,"ok1","GetConfiguration",{}]', "ok1")
    assert answer[0] == 3 and answer[2]["configurationKey"]
    answer = await csms.send_raw('[2,"ok2","UnlockConnector",{"connectorId":9}]', "ok2")
    assert answer == [3, "ok2", {"status": "NotSupported"}]
    answer = await csms.send_raw(
        '[2,"ok3","ChangeConfiguration",{"key":"NoSuchKey","value":"x"}]', "ok3"
    )
    assert answer == [3, "ok3", {"status": "NotSupported"}]


# --------------------------------------------------------------------- control API


async def test_api_rejects_bad_bodies(station: StationProcess) -> None:
    r = await station.api("POST", "/sim/connectors/1/plug", {"phases": 2}, expect=422)
    assert "phases" in json.dumps(r["detail"])
    r = await station.api("POST", "/sim/connectors/1/plug", {"colour": "red"}, expect=422)
    assert "colour" in json.dumps(r["detail"])
    r = await station.api("POST", "/sim/connectors/1/plug", {"max_current_a": 500}, expect=422)
    assert "max_current_a" in json.dumps(r["detail"])
    r = await station.api("POST", "/sim/connectors/9/plug", expect=404)
    assert "9" in r["detail"]
    r = await station.api("POST", "/sim/connectors/1/faults", {"code": "no_such_fault"}, expect=422)
    assert "code" in json.dumps(r["detail"])
    r = await station.api("POST", "/sim/connectors/1/faults", {}, expect=422)
    assert "code" in json.dumps(r["detail"])
    r = await station.api("DELETE", "/sim/connectors/1/faults/ground_failure", expect=404)
    assert "code" in r["detail"]
    r = await station.api("POST", "/sim/tokens", {"id_tag": "X" * 21}, expect=422)
    assert "id_tag" in json.dumps(r["detail"])
    r = await station.api("POST", "/sim/tokens", {"id_tag": "TAG1", "connector_id": 9}, expect=404)
    r = await station.api("POST", "/sim/connectors/1/ev-state", {"state": "X"}, expect=422)
    assert "state" in json.dumps(r["detail"])
    await station.api("POST", "/sim/connectors/1/unplug", expect=409)
    await station.api("POST", "/sim/connectors/abc/plug", expect=422)
    async with httpx.AsyncClient() as client:
        r2 = await client.post(
            station.base + "/sim/connectors/1/plug",
            content=b"{not json",
            headers={**station.headers, "Content-Type": "application/json"},
        )
    assert r2.status_code == 422
    # nothing of that changed the connector
    current = await station.status(1)
    assert current["status"] == "Available" and current["errors"] == [] and current["car"] is None


async def test_api_requires_the_bearer_token(station: StationProcess) -> None:
    async with httpx.AsyncClient() as client:
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": "Basic dGVzdA=="},
            {"Authorization": "Bearer"},
        ):
            r = await client.get(station.base + "/status", headers=headers)
            assert r.status_code == 401, (headers, r.status_code)
            r = await client.post(station.base + "/sim/connectors/1/plug", headers=headers)
            assert r.status_code == 401, (headers, r.status_code)
    assert (await station.status(1))["car"] is None


# -------------------------------------------------------------------- station.toml


@pytest.mark.parametrize(
    ("toml", "names"),
    [
        ("[ocpp]\ncall_timeout_s = -1\n", "ocpp.call_timeout_s"),
        ('[http]\nport = "x"\n', "http.port"),
        ("[http]\nport = 70000\n", "http.port"),
        ("[bogus]\nx = 1\n", "bogus"),
        ("[ocpp]\nno_such_field = 1\n", "ocpp.no_such_field"),
        ('[ocpp]\ncsms_url = "http://example.com"\n', "ocpp.csms_url"),
        ("[hardware]\nconnectors = 0\n", "hardware.connectors"),
        ('[authorization]\nmode = "maybe"\n', "authorization.mode"),
        ("[ocpp]\nreconnect_min_s = 10\nreconnect_max_s = 5\n", "reconnect_min_s"),
        ("[[connectors]]\nid = 1\n[[connectors]]\nid = 3\n", "connector ids"),
        ("[ocpp\n", "not valid TOML"),
        ('[ocpp.keys]\nHeartbeatInterval = "abc"\n', "ocpp.keys.HeartbeatInterval"),
        ("[ocpp.keys]\nMeterValueSampleInterval = -1\n", "ocpp.keys.MeterValueSampleInterval"),
        ('[ocpp.keys]\nNoSuchKey = "1"\n', "ocpp.keys.NoSuchKey"),
    ],
)
def test_bad_station_toml_stops_startup(tmp_path: Path, toml: str, names: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(toml)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "chargebox",
            "run",
            "--config",
            str(config),
            "--data-dir",
            str(tmp_path / "data"),
            "--http-port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, lines
    assert names in lines[0], lines[0]
    assert "Traceback" not in proc.stderr
    assert "API token" not in proc.stdout


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chargebox", "run", "--data-dir", str(tmp_path / "data"), *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--config", "/nonexistent/station.toml"], "file not found"),
        (["--csms-url", "http://example.com"], "--csms-url"),
        (["--connectors", "0"], "--connectors"),
    ],
)
def test_bad_command_line_stops_startup(tmp_path: Path, args: list[str], names: str) -> None:
    proc = _run(args, tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and names in lines[0], lines
