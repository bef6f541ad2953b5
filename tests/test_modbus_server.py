"""The Modbus TCP register server (OMCCI) driven by a pymodbus client acting as an energy
manager: an in-process station on 127.0.0.1 (free ports), and one `chargebox run
--modbus-port` process. Register addresses are the manual's (seed 003)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymodbus.client import AsyncModbusTcpClient

from chargebox.app import RunOptions, Runtime
from chargebox.modbus.registermap import decode_string, encode_value, load_map
from chargebox.store.whitelist import WhitelistEntry
from tests.csms import API_TOKEN, StationProcess, free_ports

ILLEGAL_FUNCTION, ILLEGAL_ADDRESS, ILLEGAL_VALUE = 1, 2, 3
ROOT = Path(__file__).resolve().parents[1]

# Every register of the manual's table (seed 003 "MODBUS-REGISTERSATZ"): (address, registers).
MANUAL = [
    (100, 2), (104, 1), (105, 2), (107, 2), (109, 2), (111, 2), (120, 2), (122, 1), (123, 1),
    (124, 1), (131, 1), (132, 1), (133, 1), (134, 1), (135, 1), (136, 1), (137, 1), (138, 1),
    (139, 1), (140, 1), (141, 1), (142, 2), (144, 2), (146, 2), (148, 2), (150, 2), (152, 1),
    (200, 2), (202, 2), (204, 2), (206, 2), (208, 2), (210, 2), (212, 2), (214, 2), (216, 2),
    (218, 2), (220, 2), (222, 2), (224, 2), (226, 2), (600, 1), (610, 1), (611, 1), (612, 1),
    (613, 1), (614, 1), (615, 1), (620, 1), (621, 1), (630, 1), (631, 1), (632, 1), (633, 1),
    (634, 1), (635, 1), (701, 2), (703, 2), (706, 1), (707, 2), (710, 2), (712, 1), (713, 2),
    (715, 1), (716, 2), (718, 2), (720, 2), (722, 2), (724, 2), (726, 2), (728, 2), (740, 1),
    (741, 2), (743, 2), (745, 2), (1000, 1), (1110, 2), (1112, 2), (1114, 2), (1116, 2),
    (1118, 2),
]  # fmt: skip
WRITABLE = {124, 131, 132, 613, 614, 615, 1000, 1110}


# ------------------------------------------------------------------ the map file


def test_map_has_every_register_of_the_manual_at_its_address() -> None:
    regmap = load_map()
    covered = {a for r in regmap.registers for a in range(r.address, r.end)}
    manual = {a + i for a, n in MANUAL for i in range(n)}
    extensions = {1010, 1011}  # DLM setpoint and network id (chargebox, energy/dlm)
    assert covered == manual | extensions
    assert {r.address for r in regmap.registers if r.writable} == WRITABLE | {1010}
    assert regmap.by_name("device_id").address == 141 and regmap.device_id == 0xEBEE
    assert regmap.by_name("ems_current_limit").access == "RW"
    assert regmap.by_name("user_id_write").access == "W"


def test_encodings_are_big_endian_ascii_and_bcd() -> None:
    assert encode_value(0x12345678, "uint32", 2) == [0x1234, 0x5678]
    assert encode_value("0.91", "string", 2) == [0x302E, 0x3931]  # the manual's example
    assert encode_value("0.6", "string", 2) == [0x302E, 0x3600]
    assert encode_value(143005, "bcd32", 2) == [0x0014, 0x3005]  # 14:30:05
    assert encode_value(-5, "uint16", 1) == [0] and encode_value(70000, "uint16", 1) == [0xFFFF]
    assert decode_string(encode_value("04A2B3C4", "string", 10)) == "04A2B3C4"


def test_docs_are_generated_from_the_map() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "modbus_doc.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr


# ------------------------------------------------------------ the running station


@dataclass
class Rig:
    rt: Runtime
    api: httpx.AsyncClient
    base: int

    def client(self, connector_id: int = 1) -> AsyncModbusTcpClient:
        return AsyncModbusTcpClient("127.0.0.1", port=self.base + connector_id - 1, timeout=2)

    async def status(self, connector_id: int) -> dict[str, Any]:
        r = await self.api.get("/api/v1/status")
        assert r.status_code == 200
        return dict(r.json()["connectors"][connector_id - 1])

    async def until(self, check: Any, timeout: float = 3.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, "timed out"
            await asyncio.sleep(0.02)


async def read(client: AsyncModbusTcpClient, address: int, count: int = 1, unit: int = 1) -> Any:
    rr = await client.read_holding_registers(address, count=count, device_id=unit)
    assert not rr.isError(), rr
    return rr.registers


def u32(words: list[int]) -> int:
    return (words[0] << 16) | words[1]


async def refused(client: AsyncModbusTcpClient, address: int, values: list[int]) -> int:
    rr = await client.write_registers(address, values, device_id=1)
    assert rr.isError(), rr
    return int(rr.exception_code)


@pytest.fixture
async def make_rig(tmp_path: Path) -> AsyncIterator[Any]:
    from chargebox.web.api import create_app

    made: list[tuple[Runtime, list[asyncio.Future[Any]], httpx.AsyncClient]] = []

    async def make(toml: str = "", connectors: int = 2) -> Rig:
        base = free_ports(connectors)
        config = tmp_path / f"station{len(made)}.toml"
        config.write_text(
            f"[modbus]\nenabled = true\nbase_port = {base}\n{toml}\n"
            "[hardware]\ntick_s = 0.05\n[hardware.sim_car]\nresponse_delay_s = 0\n"
        )
        rt = Runtime(
            RunOptions(config=config, data_dir=tmp_path / f"data{len(made)}", connectors=connectors)
        )
        rt.station.boot()
        assert rt.modbus is not None
        await rt.modbus.start()
        tasks = [
            asyncio.ensure_future(rt._hardware_loop()),
            asyncio.ensure_future(rt.modbus.run()),
        ]
        if rt.energy is not None:
            tasks.append(asyncio.ensure_future(rt.energy.run()))
        api = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(rt)),
            base_url="http://test",
            headers={"Authorization": f"Bearer {rt.api_token}"},
        )
        made.append((rt, tasks, api))
        return Rig(rt, api, base)

    yield make
    for rt, tasks, api in made:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await api.aclose()
        assert rt.modbus is not None
        await rt.modbus.stop()
        rt.db.close()


async def test_energy_manager_reads_identity_state_and_a_charging_session(make_rig: Any) -> None:
    rig = await make_rig()
    ems = rig.client(1)
    await ems.connect()
    try:
        assert await read(ems, 141) == [0xEBEE]
        assert await read(ems, 141, unit=255) == [0xEBEE]  # any unit id
        assert await read(ems, 141, unit=0) == [0xEBEE]
        assert decode_string(await read(ems, 100, 2)) == "0.1"
        assert decode_string(await read(ems, 120, 2)) == "0.6"
        assert decode_string(await read(ems, 142, 10)) == "chargebox-sim"
        assert await read(ems, 122, 2) == [1, 0x0A]  # state A: no car
        assert await read(ems, 104) == [0]  # Available
        assert await read(ems, 133, 2) == [32, 32]  # hardware and operator limits
        assert await read(ems, 131, 2) == [6, 60]  # safe current, timeout (defaults)
        assert await read(ems, 712) == [6]
        assert await read(ems, 1000) == [0xFFFF]  # no EMS limit
        assert await read(ems, 600) == [0]  # no load management: DLM off
        assert await read(ems, 610, 6) == [64] * 6  # 2 x 32 A, documented default
        assert await read(ems, 620, 2) == [0, 0]

        r = await rig.api.post("/api/v1/sim/connectors/1/plug", json={"max_current_a": 16})
        assert r.status_code == 200
        await rig.until(lambda: rig.rt.station.connectors[1].offered_a > 0)
        await asyncio.sleep(0.3)  # the car draws
        assert await read(ems, 122, 2) == [3, 0x0C]  # state C
        assert await read(ems, 104) == [2]  # Charging
        assert await read(ems, 706) == [32]  # signalled current
        assert await read(ems, 715) == [32]  # cable and connector: 32 A
        assert await read(ems, 140) == [1]  # relays closed on 3 phases
        assert await read(ems, 152) == [1]  # cable locked
        regs = await read(ems, 200, 28)
        currents = [u32(regs[i : i + 2]) for i in (12, 14, 16)]
        assert currents == [16000, 16000, 16000]  # mA
        powers = [u32(regs[i : i + 2]) for i in (6, 8, 10)]
        assert all(3600 <= p <= 3700 for p in powers)  # 230 V x 16 A
        assert 11000 <= u32(regs[20:22]) <= 11100  # total power W
        assert [u32(regs[i : i + 2]) for i in (22, 24, 26)] == [230, 230, 230]
        assert u32(regs[0:2]) == 0xFFFFFFFF  # no per-phase energy from this meter
        energy0 = u32(regs[18:20])
        await asyncio.sleep(0.5)
        assert u32(await read(ems, 218, 2)) >= energy0
        assert u32(await read(ems, 718, 2)) <= 2  # duration, s
        start = await read(ems, 707, 2)
        assert start != [0, 0] and re.fullmatch(r"[0-9]{6}", f"{u32(start):06x}")
        assert await read(ems, 720, 10) == [0] * 10  # UID transfer is off
        assert await read(ems, 630, 6) == [32, 32, 32, 64, 64, 64]  # applied, available

        other = rig.client(2)  # connector 2 answers on the next port
        await other.connect()
        try:
            assert await read(other, 122) == [1]
            assert await read(other, 706) == [0]
        finally:
            other.close()

        r = await rig.api.post("/api/v1/sim/connectors/1/unplug")
        await rig.until(lambda: rig.rt.station.connectors[1].transaction is None)
        assert await read(ems, 710, 2) != [0, 0]  # the last session's end time

        # Outside the register set: exception 02; coils are no part of it: 01.
        rr = await ems.read_holding_registers(102, count=1, device_id=1)
        assert rr.isError() and rr.exception_code == ILLEGAL_ADDRESS
        rr = await ems.read_holding_registers(100, count=5, device_id=1)  # spans the gap 102
        assert rr.isError() and rr.exception_code == ILLEGAL_ADDRESS
        rr = await ems.read_input_registers(141, count=1, device_id=1)
        assert rr.isError() and rr.exception_code == ILLEGAL_ADDRESS
        rr = await ems.read_coils(0, count=1, device_id=1)
        assert rr.isError() and rr.exception_code == ILLEGAL_FUNCTION
    finally:
        ems.close()


async def test_ems_limit_is_a_claim_and_falls_back_to_the_safe_current(make_rig: Any) -> None:
    rig = await make_rig()
    for cid in (1, 2):
        await rig.api.post(f"/api/v1/sim/connectors/{cid}/plug", json={"max_current_a": 32})
    ems = rig.client(1)
    await ems.connect()
    try:
        assert not (await ems.write_registers(131, [8, 1], device_id=1)).isError()  # 8 A, 1 s
        assert await read(ems, 131, 2) == [8, 1]
        assert not (await ems.write_register(1000, 10, device_id=1)).isError()
        status = await rig.status(1)
        assert status["current_limit_a"] == 10 and status["limiting_source"] == "ems"
        assert await read(ems, 1000) == [10]
        await rig.until(lambda: rig.rt.station.connectors[1].offered_a == 10)
        assert await read(ems, 706) == [10]
        other = await rig.status(2)  # per connector: connector 2 is not limited
        assert other["current_limit_a"] == 32 and other["limiting_source"] != "ems"

        for _ in range(3):  # writes within the timeout keep the limit
            await asyncio.sleep(0.5)
            await ems.write_register(1000, 12, device_id=1)
            assert (await rig.status(1))["current_limit_a"] == 12
        started = time.monotonic()
        await rig.until(lambda: rig.rt.station.connectors[1].limit.current_a == 8, timeout=3)
        assert 0.8 <= time.monotonic() - started <= 2.0
        status = await rig.status(1)
        assert status["current_limit_a"] == 8 and status["limiting_source"] == "ems"
        assert await read(ems, 1000) == [8]  # the limit in force: the safe current
        assert (await rig.status(2))["current_limit_a"] == 32

        await ems.write_register(1000, 16, device_id=1)  # the energy manager is back
        assert (await rig.status(1))["current_limit_a"] == 16
        await ems.write_register(1000, 0xFFFF, device_id=1)  # no limit: claim gone
        status = await rig.status(1)
        assert status["current_limit_a"] == 32 and status["limiting_source"] != "ems"
        assert await read(ems, 1000) == [0xFFFF]
        await asyncio.sleep(1.3)  # and no timeout any more
        assert (await rig.status(1))["current_limit_a"] == 32
    finally:
        ems.close()


async def test_illegal_writes_answer_an_exception_and_change_nothing(make_rig: Any) -> None:
    rig = await make_rig()
    ems = rig.client(1)
    await ems.connect()
    try:
        before = await read(ems, 124, 1) + await read(ems, 131, 2) + await read(ems, 1000)
        assert await refused(ems, 1000, [3]) == ILLEGAL_VALUE  # below the minimum current
        assert await refused(ems, 1000, [33]) == ILLEGAL_VALUE  # above the hardware limit
        assert await refused(ems, 1000, [0]) == ILLEGAL_VALUE  # pausing not allowed
        assert await refused(ems, 131, [5]) == ILLEGAL_VALUE
        assert await refused(ems, 132, [0]) == ILLEGAL_VALUE
        assert await refused(ems, 124, [2]) == ILLEGAL_VALUE
        assert await refused(ems, 131, [10, 0]) == ILLEGAL_VALUE  # 131 fine, 132 not: neither
        assert await refused(ems, 613, [65]) == ILLEGAL_VALUE  # above 610
        assert await refused(ems, 141, [1]) == ILLEGAL_ADDRESS  # read-only
        assert await refused(ems, 122, [1]) == ILLEGAL_ADDRESS
        assert await refused(ems, 1001, [1]) == ILLEGAL_ADDRESS  # not in the set
        assert await refused(ems, 130, [1, 8]) == ILLEGAL_ADDRESS
        assert await refused(ems, 1110, [0x3034, 0x4132]) == ILLEGAL_ADDRESS  # UID off
        rr = await ems.write_register(1000, 3, device_id=1)  # function 06 as well
        assert rr.isError() and rr.exception_code == ILLEGAL_VALUE
        after = await read(ems, 124, 1) + await read(ems, 131, 2) + await read(ems, 1000)
        assert after == before == [1, 6, 60, 0xFFFF]
        assert "ems" not in {c.source.value for c in rig.rt.station.connectors[1].claims.values()}
        assert rig.rt.station.station_claims == {}
    finally:
        ems.close()


async def test_two_energy_managers_at_once(make_rig: Any) -> None:
    rig = await make_rig()
    a, b = rig.client(1), rig.client(1)
    await a.connect()
    await b.connect()
    try:

        async def poll(client: AsyncModbusTcpClient, value: int) -> int:
            n = 0
            for _ in range(40):
                assert await read(client, 141) == [0xEBEE]
                assert not (await client.write_register(1000, value, device_id=1)).isError()
                n += 1
            return n

        assert await asyncio.gather(poll(a, 10), poll(b, 12)) == [40, 40]
        assert await read(a, 1000) in ([10], [12])
        assert rig.rt.modbus is not None and rig.rt.modbus.connectors[1].writes == 80
    finally:
        a.close()
        b.close()


async def test_start_stop_and_uid_switches(make_rig: Any) -> None:
    rig = await make_rig(
        'allow_start_stop = true\nallow_uid_transfer = true\n[authorization]\nmode = "rfid"\n'
    )
    rig.rt.whitelist.upsert(WhitelistEntry("04A2B3C4"))
    ems = rig.client(1)
    await ems.connect()
    try:
        await rig.api.post("/api/v1/sim/connectors/1/plug", json={"max_current_a": 16})
        await asyncio.sleep(0.2)
        assert await read(ems, 104) == [1]  # Preparing: RFID required
        uid = encode_value("UNKNOWN1", "string", 10)
        assert not (await ems.write_registers(1110, uid, device_id=1)).isError()
        await asyncio.sleep(0.1)
        assert rig.rt.station.connectors[1].transaction is None  # not on the whitelist
        uid = encode_value("04A2B3C4", "string", 4)
        assert not (await ems.write_registers(1110, uid, device_id=1)).isError()
        await rig.until(lambda: rig.rt.station.connectors[1].transaction is not None)
        assert rig.rt.station.connectors[1].transaction.id_tag == "04A2B3C4"
        assert decode_string(await read(ems, 720, 10)) == "04A2B3C4"  # disclosed
        assert await refused(ems, 1110, uid) == ILLEGAL_VALUE  # a transaction runs
        assert await refused(ems, 1112, uid[:2]) == ILLEGAL_ADDRESS  # starts at 1110

        await ems.write_register(132, 60, device_id=1)
        await rig.until(lambda: rig.rt.station.connectors[1].offered_a > 0)
        assert not (await ems.write_register(1000, 0, device_id=1)).isError()  # pause
        await rig.until(lambda: rig.rt.station.connectors[1].offered_a == 0)
        await asyncio.sleep(0.2)
        assert await read(ems, 104) == [3]  # SuspendedEVSE, the transaction goes on
        assert rig.rt.station.connectors[1].transaction is not None
        await ems.write_register(1000, 16, device_id=1)  # resume
        await rig.until(lambda: rig.rt.station.connectors[1].offered_a == 16)
        await asyncio.sleep(0.2)
        assert await read(ems, 104) == [2]
    finally:
        ems.close()


async def test_availability_and_operator_subdistribution_limit(make_rig: Any) -> None:
    rig = await make_rig()
    ems = rig.client(1)
    await ems.connect()
    try:
        await ems.write_register(124, 0, device_id=1)
        assert (await rig.status(1))["status"] == "Unavailable"
        assert await read(ems, 124) == [0] and await read(ems, 104) == [7]
        await ems.write_register(124, 1, device_id=1)
        assert (await rig.status(1))["status"] == "Available"

        for cid in (1, 2):
            await rig.api.post(f"/api/v1/sim/connectors/{cid}/plug", json={"max_current_a": 32})
        assert not (await ems.write_registers(613, [40, 40, 40], device_id=1)).isError()
        second = rig.client(2)  # the station-wide figures are the same on every port
        await second.connect()
        try:
            assert await read(second, 613, 3) == [40, 40, 40]
        finally:
            second.close()
        for cid in (1, 2):  # shared equally between the charging connectors
            status = await rig.status(cid)
            assert status["current_limit_a"] == 20 and status["limiting_source"] == "ems"
        await ems.write_registers(613, [64, 64, 64], device_id=1)  # back to 610-612: no cap
        assert rig.rt.station.station_claims == {}
        assert (await rig.status(1))["current_limit_a"] == 32
    finally:
        ems.close()


async def test_dlm_figures_come_from_the_energy_manager(make_rig: Any) -> None:
    rig = await make_rig(
        "[site]\ngrid_limit_a = 40\nsubdistribution_limit_a = 35\n[energy]\ncycle_s = 0.2\n"
    )
    ems = rig.client(1)
    await ems.connect()
    try:
        for cid in (1, 2):
            await rig.api.post(f"/api/v1/sim/connectors/{cid}/plug", json={"max_current_a": 32})
        assert rig.rt.energy is not None
        await rig.until(lambda: bool(rig.rt.energy.snapshot.get("phases")))
        assert await read(ems, 600) == [1]  # master with internal slave
        assert await read(ems, 610, 6) == [35] * 6
        await asyncio.sleep(0.5)
        applied = await read(ems, 630, 6)
        assert applied[3:] == [35, 35, 35]  # the budget
        assert 34 <= applied[0] <= 35  # 2 x 17.5 A allocated
        await ems.write_registers(613, [20, 20, 20], device_id=1)
        await rig.until(lambda: rig.rt.station.connectors[1].limit.current_a <= 10)
        assert await read(ems, 613, 3) == [20, 20, 20]
        await asyncio.sleep(0.3)
        assert (await read(ems, 633, 3)) == [20, 20, 20]
    finally:
        ems.close()


# ------------------------------------------------------------------ the command line


@dataclass
class ModbusStation(StationProcess):
    """`chargebox run ... --modbus-port BASE` (the flag, not the file)."""

    modbus_base: int = 0

    def start(self) -> None:
        cmd = [
            sys.executable,
            "-m",
            "chargebox",
            "run",
            "--config",
            str(self.write_config()),
            "--data-dir",
            str(self.workdir / "data"),
            "--http-port",
            str(self.http_port),
            "--modbus-port",
            str(self.modbus_base),
        ]
        env = {**os.environ, "CHARGEBOX_API_TOKEN": API_TOKEN}
        log = open(self.workdir / "station.log", "ab")  # noqa: SIM115 - kept for the process
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)


async def test_chargebox_run_with_modbus_port(tmp_path: Path) -> None:
    base = free_ports(2)
    station = ModbusStation(tmp_path, None, connectors=2, modbus_base=base)
    station.start()
    try:
        await station.wait_ready()
        for cid in (1, 2):
            client = AsyncModbusTcpClient("127.0.0.1", port=base + cid - 1, timeout=2)
            await client.connect()
            try:
                assert await read(client, 141) == [0xEBEE]
                await client.write_register(1000, 10, device_id=1)
            finally:
                client.close()
        status = await station.status(1)
        assert status["current_limit_a"] == 10 and status["limiting_source"] == "ems"
    finally:
        station.kill()


def test_modbus_port_out_of_range_is_refused() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "chargebox", "run", "--modbus-port", "70000"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 2 and "--modbus-port" in out.stderr


def test_modbus_section_is_validated() -> None:
    from chargebox.settings import SettingsError, parse

    assert parse({"modbus": {"enabled": True, "safe_current_a": 0}}).modbus.safe_current_a == 0
    for bad, field in (
        ({"safe_current_a": 3}, "modbus.safe_current_a"),  # below the minimum current
        ({"timeout_s": 0}, "modbus.timeout_s"),
        ({"base_port": 65535}, "modbus.base_port"),  # connector 2 would be on 65536
        ({"bogus": 1}, "modbus.bogus"),
    ):
        with pytest.raises(SettingsError, match=field):
            parse({"modbus": bad})
