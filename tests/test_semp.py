"""SMA SEMP (seed 003 §5.2): a client speaking the protocol to the station over 127.0.0.1.

The client plays the Sunny Home Manager: it reads DeviceInfo / DeviceStatus /
PlanningRequest and posts EM2Device DeviceControl documents; the station's control API
shows what the recommended power did to each connector's limit.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from chargebox.app import RunOptions, Runtime
from chargebox.semp import protocol
from chargebox.semp.protocol import DEVICE_ID_RE, NS
from chargebox.semp.ssdp import SsdpAnnouncer
from tests.netns import veth_pair

N = {"s": NS}

ROOT = Path(__file__).resolve().parents[1]


def control(device_id: str, on: bool, watts: int | None = None) -> bytes:
    power = (
        f"<RecommendedPowerConsumption>{watts}</RecommendedPowerConsumption>"
        if watts is not None
        else ""
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><EM2Device xmlns="{NS}"><DeviceControl>'
        f"<DeviceId>{device_id}</DeviceId><On>{str(on).lower()}</On>{power}"
        "<Timestamp>0</Timestamp></DeviceControl></EM2Device>"
    ).encode()


@dataclass
class Rig:
    rt: Runtime
    api: httpx.AsyncClient
    shm: httpx.AsyncClient  # the "Sunny Home Manager", over 127.0.0.1

    @property
    def device_id(self) -> str:
        return str(self.rt.semp.device_id)

    async def status(self, cid: int) -> dict[str, Any]:
        r = await self.api.get("/api/v1/status")
        assert r.status_code == 200
        return dict(r.json()["connectors"][cid - 1])

    async def device(self, part: str = "") -> ET.Element:
        r = await self.shm.get(f"/{part}" if part else "/")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/xml")
        root = ET.fromstring(r.content)
        assert root.tag == f"{{{NS}}}Device2EM"
        return root

    async def control(self, on: bool, watts: int | None = None) -> None:
        r = await self.shm.post("/", content=control(self.device_id, on, watts))
        assert r.status_code == 200, r.text

    async def plug(self, cid: int, **car: Any) -> None:
        r = await self.api.post(f"/api/v1/sim/connectors/{cid}/plug", json=car)
        assert r.status_code in (200, 201, 202), r.text

    async def until(self, check: Any, timeout: float = 3.0) -> None:
        deadline = time.monotonic() + timeout
        while not await check():
            assert time.monotonic() < deadline, "timed out"
            await asyncio.sleep(0.02)


@pytest.fixture
async def make_rig(tmp_path: Path) -> AsyncIterator[Any]:
    from chargebox.web.api import create_app

    made: list[tuple[Runtime, list[asyncio.Future[Any]], httpx.AsyncClient, httpx.AsyncClient]] = []

    async def make(toml: str = "") -> Rig:
        config = tmp_path / f"station{len(made)}.toml"
        config.write_text(
            f"[semp]\nenabled = true\nport = 0\n{toml}\n"
            "[hardware]\ntick_s = 0.05\n[hardware.sim_car]\nresponse_delay_s = 0\n"
        )
        rt = Runtime(RunOptions(config=config, data_dir=tmp_path / f"data{len(made)}"))
        rt.station.boot()
        assert rt.semp is not None and rt.ssdp is None
        port = await rt.semp.start()
        tasks = [
            asyncio.ensure_future(rt._hardware_loop()),
            asyncio.ensure_future(rt.semp.run()),
        ]
        api = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(rt)),
            base_url="http://test",
            headers={"Authorization": f"Bearer {rt.api_token}"},
        )
        shm = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}{rt.semp.settings.base_path}", timeout=5
        )
        made.append((rt, tasks, api, shm))
        return Rig(rt, api, shm)

    yield make
    for rt, tasks, api, shm in made:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await api.aclose()
        await shm.aclose()
        await rt.semp.stop()
        rt.db.close()


def text(el: ET.Element, path: str) -> str:
    found = el.find(path, N)
    assert found is not None and found.text is not None, path
    return found.text


# ------------------------------------------------------------------ documents


def test_device_id_is_stable_and_in_the_semp_format() -> None:
    a = protocol.device_id_for("CB-0001")
    assert DEVICE_ID_RE.match(a) and a == protocol.device_id_for("CB-0001")
    assert a != protocol.device_id_for("CB-0002")


def test_refuses_what_is_not_an_em2device() -> None:
    for body in (b"nonsense", b"<Device2EM/>", b'<!DOCTYPE x [<!ENTITY a "b">]><EM2Device/>'):
        with pytest.raises(protocol.SempError):
            protocol.parse_em2device(body)
    with pytest.raises(protocol.SempError):
        protocol.parse_em2device(control("F-00000000-000000000000-00", True, -5))
    (ctl,) = protocol.parse_em2device(control("F-00000000-000000000000-00", True, 4140))
    assert ctl.on and ctl.recommended_power_w == 4140


async def test_device_info_and_status_are_consistent_with_the_station(make_rig: Any) -> None:
    rig = await make_rig()
    root = await rig.device()
    info = root.find("s:DeviceInfo", N)
    assert info is not None
    device_id = text(info, "s:Identification/s:DeviceId")
    assert DEVICE_ID_RE.match(device_id) and device_id == rig.device_id
    assert text(info, "s:Identification/s:DeviceType") == "EVCharger"
    # two 3-phase connectors, 32 A each by default: 2 x 3 x 230 V x 32 A
    connectors = rig.rt.station.connectors.values()
    expected = sum(230 * c.spec.phases * c.spec.max_current_a for c in connectors)
    assert int(text(info, "s:Characteristics/s:MaxPowerConsumption")) == round(expected)
    assert int(text(info, "s:Characteristics/s:MinPowerConsumption")) == 3 * 230 * 6
    assert text(info, "s:Capabilities/s:Interruptions/s:InterruptionsAllowed") == "true"
    assert text(info, "s:Capabilities/s:Requests/s:OptionalEnergy") == "true"
    status = root.find("s:DeviceStatus", N)
    assert status is not None
    assert text(status, "s:DeviceId") == device_id
    assert text(status, "s:EMSignalsAccepted") == "true"
    assert text(status, "s:Status") == "Off"
    assert text(status, "s:PowerConsumption/s:PowerInfo/s:AveragePower") == "0"
    assert root.find("s:PlanningRequest", N) is None  # no car: nothing to plan

    await rig.plug(1)

    async def charging() -> bool:
        s = await rig.device("DeviceStatus")
        return text(s, "s:DeviceStatus/s:Status") == "On" and (
            int(text(s, "s:DeviceStatus/s:PowerConsumption/s:PowerInfo/s:AveragePower")) > 0
        )

    await rig.until(charging)
    s = await rig.status(1)
    doc = await rig.device("DeviceStatus")
    power = int(text(doc, "s:DeviceStatus/s:PowerConsumption/s:PowerInfo/s:AveragePower"))
    assert abs(power - s["power_w"]) < 500
    plan = await rig.device("PlanningRequest")
    frame = plan.find("s:PlanningRequest/s:Timeframe", N)
    assert frame is not None
    assert text(frame, "s:DeviceId") == device_id
    assert text(frame, "s:EarliestStart") == "0" and text(frame, "s:LatestEnd") == "86400"
    assert text(frame, "s:MinEnergy") == "0"  # surplus mode: optional energy
    car = rig.rt.sim.connectors[1].car
    assert car is not None
    need = car.capacity_kwh * 1000 * (100 - car.soc_percent) / 100
    assert abs(int(text(frame, "s:MaxEnergy")) - need) < 200  # the car's remaining need
    r = await rig.shm.get("/Nonsense")
    assert r.status_code == 404


async def test_planning_request_uses_the_configured_energy_when_the_need_is_unknown(
    make_rig: Any,
) -> None:
    rig = await make_rig('mode = "fast"\nmax_energy_kwh = 12.5\n')
    rig.rt.semp.remaining_wh = lambda cid: None
    await rig.plug(1)
    await rig.until(lambda: _has_session(rig))
    frame = (await rig.device("PlanningRequest")).find("s:PlanningRequest/s:Timeframe", N)
    assert frame is not None
    assert text(frame, "s:MaxEnergy") == "12500" and text(frame, "s:MinEnergy") == "12500"


async def _has_session(rig: Rig) -> bool:
    return (await rig.status(1))["transaction_id"] is not None or (
        rig.rt.station.connectors[1].transaction is not None
    )


async def test_recommended_power_becomes_an_ems_claim_and_off_pauses(make_rig: Any) -> None:
    rig = await make_rig()
    await rig.plug(1)
    await rig.until(lambda: _has_session(rig))
    # 3 phases: 6900 W / (230 V x 3) = 10 A
    await rig.control(True, 6900)
    s = await rig.status(1)
    assert s["current_limit_a"] == 10.0 and s["limiting_source"] == "ems"

    async def drawing_10() -> bool:
        return abs(max((await rig.status(1))["current_a"]) - 10.0) < 0.6

    await rig.until(drawing_10)
    # a second car: the recommended power is shared between the charging connectors
    await rig.plug(2)

    async def two_sessions() -> bool:
        return rig.rt.station.connectors[2].transaction is not None

    await rig.until(two_sessions)
    await rig.control(True, 13800)
    for cid in (1, 2):
        s = await rig.status(cid)
        assert s["current_limit_a"] == 10.0 and s["limiting_source"] == "ems"
    # too little for two cars at the minimum current: paused, not 3 A
    await rig.control(True, 4000)
    assert (await rig.status(1))["current_limit_a"] == 0.0
    # On without a recommendation: up to the hardware
    await rig.control(True)
    assert (await rig.status(1))["current_limit_a"] == 32.0
    # Off pauses
    await rig.control(False, 0)
    for cid in (1, 2):
        s = await rig.status(cid)
        assert s["current_limit_a"] == 0.0 and s["limiting_source"] == "ems"

    async def nothing_drawn() -> bool:
        return (await rig.status(1))["power_w"] == 0 and (await rig.status(2))["power_w"] == 0

    await rig.until(nothing_drawn)
    doc = await rig.device("DeviceStatus")
    assert text(doc, "s:DeviceStatus/s:Status") == "Off"
    # a DeviceControl for another device changes nothing
    r = await rig.shm.post("/", content=control("F-00000000-000000000000-00", True, 22000))
    assert r.status_code == 404
    assert (await rig.status(1))["current_limit_a"] == 0.0
    r = await rig.shm.post("/", content=b"<EM2Device><Broken>")
    assert r.status_code == 400


async def test_no_device_control_within_the_timeout_means_the_fallback_current(
    make_rig: Any,
) -> None:
    rig = await make_rig("timeout_s = 0.5\nfallback_current_a = 8\n")
    await rig.plug(1)
    await rig.until(lambda: _has_session(rig))
    await rig.control(True, 9660)  # 14 A x 3
    assert (await rig.status(1))["current_limit_a"] == 14.0
    started = time.monotonic()

    async def fallback() -> bool:
        return (await rig.status(1))["current_limit_a"] == 8.0

    await rig.until(fallback, timeout=3)
    assert time.monotonic() - started >= 0.4
    s = await rig.status(1)
    assert s["limiting_source"] == "ems" and rig.rt.semp.fallback
    # the energy manager comes back
    await rig.control(True, 8280)  # 12 A x 3
    s = await rig.status(1)
    assert s["current_limit_a"] == 12.0 and not rig.rt.semp.fallback


async def test_fallback_zero_pauses(make_rig: Any) -> None:
    rig = await make_rig("timeout_s = 0.3\nfallback_current_a = 0\n")
    await rig.plug(1)
    await rig.until(lambda: _has_session(rig))
    await rig.control(True, 22080)

    async def paused() -> bool:
        return (await rig.status(1))["current_limit_a"] == 0.0

    await rig.until(paused, timeout=3)


def test_settings_validate_the_semp_section(tmp_path: Path) -> None:
    from chargebox.settings import SettingsError, load

    bad = tmp_path / "bad.toml"
    for body in (
        "[semp]\nfallback_current_a = 3\n",
        "[semp]\nannounce = true\n",
        '[semp]\ndevice_id = "F-1-2-3"\n',
    ):
        bad.write_text(body)
        with pytest.raises(SettingsError):
            load(bad)


# ------------------------------------------------------------------ SSDP


def test_announcer_answers_m_search_for_the_semp_device() -> None:
    a = SsdpAnnouncer("10.0.0.1", "http://10.0.0.1:8888/description.xml", "uuid:abc")
    search = (
        b'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\n'
        b"MX: 1\r\nST: urn:schemas-simple-energy-management-protocol:device:Gateway:1\r\n\r\n"
    )
    (reply,) = a.answer(search)
    assert reply.startswith(b"HTTP/1.1 200 OK") and b"LOCATION: http://10.0.0.1:8888/" in reply
    assert len(a.answer(search.replace(b"ST: urn:schemas-simple", b"ST: ssdp:all#"))) == 0
    assert (
        len(
            a.answer(
                search.replace(
                    b"urn:schemas-simple-energy-management-protocol:device:Gateway:1", b"ssdp:all"
                )
            )
        )
        == 3
    )  # noqa: E501
    assert a.answer(b"NOTIFY * HTTP/1.1\r\n\r\n") == []
    assert all(b"NTS: ssdp:alive" in m for m in a.notify())
    assert a.sent == []  # nothing sent until started


async def test_description_names_the_semp_service(make_rig: Any) -> None:
    rig = await make_rig()
    port = rig.rt.semp.port
    async with httpx.AsyncClient() as c:
        r = await c.get(f"http://127.0.0.1:{port}/description.xml")
    assert r.status_code == 200
    root = ET.fromstring(r.content)
    sns = {"u": protocol.UPNP_NS, "semp": protocol.SEMP_SERVICE_NS}
    assert text_ns(root, "u:device/u:deviceType", sns) == protocol.DEVICE_TYPE
    assert text_ns(root, "u:device/semp:X_SEMPSERVICE/semp:server", sns) == (
        f"http://127.0.0.1:{port}"
    )
    base = text_ns(root, "u:device/semp:X_SEMPSERVICE/semp:basePath", sns)
    assert base == "/SimpleEnergyManagementProtocol"


def text_ns(el: ET.Element, path: str, ns: dict[str, str]) -> str:
    found = el.find(path, ns)
    assert found is not None and found.text is not None, path
    return found.text


NETNS_SCRIPT = r"""
import asyncio, socket, struct, sys
from chargebox.semp.ssdp import SsdpAnnouncer

