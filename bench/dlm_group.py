"""DLM group benchmark. Not a test. Run from the repository root:

    /tmp/venv/bin/python bench/dlm_group.py

A DLM master (standalone, `energy/dlm/master.py`) manages 50 slave stations with 2
connectors each (100 connectors, every one charging: 2/3 of them 3-phase, 1/3 1-phase,
the six phase rotations) on an 800 A connection with a grid meter placed before the
chargers. The slaves are lightweight in-process Modbus TCP servers on 127.0.0.1 (a minimal
function 03/06 responder with the OMCCI addresses the master reads), not station
processes; the meter is an in-process source that publishes a new reading every second,
as a polled Modbus meter does. Measured: the master's cycle time (poll 100 connectors,
allocate, write 100 setpoints), the reaction to a grid-meter overload (the house load
jumps from 0 to 300 A per phase) from the moment the overloaded reading is published
until every slave holds its reduced setpoint, and CPU and memory of the process (master
plus the fake slaves: an upper bound for the master).
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import struct
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from chargebox.energy.dlm.master import DlmMaster
from chargebox.energy.model import GridReading, MeterPlacement, PhaseCurrents, Site
from chargebox.settings import DlmSection

STATIONS = 50
ROTATIONS = ("RST", "RTS", "SRT", "STR", "TRS", "TSR")


class FakeConnector(asyncio.Protocol):
    """Holding registers of one slave connector: reads (03) and single writes (06)."""

    def __init__(self, regs: dict[int, int]) -> None:
        self.regs = regs
        self.buf = b""
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while len(self.buf) >= 8:
            tid, _, length, unit = struct.unpack(">HHHB", self.buf[:7])
            if len(self.buf) < 6 + length:
                return
            pdu, self.buf = self.buf[7 : 6 + length], self.buf[6 + length :]
            fc = pdu[0]
            if fc == 3:
                addr, count = struct.unpack(">HH", pdu[1:5])
                words = [self.regs.get(a, 0) for a in range(addr, addr + count)]
                body = bytes([3, 2 * count]) + struct.pack(f">{count}H", *words)
            elif fc == 6:
                addr, value = struct.unpack(">HH", pdu[1:5])
                self.regs[addr] = value
                body = pdu[:5]
            else:
                body = bytes([fc | 0x80, 1])
            self.transport.write(struct.pack(">HHHB", tid, 0, len(body) + 1, unit) + body)


class SteppedMeter:
    """A grid meter read once a second: `house_a` shows up at the next publication."""

    def __init__(self) -> None:
        self.house_a = 0.0
        self.reading = GridReading(PhaseCurrents(), 0.0, time.time())
        self.published = asyncio.Event()

    def latest(self) -> GridReading:
        return self.reading

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.reading = GridReading(PhaseCurrents.uniform(self.house_a), 0.0, time.time())
            self.published.set()
            await asyncio.sleep(1.0)


def _factory(regs: dict[int, int]) -> Any:
    return lambda: FakeConnector(regs)


async def main() -> None:
    slaves = []
    regs: list[dict[int, int]] = []
    servers = []
    for i in range(STATIONS):
        ports = []
        for c in range(2):
            three = (2 * i + c) % 3 != 2
            ma = 16000
            r = {122: 3, 133: 32, 706: 16, 715: 32, 1011: 1, 1010: 65535}
            for p in range(3):
                value = ma if (three or p == 0) else 0
                r[212 + 2 * p], r[213 + 2 * p] = value >> 16, value & 0xFFFF
            regs.append(r)
            srv = await asyncio.get_running_loop().create_server(_factory(r), "127.0.0.1", 0)
            servers.append(srv)
            ports.append(srv.sockets[0].getsockname()[1])
        # the master addresses connector n at port + n - 1: make them consecutive by mapping
        slaves.append((ports, i))
    # Consecutive ports cannot be guaranteed with port 0: one slave entry per connector.
    entries = [
        {"host": "127.0.0.1", "port": p, "connectors": 1, "phases": 3, "rotation": ROTATIONS[k % 6]}
        for k, p in enumerate(p for ports, _ in slaves for p in ports)
    ]
    cfg = DlmSection(
        role="master_standalone",
        network_id=1,
        group_limit_a=(800, 800, 800),
        poll_s=0.2,
        timeout_s=5,
        disconnected_limit_a=6,
        slaves=entries,  # type: ignore[arg-type]  # pydantic validates the dicts
    )
    site = Site(
        grid_limit_a=PhaseCurrents.uniform(800),
        connectors=(),
        meter_placement=MeterPlacement.EXCLUDES_CHARGING,
        meter_timeout_s=10,
    )
    meter = SteppedMeter()
    master = DlmMaster(
        None,  # type: ignore[arg-type]  # standalone: no station of its own
        cfg,
        internal=False,
        site=site,
        clock=time.time,
    )
    master.meter = meter
    cpu0 = time.process_time()
    times: list[float] = []
    for _ in range(30):
        await master.cycle()
        times.append(master.last_cycle_s)
        if "-v" in sys.argv:
            print(master.cycles, master.last_cycle_s, [x.error for x in master.links][:2])
    cpu_per_cycle = (time.process_time() - cpu0) / 30
    assert all(link.online for link in master.links)
    before = [r[1010] for r in regs]
    reactions = []
    stop = asyncio.Event()
    runner = asyncio.ensure_future(master.run())
    publisher = asyncio.ensure_future(meter.run(stop))
    for trial in range(10):
        overload = trial % 2 == 0
        await asyncio.sleep(2.3 + 0.17 * trial)  # somewhere between two publications
        old = [r[1010] for r in regs]
        meter.house_a = 300.0 if overload else 0.0
        meter.published.clear()
        await meter.published.wait()  # the overloaded reading is out
        t0 = time.perf_counter()
        while True:
            now = [r[1010] for r in regs]
            done = (
                all(n < o for n, o in zip(now, old, strict=True))
                if overload
                else all(n >= o for n, o in zip(now, old, strict=True)) and now != old
            )
            if done or time.perf_counter() - t0 > 10:
                break
            await asyncio.sleep(0.005)
        if overload:
            reactions.append(time.perf_counter() - t0 if done else float("inf"))
        if "-v" in sys.argv:
            print("trial", trial, done, time.perf_counter() - t0, master.budget_a, master.error)
    stop.set()
    master.stop()
    await asyncio.gather(runner, publisher)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ordered = sorted(times)
    print(f"connectors: {len(regs)} (setpoints before the cut: {min(before)}-{max(before)} A)")
    print(
        "master cycle (poll 100, allocate, write 100): "
        f"median {statistics.median(ordered) * 1000:.1f} ms,"
        f" max {ordered[-1] * 1000:.1f} ms; CPU {cpu_per_cycle * 1000:.1f} ms per cycle"
    )
    print(
        "reaction to a grid-meter overload (house 0 -> 300 A per phase), from the reading"
        f" to all 100 setpoints lower: {', '.join(f'{r:.2f}' for r in reactions)} s"
        " (target < 3 s; add up to the meter's poll interval, 1 s, before the reading)"
    )
    print(f"peak RSS of the process (master + 100 fake connectors): {rss:.0f} MiB")
    await master.close()
    for s in servers:
        s.close()


if __name__ == "__main__":
    asyncio.run(main())
