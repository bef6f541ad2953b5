"""DNS-SD discovery between DLM stations (`chargebox/energy/dlm/discovery.py`).

TXT records and settings are checked without a network. The one network test runs two
stations in two private network namespaces joined by a veth pair, so no multicast ever
leaves on the machine's real interfaces; it is skipped (with the reason) where namespaces
cannot be made.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from chargebox.energy.dlm import discovery
from chargebox.energy.dlm.discovery import (
    SERVICE_TYPE,
    DiscoveryError,
    DlmBrowser,
    build_txt,
    parse_txt,
    start_discovery,
)
from chargebox.settings import SettingsError, parse
from tests.netns import veth_pair

ROOT = Path(__file__).resolve().parents[1]
SLAVE7 = {"nid": 7, "role": "slave", "connectors": 2, "phases": 3, "rotation": "STR"}


# ------------------------------------------------------------------ TXT records


def test_txt_round_trip() -> None:
    txt = build_txt(**SLAVE7)
    assert txt == {"nid": "7", "role": "slave", "connectors": "2", "phases": "3", "rotation": "STR"}
    wire = {k.encode(): v.encode() for k, v in txt.items()}  # as python-zeroconf hands it over
    peer = parse_txt(wire)
    assert peer is not None
    assert (peer.nid, peer.role, peer.connectors, peer.phases, peer.rotation) == (
        7,
        "slave",
        2,
        3,
        "STR",
    )


@pytest.mark.parametrize(
    "change",
    [
        {"nid": None},  # missing
        {"nid": "seven"},
        {"nid": "-1"},
        {"nid": "70000"},
        {"nid": " 7"},
        {"connectors": "0"},
        {"connectors": "65"},
        {"connectors": "2.5"},
        {"phases": "2"},
        {"rotation": "XYZ"},
        {"rotation": None},
        {"role": "boss"},
    ],
)
def test_invalid_txt_is_ignored_with_a_log_line(
    change: dict[str, str | None], caplog: pytest.LogCaptureFixture
) -> None:
    props: dict[bytes, bytes | None] = {k.encode(): str(v).encode() for k, v in SLAVE7.items()}
    for key, value in change.items():
        if value is None:
            props.pop(key.encode())
        else:
            props[key.encode()] = value.encode()
    with caplog.at_level("INFO", logger="chargebox.energy.dlm.discovery"):
        assert parse_txt(props, source="x._chargebox-dlm._tcp.local.") is None
    assert "ignoring x._chargebox-dlm._tcp.local." in caplog.text


def test_garbage_txt_never_crashes() -> None:
    assert parse_txt({b"nid": b"\xff\xfe", b"role": None, b"": b""}) is None
    assert parse_txt({}) is None


def test_build_refuses_what_a_peer_would_ignore() -> None:
    with pytest.raises(ValueError, match="connectors"):
        build_txt(**{**SLAVE7, "connectors": 65})


def test_browser_reports_only_slaves_of_its_network_id() -> None:
    calls: list[tuple[Any, ...]] = []
    browser = DlmBrowser(None, nid=7, on_slave=lambda *a: calls.append(a))  # type: ignore[arg-type]

    def wire(**fields: Any) -> dict[bytes, bytes]:
        return {k.encode(): str(v).encode() for k, v in {**SLAVE7, **fields}.items()}

    browser.handle("a." + SERVICE_TYPE, wire(), ["10.0.0.5"], 5020)
    browser.handle("b." + SERVICE_TYPE, wire(nid=8), ["10.0.0.6"], 5020)
    browser.handle("c." + SERVICE_TYPE, wire(role="master"), ["10.0.0.7"], 0)
    browser.handle("d." + SERVICE_TYPE, wire(connectors=99), ["10.0.0.8"], 5020)
    browser.handle("e." + SERVICE_TYPE, wire(), ["10.0.0.9"], 0)  # a slave needs its port
    assert calls == [("10.0.0.5", 5020, 2, 3, "STR")]
    assert [p["host"] for p in browser.peers("master")] == ["10.0.0.7"]
    assert [p["host"] for p in browser.peers("slave")] == ["10.0.0.5"]
    assert browser.ignored == 2


# --------------------------------------------------------------------- settings


def test_discovery_is_off_by_default() -> None:
    dlm = parse({}, "station.toml").dlm
    assert dlm.discovery is False
    assert dlm.discovery_interface == ""


@pytest.mark.parametrize("interface", ["", "eth0", "0.0.0.0", "224.0.0.251", "fe80::1"])
def test_discovery_needs_one_interfaces_ipv4_address(interface: str) -> None:
    data = {"dlm": {"role": "master", "discovery": True, "discovery_interface": interface}}
    with pytest.raises(SettingsError, match=r"dlm\.discovery_interface"):
        parse(data, "station.toml")


def test_standalone_master_may_rely_on_discovery_alone() -> None:
    with pytest.raises(SettingsError, match="at least one slave or discovery"):
        parse({"dlm": {"role": "master_standalone"}}, "station.toml")
    dlm = {"role": "master_standalone", "discovery": True, "discovery_interface": "10.1.2.3"}
    assert parse({"dlm": dlm}, "station.toml").dlm.discovery is True


def test_discovery_without_a_role_is_refused() -> None:
    dlm = {"discovery": True, "discovery_interface": "10.1.2.3"}
    with pytest.raises(SettingsError, match=r"dlm\.discovery"):
        parse({"dlm": dlm}, "station.toml")


# ------------------------------------------------------------ nothing sent when off


async def test_discovery_off_opens_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a Zeroconf instance was made with discovery off")

    monkeypatch.setattr(discovery, "AsyncZeroconf", forbidden)
    slave = {"host": "10.1.2.4", "port": 502}
    for role in ("master", "master_standalone", "slave", "off"):
        section = {"role": role, "slaves": [slave] if role.startswith("master") else []}
        cfg = parse({"dlm": section}, "station.toml").dlm  # discovery not mentioned: off
        got = await start_discovery(
            role, cfg, dlm=None, modbus_ports={1: 5020}, connectors=2, phases=3
        )
        assert got is None
    # an interface alone does not switch it on either
    cfg = SimpleNamespace(discovery=False, discovery_interface="10.1.2.3", network_id=7)
    got = await start_discovery(
        "slave", cfg, dlm=None, modbus_ports={1: 5020}, connectors=2, phases=3
    )
    assert got is None


async def test_a_slave_without_its_modbus_port_is_refused() -> None:
    cfg = SimpleNamespace(discovery=True, discovery_interface="10.1.2.3", network_id=7)
    with pytest.raises(DiscoveryError, match="Modbus port"):
        await start_discovery("slave", cfg, dlm=None, modbus_ports={}, connectors=2, phases=3)


# ---------------------------------------------------- two private network namespaces

ANNOUNCE_SCRIPT = r"""
import asyncio, os, sys, time
from chargebox.energy.dlm.discovery import DlmAnnouncer, build_txt, open_zeroconf