async def main():
    a = SsdpAnnouncer("10.231.0.1", "http://10.231.0.1:8888/description.xml", "uuid:test",
                      interval_s=0.3)
    await a.start()
    await asyncio.sleep(float(sys.argv[1]))
    await a.stop()

asyncio.run(main())
"""

LISTEN_SCRIPT = r"""
import socket, struct, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", 1900))
mreq = struct.pack("4s4s", socket.inet_aton("239.255.255.250"), socket.inet_aton("10.231.0.2"))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
s.settimeout(3)
notify = s.recvfrom(2048)[0]
q = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
q.bind(("10.231.0.2", 0))
q.settimeout(3)
q.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("10.231.0.2"))
q.sendto(b'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\n'
         b'MX: 1\r\nST: urn:schemas-simple-energy-management-protocol:device:Gateway:1\r\n\r\n',
         ("239.255.255.250", 1900))
reply = q.recvfrom(2048)[0]
print(notify.split(b"\r\n")[0].decode())
print(reply.decode())
"""


def test_ssdp_announcement_inside_a_private_network_namespace() -> None:
    """NOTIFY and the M-SEARCH answer, only between two namespaces this test creates."""
    with veth_pair(f"cbsemp{os.getpid()}", "10.231.0", multicast_route=True) as (a, b):
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        announcer = subprocess.Popen(
            ["ip", "netns", "exec", a, sys.executable, "-c", NETNS_SCRIPT, "4"], env=env
        )
        try:
            time.sleep(0.2)
            listener = subprocess.run(
                ["ip", "netns", "exec", b, sys.executable, "-c", LISTEN_SCRIPT],
                capture_output=True,
                text=True,
                timeout=20,
                env=env,
                check=False,
            )
        finally:
            announcer.wait(timeout=20)
        assert listener.returncode == 0, listener.stderr
        assert listener.stdout.startswith("NOTIFY * HTTP/1.1")
        assert "HTTP/1.1 200 OK" in listener.stdout
        assert "LOCATION: http://10.231.0.1:8888/description.xml" in listener.stdout
        assert "ST: urn:schemas-simple-energy-management-protocol:device:Gateway:1" in (
            listener.stdout
        )
