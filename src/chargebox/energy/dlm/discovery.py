"""DNS-SD discovery between DLM stations (`_chargebox-dlm._tcp.local.`), off by default.

Why: a master finds its slaves without fixed addresses in station.toml, and a slave can show
which master of its network id it found (the manuals' "Slave (master discovery)"). mDNS has
probing, conflicts, caching and TTLs, so python-zeroconf speaks it, not us. Nothing is opened
or sent unless `[dlm] discovery = true`, and then only on `discovery_interface` (one IPv4
address, never all interfaces). Discovery only proposes peers: the master still checks each
slave's network id register over Modbus before it writes a setpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
from collections.abc import Callable, Mapping
from typing import Any

from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from chargebox.energy.model import ROTATIONS

log = logging.getLogger(__name__)

SERVICE_TYPE = "_chargebox-dlm._tcp.local."
MAX_FOUND = 64  # peers kept for the status: a busy or hostile network cannot grow it
MAX_PENDING = 16  # resolutions in flight at once
RESOLVE_MS = 3000
STEP_S = 5.0  # bound on every register / unregister / close step

SlaveCallback = Callable[[str, int, int, int, str], Any]  # host, port, connectors, phases, rot


class DiscoveryError(RuntimeError):
    """Discovery could not start (the message names `dlm.discovery_interface`)."""


@dataclasses.dataclass(frozen=True)
class DlmPeer:
    """What a station's TXT record says about it."""

    nid: int
    role: str
    connectors: int
    phases: int
    rotation: str


def _integer(text: Mapping[str, str | None], key: str, low: int, high: int) -> int:
    raw = text.get(key)
    if raw is None or not (raw.isascii() and raw.isdigit()):
        raise ValueError(f"{key} is {raw!r}, not an integer")
    value = int(raw)
    if not low <= value <= high:
        raise ValueError(f"{key} {value} is not in {low}..{high}")
    return value


def _peer(text: Mapping[str, str | None]) -> DlmPeer:
    nid = _integer(text, "nid", 0, 65535)
    role = text.get("role")
    if role not in ("slave", "master"):
        raise ValueError(f"role is {role!r}, not slave or master")
    connectors = _integer(text, "connectors", 1, 64)
    phases = _integer(text, "phases", 1, 3)
    if phases not in (1, 3):
        raise ValueError(f"phases {phases} is not 1 or 3")
    rotation = text.get("rotation")
    if rotation not in ROTATIONS:
        raise ValueError(f"rotation is {rotation!r}, not one of {', '.join(ROTATIONS)}")
    return DlmPeer(nid, role, connectors, phases, rotation)


def build_txt(**fields: Any) -> dict[str, str]:
    """TXT properties (nid, role, connectors, phases, rotation); ValueError if not valid."""
    text = {key: str(fields[key]) for key in ("nid", "role", "connectors", "phases", "rotation")}
    _peer(text)  # never announce what a peer would refuse
    return text


def parse_txt(props: Mapping[Any, Any], *, source: str = "a service") -> DlmPeer | None:
    """The peer a TXT record describes, or None (logged) when it is not a valid one."""
    text: dict[str, str | None] = {}
    for key, value in props.items():
        k = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
        v = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        text[k.lower()] = None if v is None else str(v)
    try:
        return _peer(text)
    except ValueError as exc:
        log.info("DLM discovery: ignoring %s: %s", source, exc)
        return None


def check_interface(address: str) -> str:
    """`address` when it is one interface's unicast IPv4 address (never "all interfaces")."""
    try:
        addr = ipaddress.IPv4Address(address)
    except ValueError:
        addr = ipaddress.IPv4Address(0)
    if addr.is_unspecified or addr.is_multicast or addr.is_loopback:
        raise DiscoveryError(f"dlm.discovery_interface: {address!r} is not one interface's IPv4")
    return str(addr)


def open_zeroconf(interface: str) -> AsyncZeroconf:
    """A Zeroconf instance that sends and joins the mDNS group on `interface` only, IPv4."""
    return AsyncZeroconf(interfaces=[check_interface(interface)], ip_version=IPVersion.V4Only)


class DlmAnnouncer:
    """Registers this station as a DLM participant; goodbye packets on close."""

    def __init__(
        self, azc: AsyncZeroconf, *, interface: str, port: int, txt: Mapping[str, str]
    ) -> None:
        """`txt` from `build_txt`; `port` that of connector 1's Modbus server (0: master)."""
        self.azc, self.registered = azc, False
        host = f"chargebox-{check_interface(interface).replace('.', '-')}"
        self.info = AsyncServiceInfo(
            SERVICE_TYPE,
            f"{host}-{txt['role']}-{txt['nid']}-{port}.{SERVICE_TYPE}",
            port=port,
            properties=dict(txt),
            server=f"{host}.local.",
            parsed_addresses=[interface],
        )

    @property
    def name(self) -> str:
        return str(self.info.name)  # may get a suffix when the name was taken

    async def start(self) -> None:
        sent = await asyncio.wait_for(
            self.azc.async_register_service(self.info, allow_name_change=True), STEP_S
        )
        self.registered = True
        await asyncio.wait_for(sent, STEP_S)
        log.info("DLM discovery: announced %s", self.name)

    async def close(self) -> None:
        """Goodbye packets, so that peers drop us at once rather than after the TTL."""
        with contextlib.suppress(Exception):
            if self.registered:
                self.registered = False
                sent = await asyncio.wait_for(self.azc.async_unregister_service(self.info), STEP_S)
                await asyncio.wait_for(sent, STEP_S)