async def main(interface, stop_file):
    azc = open_zeroconf(interface)
    stations = [
        (5020, build_txt(nid=7, role="slave", connectors=2, phases=3, rotation="STR")),
        (6020, build_txt(nid=8, role="slave", connectors=4, phases=1, rotation="RST")),
        (0, build_txt(nid=7, role="master", connectors=1, phases=3, rotation="RST")),
    ]
    announcers = [DlmAnnouncer(azc, interface=interface, port=p, txt=t) for p, t in stations]
    await asyncio.gather(*(a.start() for a in announcers))
    print("ready", flush=True)
    deadline = time.monotonic() + 15
    while not os.path.exists(stop_file) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    for a in announcers:
        await a.close()
    await azc.async_close()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""

BROWSE_SCRIPT = r"""
import asyncio, json, sys, time
from types import SimpleNamespace
from chargebox.energy.dlm.discovery import start_discovery

class Master:
    def __init__(self):
        self.added = []
    def add_slave(self, host, port, *, connectors, phases, rotation):
        self.added.append([host, port, connectors, phases, rotation])
        return True

async def main(interface):
    master = Master()
    cfg = SimpleNamespace(discovery=True, discovery_interface=interface, network_id=7)
    found = await start_discovery(
        "master_standalone", cfg, dlm=master, modbus_ports={}, connectors=2, phases=3
    )
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        masters = found.snapshot["masters"]
        if master.added and masters and found.snapshot["other_networks"]:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # time for a late wrong answer, too
    snapshot = found.snapshot
    await found.close()
    print(json.dumps({"added": master.added, "snapshot": snapshot}))

asyncio.run(main(sys.argv[1]))
"""


@pytest.mark.timeout(30)
def test_discovery_inside_private_network_namespaces(tmp_path: Path) -> None:
    """A master in namespace B finds the nid-7 slave of namespace A, not the nid-8 one."""
    with veth_pair(f"cbdlm{os.getpid() % 100000}", "10.232.0") as (a, b):
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        stop = tmp_path / "stop"
        announcer = subprocess.Popen(
            ["ip", "netns", "exec", a, sys.executable, "-c", ANNOUNCE_SCRIPT, "10.232.0.1"]
            + [str(stop)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert announcer.stdout is not None
            readable, _, _ = select.select([announcer.stdout], [], [], 12)
            ready = announcer.stdout.readline() if readable else "(nothing within 12 s)"
            assert ready.strip() == "ready", announcer.stderr.read() if announcer.stderr else ""
            browser = subprocess.run(
                ["ip", "netns", "exec", b, sys.executable, "-c", BROWSE_SCRIPT, "10.232.0.2"],
                capture_output=True,
                text=True,
                timeout=15,
                env=env,
                check=False,
            )
        finally:
            stop.touch()
            try:
                announcer.wait(timeout=10)
            except subprocess.TimeoutExpired:
                announcer.kill()
                announcer.wait(timeout=5)
        assert browser.returncode == 0, browser.stderr
        result = json.loads(browser.stdout.strip().splitlines()[-1])
        assert result["added"] == [["10.232.0.1", 5020, 2, 3, "STR"]]
        snapshot = result["snapshot"]
        assert [(s["host"], s["port"], s["nid"]) for s in snapshot["slaves"]] == [
            ("10.232.0.1", 5020, 7)
        ]
        assert [(m["host"], m["nid"]) for m in snapshot["masters"]] == [("10.232.0.1", 7)]
        assert snapshot["other_networks"] >= 1  # the nid-8 slave was seen, and left out
        assert snapshot["service"].startswith("chargebox-10-232-0-2-master-7-0.")
