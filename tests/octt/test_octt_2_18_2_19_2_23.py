"""OCTT 1.6 charge-point test cases 2.18 (firmware), 2.19 (diagnostics), 2.23 (DataTransfer).

Firmware images and diagnostics archives travel over real servers on 127.0.0.1: an HTTP
server and a pyftpdlib FTP server (`tests/file_servers.py`). Failures are injected there:
a missing file (404), a refused upload (500), an image whose content starts with INVALID.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import time
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call
from tests.csms import StationProcess, TestCSMS, now_iso
from tests.file_servers import FtpFiles, HttpFiles

FW = "FirmwareStatusNotification"
DIAG = "DiagnosticsStatusNotification"


@pytest.fixture
async def http_files(tmp_path: Path) -> AsyncIterator[HttpFiles]:
    server = HttpFiles(tmp_path / "http")
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def ftp_files(tmp_path: Path) -> AsyncIterator[FtpFiles]:
    server = FtpFiles(tmp_path / "ftp")
    server.start()
    yield server
    server.stop()


def statuses(csms: TestCSMS, action: str, start: int) -> list[str]:
    return [f.payload["status"] for f in csms.frames[start:] if f.action == action]


async def trigger(csms: TestCSMS, message: str, **extra: Any) -> str:
    result = await csms.call(call.TriggerMessage(requested_message=message, **extra))
    return str(result["status"])


async def wait_statuses(
    csms: TestCSMS, action: str, expected: list[str], start: int, timeout: float = 20.0
) -> None:
    """`expected` are the statuses sent since `start`, in this order, and nothing else."""
    await csms.wait_for(action, {"status": expected[-1]}, after=start, timeout=timeout)
    assert statuses(csms, action, start) == expected


# -------------------------------------------------------------- 2.18 firmware


async def test_tc_044_1_cs_firmware_update_download_and_install(
    station: StationProcess, csms: TestCSMS, http_files: HttpFiles
) -> None:
    image = b"chargebox firmware 2.0.1\n" * 100
    (http_files.root / "chargebox-2.0.1.bin").write_bytes(image)
    (http_files.root / "chargebox-2.0.1.bin.sha256").write_text(
        hashlib.sha256(image).hexdigest() + "  chargebox-2.0.1.bin\n"
    )
    await station.plug(1)
    await station.present("TAG1", 1)
    await csms.wait_for("StartTransaction", {"connectorId": 1})
    start = len(csms.frames)
    result = await csms.call(
        call.UpdateFirmware(
            location=f"{http_files.url}/chargebox-2.0.1.bin", retrieve_date=now_iso()
        )
    )
    assert result == {}
    await wait_statuses(csms, FW, ["Downloading", "Downloaded", "Installing"], start)
    stop = await csms.wait_for("StopTransaction", {"reason": "Reboot"}, after=start)
    assert stop["meterStop"] >= 0
    boot = await csms.wait_for("BootNotification", after=start, timeout=30)
    assert boot["firmwareVersion"] == "chargebox-2.0.1"
    after_boot = len(csms.frames)
    await csms.wait_for(FW, {"status": "Installed"}, after=start, timeout=20)
    assert statuses(csms, FW, start)[-1] == "Installed"
    assert ("GET", "/chargebox-2.0.1.bin.sha256") in http_files.requests
    assert await trigger(csms, FW) == "Accepted"
    await csms.wait_for(FW, {"status": "Idle"}, after=after_boot)


async def test_tc_044_2_cs_firmware_update_download_failed(
    station: StationProcess, csms: TestCSMS, http_files: HttpFiles
) -> None:
    start = len(csms.frames)
    result = await csms.call(
        call.UpdateFirmware(
            location=f"{http_files.url}/missing-9.9.bin",
            retrieve_date=now_iso(),
            retries=2,
            retry_interval=1,
        )
    )
    assert result == {}
    await wait_statuses(csms, FW, ["Downloading", "DownloadFailed"], start)
    assert http_files.requests.count(("GET", "/missing-9.9.bin")) == 2
    assert await trigger(csms, FW) == "Accepted"
    await csms.wait_for(FW, {"status": "Idle"}, after=start)
    assert "BootNotification" not in [f.action for f in csms.frames[start:]]


async def test_tc_044_3_cs_firmware_update_installation_failed(
    station: StationProcess, csms: TestCSMS, ftp_files: FtpFiles
) -> None:
    """Downloaded over FTP, refused at verification: no restart, the old firmware runs on."""
    (ftp_files.root / "chargebox-3.0.0.bin").write_bytes(b"INVALID image\n")
    start = len(csms.frames)
    await csms.call(
        call.UpdateFirmware(
            location=f"{ftp_files.url}/chargebox-3.0.0.bin", retrieve_date=now_iso()
        )
    )
    expected = ["Downloading", "Downloaded", "Installing", "InstallationFailed"]
    await wait_statuses(csms, FW, expected, start)
    assert (await station.status())["ocpp"]["connected"]
    assert "BootNotification" not in [f.action for f in csms.frames[start:]]


async def test_tc_054_cs_trigger_firmware_status_while_downloading(
    station: StationProcess, csms: TestCSMS, http_files: HttpFiles
) -> None:
    """TriggerMessage reports the real status of a running update, then Idle."""
    (http_files.root / "chargebox-4.0.0.bin").write_bytes(b"")  # empty: fails verification
    start = len(csms.frames)
    await csms.call(
        call.UpdateFirmware(
            location=f"{http_files.url}/slow/chargebox-4.0.0.bin", retrieve_date=now_iso()
        )
    )
    await csms.wait_for(FW, {"status": "Downloading"}, after=start)
    triggered = len(csms.frames)
    assert await trigger(csms, FW, connector_id=1) == "Accepted"
    await csms.wait_for(FW, {"status": "Downloading"}, after=triggered)
    await csms.wait_for(FW, {"status": "InstallationFailed"}, after=start)
    assert await trigger(csms, FW) == "Accepted"
    await csms.wait_for(FW, {"status": "Idle"}, after=start)
    assert await trigger(csms, DIAG, connector_id=9) == "Rejected"


# ----------------------------------------------------------- 2.19 diagnostics


def _archive(data: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {name: z.read(name).decode() for name in z.namelist()}


async def test_tc_045_1_cs_get_diagnostics(
    station: StationProcess, csms: TestCSMS, ftp_files: FtpFiles
) -> None:
    secret = "0011223344556677aabbccdd"
    changed = await csms.call(call.ChangeConfiguration(key="AuthorizationKey", value=secret))
    assert changed["status"] == "Accepted"
    deadline = time.monotonic() + 15  # a new key: the station reconnects with it
    while csms.connections < 2 or not (await station.status())["ocpp"]["connected"]:
        assert time.monotonic() < deadline, "the station did not reconnect"
        await asyncio.sleep(0.1)
    (ftp_files.root / "diag").mkdir()
    start = len(csms.frames)
    result = await csms.call(
        call.GetDiagnostics(
            location=f"{ftp_files.url}/diag/",
            start_time="2020-01-01T00:00:00Z",
            stop_time="2099-01-01T00:00:00Z",
        )
    )
    name = result["fileName"]
    assert name.endswith(".zip")
    await wait_statuses(csms, DIAG, ["Uploading", "Uploaded"], start)
    files = _archive((ftp_files.root / "diag" / name).read_bytes())
    assert set(files) >= {"chargebox.log", "ocpp-messages.log", "configuration.json"}
    assert '"BootNotification"' in files["ocpp-messages.log"]
    assert "chargebox CP_1" in files["chargebox.log"]  # the start-up line
    keys = {e["key"]: e.get("value") for e in json.loads(files["configuration.json"])}
    assert "AuthorizationKey" not in keys and keys["MinimumStatusDuration"] == "0"
    assert all(secret not in text for text in files.values())
    assert ftp_files.password not in files["ocpp-messages.log"]
    assert await trigger(csms, DIAG) == "Accepted"
    await csms.wait_for(DIAG, {"status": "Idle"}, after=start)


async def test_tc_045_2_cs_get_diagnostics_upload_failed(
    station: StationProcess, csms: TestCSMS, http_files: HttpFiles
) -> None:
    start = len(csms.frames)
    result = await csms.call(
        call.GetDiagnostics(location=f"{http_files.url}/fail", retries=2, retry_interval=1)
    )
    await wait_statuses(csms, DIAG, ["Uploading", "UploadFailed"], start)
    assert http_files.requests.count(("PUT", f"/fail/{result['fileName']}")) == 2


async def test_tc_045_1_cs_get_diagnostics_http_window(
    station: StationProcess, csms: TestCSMS, http_files: HttpFiles
) -> None:
    """Over HTTP PUT, and a window in the future holds no log lines."""
    start = len(csms.frames)
    result = await csms.call(
        call.GetDiagnostics(location=f"{http_files.url}/upload/", start_time="2099-01-01T00:00:00Z")
    )
    await wait_statuses(csms, DIAG, ["Uploading", "Uploaded"], start)
    files = _archive((http_files.root / "uploads" / result["fileName"]).read_bytes())
    assert files["chargebox.log"] == "" and files["ocpp-messages.log"] == ""


# ---------------------------------------------------------- 2.23 data transfer


async def test_tc_062_cs_data_transfer_to_a_charge_point(
    station: StationProcess, csms: TestCSMS
) -> None:
    unknown_vendor = await csms.call(call.DataTransfer(vendor_id="acme", message_id="ping"))
    assert unknown_vendor["status"] == "UnknownVendorId"
    ping = await csms.call(call.DataTransfer(vendor_id="chargebox", message_id="ping", data="42"))
    assert ping["status"] == "Accepted" and ping["data"] == "42"
    unknown = await csms.call(call.DataTransfer(vendor_id="chargebox", message_id="nope"))
    assert unknown["status"] == "UnknownMessageId"
