"""DLM between stations: one master (with internal slave) and two slaves on 127.0.0.1.

The group shares a 32 A supply per phase (small enough to bind with four cars); every
station's connectors are on RST. Checked through each station's status API: the sum of
the currents the pilots offer never exceeds the group limit on any phase.
"""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

from tests.conftest import StationFactory
from tests.csms import StationProcess, free_port_ranges

LIMIT = 32.0
TIMEOUT_S = 2.0


def slave_toml(
    port: int,
    *,
    network_id: int = 7,
    timeout_s: float = TIMEOUT_S,
    poll_s: float = 0.3,
    disconnected_limit_a: float = 6,
    master_host: str = "127.0.0.1",
) -> str:
    """A slave station: its Modbus server on `port` (connector n on port + n - 1)."""
    return f"""
[installation]
min_current_a = 6
[modbus]
enabled = true
base_port = {port}
[dlm]
role = "slave"
network_id = {network_id}
master_host = "{master_host}"
timeout_s = {timeout_s}
poll_s = {poll_s}
disconnected_limit_a = {disconnected_limit_a:g}
"""


def master_toml(ports: list[int]) -> str:
    slaves = ", ".join(f'{{host = "127.0.0.1", port = {p}, connectors = 2}}' for p in ports)
    return f"""
[installation]
min_current_a = 6
[dlm]
role = "master"
network_id = 7
group_limit_a = {LIMIT}
timeout_s = {TIMEOUT_S}
poll_s = 0.3
disconnected_limit_a = 6
slaves = [{slaves}]
"""


async def group_load(stations: list[StationProcess]) -> tuple[list[float], list[Any]]:
    """Per phase: the sum of the offered currents on the phases each car uses."""
    load = [0.0, 0.0, 0.0]
    statuses = []
    for st in stations:
        s = await st.status()
        statuses.append(s)
        for c in s["connectors"]:
            if c["offered_a"] <= 0:
                continue
            used = [p for p in range(3) if c["current_a"][p] > 1.0] or [0, 1, 2]
            for p in used:
                load[p] += c["offered_a"]
    return load, statuses


async def check_limit(stations: list[StationProcess], seconds: float) -> list[float]:
    worst = [0.0, 0.0, 0.0]
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        load, _ = await group_load(stations)
        for p in range(3):
            assert load[p] <= LIMIT + 1e-6, load
            worst[p] = max(worst[p], load[p])
        await asyncio.sleep(0.1)
    return worst


async def wait_for(pred: Any, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if await pred():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def kill_master(
    master: StationProcess, slaves: list[StationProcess], timeout_s: float
) -> None:
    """Kill the master; every slave is at its disconnected limit within its timeout."""
    master.kill()
    t0 = time.monotonic()

    async def fallen() -> bool:
        return not any([(await s.status())["dlm"]["connected"] for s in slaves])

    await wait_for(fallen, timeout_s + 2, "the slaves' disconnected limit")
    assert time.monotonic() - t0 <= timeout_s + 1.5


async def test_master_and_two_slaves_share_the_supply(station_factory: StationFactory) -> None:
    pa, pb = free_port_ranges(2, 2)
    a = await station_factory(extra_toml=slave_toml(pa), csms_url=None)
    b = await station_factory(extra_toml=slave_toml(pb), csms_url=None)
    # Until the master writes, a slave's connectors are at the disconnected limit.
    assert (await a.status())["dlm"]["connected"] is False
    master = await station_factory(extra_toml=master_toml([pa, pb]), csms_url=None)

    async def joined() -> bool:
        slaves = (await master.status())["dlm"]["slaves"]
        return all(s["online"] for s in slaves)

    await wait_for(joined, 10, "both slaves online")
    await master.plug(1, phases=3, max_current_a=32)
    await a.plug(1, phases=3, max_current_a=32)
    await a.plug(2, phases=1, max_current_a=32)
    await b.plug(1, phases=3, max_current_a=32)

    async def sharing() -> bool:
        load, statuses = await group_load([master, a, b])
        offered = [c["offered_a"] for s in statuses for c in s["connectors"] if c["offered_a"]]
        return len(offered) == 4 and load[0] >= LIMIT - 2

    await wait_for(sharing, 15, "four cars sharing the group's supply")
    worst = await check_limit([master, a, b], 2.0)
    assert worst[0] >= LIMIT - 2, worst  # L1 binds: three 3-phase cars and the 1-phase one
    _, statuses = await group_load([master, a, b])
    offered = sorted(c["offered_a"] for s in statuses for c in s["connectors"] if c["offered_a"])
    assert offered[-1] - offered[0] <= 1.0, offered  # fair share on the binding phase
    assert {c["limiting_source"] for c in statuses[1]["connectors"] if c["offered_a"]} == {"dlm"}
    known = (await master.status())["dlm"]["known_slaves"]
    assert set(known) == {f"127.0.0.1:{pa}", f"127.0.0.1:{pb}"}

    # The master dies: the slaves fall back to the disconnected limit within the timeout.
    await kill_master(master, [a, b], TIMEOUT_S)
    for st in (a, b):
        for c in (await st.status())["connectors"]:
            assert c["offered_a"] <= 6.0, c

    # It returns (same data directory: the table of known slaves is still there).
    master.start()
    await master.wait_ready()
    assert set((await master.status())["dlm"]["known_slaves"]) == set(known)
    await wait_for(joined, 10, "the slaves rejoin")

    async def recovered() -> bool:
        sa = await a.status()
        return sa["dlm"]["connected"] and max(c["offered_a"] for c in sa["connectors"]) > 6

    await wait_for(recovered, 10, "setpoints above the disconnected limit again")
    await check_limit([master, a, b], 1.0)

    # A slave leaves (stopped): the master keeps its last allocation reserved until it is
    # gone (a killed slave: tests/test_dlm_group.py).
    before = (await master.status())["dlm"]
    b.kill(signal.SIGTERM)

    async def missing() -> bool:
        slaves = (await master.status())["dlm"]["slaves"]
        return not slaves[1]["online"]

    await wait_for(missing, 5, "slave b missing")
    d = (await master.status())["dlm"]
    assert d["reserved_a"][0] > 0, d  # b's car still counted on L1
    assert d["slaves"][1]["gone"] is False
    assert before["slaves"][1]["connectors"][0]["allocated_a"] > 0
    await check_limit([master, a], 1.0)
    await asyncio.sleep(TIMEOUT_S + 0.5)
    d = (await master.status())["dlm"]
    assert d["slaves"][1]["gone"] is True
    # Clearing the table forgets the slave that is not there.
    cleared = await master.api("POST", "/dlm/slaves/clear")
    assert cleared["removed"] == 1
    assert list((await master.status())["dlm"]["known_slaves"]) == [f"127.0.0.1:{pa}"]