class DlmBrowser:
    """Finds the slaves (→ `on_slave`) and masters with our network id; ignores the rest."""

    def __init__(self, azc: AsyncZeroconf, *, nid: int, on_slave: SlaveCallback | None) -> None:
        self.azc, self.nid, self.on_slave = azc, nid, on_slave
        self.own: set[str] = set()  # our own announcements: never a peer
        self.found: dict[str, dict[str, Any]] = {}  # service name -> peer, our nid only
        self.ignored = 0  # invalid TXT, no address, a slave without a port
        self.other_networks = 0  # valid peers with another network id
        self._browser: AsyncServiceBrowser | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._browser = AsyncServiceBrowser(self.azc.zeroconf, SERVICE_TYPE, [self._changed])

    def _changed(
        self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        """Browser callback (in the event loop): resolve added or updated services."""
        if state_change is ServiceStateChange.Removed:
            self.found.pop(name, None)
            return
        if name.lower() in self.own:
            return
        if len(self._tasks) >= MAX_PENDING:
            log.info("DLM discovery: too many services at once, %s skipped", name)
            return
        task = asyncio.ensure_future(self._resolve(service_type, name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve(self, service_type: str, name: str) -> None:
        info = AsyncServiceInfo(service_type, name)
        if not await info.async_request(self.azc.zeroconf, RESOLVE_MS):
            log.info("DLM discovery: %s did not resolve", name)
            return
        self.handle(name, info.properties, info.parsed_addresses(IPVersion.V4Only), info.port)

    def handle(
        self, name: str, props: Mapping[Any, Any], hosts: list[str], port: int | None
    ) -> None:
        """One resolved service: record it and report a slave of our network id."""
        peer = parse_txt(props, source=name)
        if peer is None or not hosts:
            self.ignored += 1
            return
        if peer.nid != self.nid:
            log.debug("DLM discovery: %s has network id %s, not ours", name, peer.nid)
            self.other_networks += 1
            return
        if peer.role == "slave" and not port:
            log.info("DLM discovery: ignoring %s: slave without a Modbus port", name)
            self.ignored += 1
            return
        if name not in self.found and len(self.found) >= MAX_FOUND:
            log.info("DLM discovery: %d peers known, %s not recorded", MAX_FOUND, name)
            return
        host, port = hosts[0], int(port or 0)
        self.found[name] = {"host": host, "port": port, **dataclasses.asdict(peer)}
        if peer.role == "slave" and self.on_slave is not None:
            try:
                self.on_slave(host, port, peer.connectors, peer.phases, peer.rotation)
            except Exception:
                log.exception("DLM discovery: adding slave %s:%s failed", host, port)

    def peers(self, role: str) -> list[dict[str, Any]]:
        return [dict(p, name=n) for n, p in sorted(self.found.items()) if p["role"] == role]

    async def close(self) -> None:
        if self._browser is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._browser.async_cancel(), STEP_S)
            self._browser = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class DlmDiscovery:
    """The announcer and the browser on one Zeroconf instance, started and closed together."""

    def __init__(self, azc: AsyncZeroconf, announcer: DlmAnnouncer, browser: DlmBrowser) -> None:
        self.azc, self.announcer, self.browser = azc, announcer, browser

    async def start(self) -> None:
        await self.announcer.start()
        self.browser.own.add(self.announcer.name.lower())  # its final name, after any conflict
        await self.browser.start()

    async def close(self) -> None:
        await self.browser.close()
        await self.announcer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.azc.async_close(), STEP_S)

    @property
    def snapshot(self) -> dict[str, Any]:
        """For the DLM status: what we announce and the peers with our network id."""
        return {
            "service": self.announcer.name,
            "masters": self.browser.peers("master"),
            "slaves": self.browser.peers("slave"),
            "ignored": self.browser.ignored,
            "other_networks": self.browser.other_networks,
        }


async def start_discovery(
    role: str,
    cfg: Any,
    *,
    dlm: Any,
    modbus_ports: Mapping[int, int],
    connectors: int,
    phases: int,
    rotation: str = "RST",
) -> DlmDiscovery | None:
    """Announce (and browse) per `[dlm]`; None, with nothing opened, when discovery is off.

    A master adds every slave found with its network id to `dlm` (`add_slave`); a slave
    announces the Modbus port of its connector 1 and records the masters it sees.
    """
    if not getattr(cfg, "discovery", False) or role == "off":
        return None
    is_slave = role == "slave"
    port = int(modbus_ports.get(1, 0)) if is_slave else 0  # a master is polled by no one
    if is_slave and not port:
        raise DiscoveryError("dlm.discovery: a slave announces its Modbus port: start it first")
    interface, nid = check_interface(cfg.discovery_interface), int(cfg.network_id)
    role_txt = "slave" if is_slave else "master"
    try:
        txt = build_txt(
            nid=nid, role=role_txt, connectors=connectors, phases=phases, rotation=rotation
        )
    except ValueError as exc:
        raise DiscoveryError(f"dlm.discovery: cannot announce this station: {exc}") from None

    def on_slave(host: str, port: int, connectors: int, phases: int, rotation: str) -> None:
        dlm.add_slave(host, port, connectors=connectors, phases=phases, rotation=rotation)

    try:
        azc = open_zeroconf(interface)
    except OSError as exc:
        raise DiscoveryError(f"dlm.discovery_interface: cannot use {interface}: {exc}") from None
    found = DlmDiscovery(
        azc,
        DlmAnnouncer(azc, interface=interface, port=port, txt=txt),
        DlmBrowser(azc, nid=nid, on_slave=None if is_slave else on_slave),
    )
    try:
        await found.start()
    except Exception as exc:
        await found.close()
        raise DiscoveryError(
            f"dlm.discovery_interface: cannot announce on {interface}: {exc}"
        ) from exc
    return found
