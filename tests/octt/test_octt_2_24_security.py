"""Security profiles 1 and 2: HTTP Basic auth with AuthorizationKey, TLS with a configured CA."""

from __future__ import annotations

import asyncio
import base64
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from ocpp.v16 import call
from tests.csms import StationProcess, TestCSMS

KEY = "0123456789abcdef0123"


def _basic(identity: str, key: str) -> str:
    return "Basic " + base64.b64encode(f"{identity}:{key}".encode()).decode()


async def _start(station: StationProcess, csms: TestCSMS) -> StationProcess:
    station.start()
    await station.wait_ready()
    await csms.wait_connected()
    await csms.wait_for("BootNotification")
    return station


@pytest.fixture
async def profile_1(csms: TestCSMS, tmp_path: Path) -> AsyncIterator[StationProcess]:
    """A station on security profile 1 (HTTP Basic auth with KEY), started and booted."""
    station = StationProcess(
        tmp_path, csms.url, keys={"AuthorizationKey": KEY, "SecurityProfile": "1"}
    )
    try:
        yield await _start(station, csms)
    finally:
        station.kill()


async def test_tc_085_cs_basic_authentication_valid_credentials(
    csms: TestCSMS, profile_1: StationProcess
) -> None:
    assert csms.auth_headers[-1] == _basic("CP_1", KEY)
    # The key is write-only: GetConfiguration names it without its value.
    result = await csms.call(call.GetConfiguration(key=["AuthorizationKey"]))
    entry = result["configurationKey"][0]
    assert entry["key"] == "AuthorizationKey" and "value" not in entry


async def test_new_authorization_key_reconnects_with_it(
    csms: TestCSMS, profile_1: StationProcess
) -> None:
    before = csms.connections
    new_key = "fedcba9876543210fedc"
    result = await csms.call(call.ChangeConfiguration(key="AuthorizationKey", value=new_key))
    assert result["status"] == "Accepted"
    for _ in range(100):
        if csms.connections > before:
            break
        await asyncio.sleep(0.05)
    assert csms.connections > before
    assert csms.auth_headers[-1] == _basic("CP_1", new_key)


async def test_tc_084_cs_downgrade_security_profile_rejected(
    csms: TestCSMS, profile_1: StationProcess
) -> None:
    result = await csms.call(call.ChangeConfiguration(key="SecurityProfile", value="0"))
    assert result["status"] == "Rejected"


@pytest.fixture
async def tls_csms(tmp_path: Path) -> AsyncIterator[tuple[TestCSMS, Path]]:
    """A wss:// central system with a self-signed certificate for 127.0.0.1."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = TestCSMS(ssl_context=context)
    await server.start()
    yield server, cert
    await server.stop()


async def test_tc_086_cs_tls_server_side_certificate_valid(
    tls_csms: tuple[TestCSMS, Path], tmp_path: Path
) -> None:
    csms, cert = tls_csms
    station = StationProcess(
        tmp_path,
        csms.url,
        keys={"AuthorizationKey": KEY, "SecurityProfile": "2"},
        ocpp_lines=[f'ca_file = "{cert}"'],
    )
    try:
        await _start(station, csms)
        assert csms.url.startswith("wss://")
        assert csms.auth_headers[-1] == _basic("CP_1", KEY)
        await csms.wait_for("StatusNotification", {"connectorId": 0})
    finally:
        station.kill()


async def test_tls_refuses_an_unknown_certificate(
    tls_csms: tuple[TestCSMS, Path], tmp_path: Path
) -> None:
    """Without the CA, the station must not talk to a server it cannot verify."""
    csms, _ = tls_csms
    station = StationProcess(tmp_path, csms.url)
    try:
        station.start()
        await station.wait_ready()
        await asyncio.sleep(1.5)
        assert not csms.calls("BootNotification")
        status = await station.api("GET", "/status")
        assert status["ocpp"]["connected"] is False
    finally:
        station.kill()
