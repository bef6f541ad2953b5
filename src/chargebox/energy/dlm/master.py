"""The master side of DLM: poll every slave's Modbus server, allocate, write setpoints.

Every `poll_s` the master reads each slave connector's OMCCI registers (control-pilot
state 122, hardware limit 133, per-phase currents 212-217, signalled current 706, car
maximum 715, network id 1011), runs `energy.allocator.allocate` over the whole group (its
own connectors too with an internal slave; phase rotation and 1-phase cars included) and
writes every slave connector's setpoint (1010), decreases first. A slave that does not
answer keeps its last allocation reserved for `timeout_s`; after that it is "gone" and
the master reserves its disconnected limit on the connectors that were charging (what it
draws if it is alive but cut off) until the table is cleared. The table of known slaves
is persistent (state store, namespace "dlm").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from pymodbus.client import AsyncModbusTcpClient

from chargebox.core.limits import Claim, LimitSource
from chargebox.core.station import Station
from chargebox.energy.allocator import ConnectorDemand, RotationState, allocate
from chargebox.energy.model import ROTATIONS, ConnectorSite, PhaseCurrents, Site

log = logging.getLogger(__name__)

ID_STRIDE = 1000  # slave i's connector c is group connector ID_STRIDE * (i + 1) + c
SETTLE_S = 5.0
ACTIVE_CP = (2, 3, 4)  # B, C, D: a car is there
NO_LIMIT = 65535


@dataclass
class SlaveConnector:
    cid: int
    host: str
    port: int
    _client: AsyncModbusTcpClient | None = None
    cp_state: int = 0
    hardware_a: float = 32.0
    currents_a: PhaseCurrents = field(default_factory=PhaseCurrents)
    signalled_a: float = 0.0
    ev_max_a: float = 0.0
    setpoint: float | None = None  # last written
    setpoint_since: float = 0.0
    active_since: float = 0.0

    @property
    def client(self) -> AsyncModbusTcpClient:
        """Made on first use: pymodbus clients need the running event loop."""
        if self._client is None:
            self._client = AsyncModbusTcpClient(self.host, port=self.port, timeout=0.5, retries=0)
        return self._client


@dataclass
class SlaveLink:
    index: int
    host: str
    port: int
    phases: int
    rotation: str
    connectors: dict[int, SlaveConnector]
    network_id: int | None = None
    online: bool = False
    last_seen: float | None = None  # monotonic
    last_alloc: dict[int, float] = field(default_factory=dict)
    last_phases: dict[int, tuple[int, ...]] = field(default_factory=dict)
    error: str = ""

    @property
    def key(self) -> str:
        return f"{self.host}:{self.port}"


class DlmMaster:
    def __init__(
        self,
        station: Station,
        cfg: Any,
        *,
        internal: bool,
        store: Any = None,
        min_current_a: float = 6.0,
    ) -> None:
        self.station = station
        self.cfg = cfg
        self.internal = internal
        self.store = store
        self.network_id = int(cfg.network_id)
        self.min_current_a = min_current_a
        self.group_limit = PhaseCurrents.from_tuple(cfg.group_limit_a)
        self.margin = PhaseCurrents.uniform(float(cfg.safety_margin_a))
        self.links = [
            SlaveLink(
                i,
                s.host,
                s.port,
                s.phases,
                s.rotation,
                {c: SlaveConnector(c, s.host, s.port + c - 1) for c in range(1, s.connectors + 1)},
            )
            for i, s in enumerate(cfg.slaves)
        ]
        self.state = RotationState()
        self.cycles = 0
        self.last_cycle_s = 0.0
        self.error = ""
        self.budget_a = PhaseCurrents()
        self.allocated_a = PhaseCurrents()
        self.reserved_a = PhaseCurrents()
        self._own_offer: dict[int, tuple[float, float]] = {}
        self.known: dict[str, dict[str, Any]] = dict(self._load())

    # ----------------------------------------------------------- the table

    def _load(self) -> dict[str, dict[str, Any]]:
        if self.store is None:
            return {}
        value = self.store.get("dlm", "slaves", {})
        return value if isinstance(value, dict) else {}

    def _save(self) -> None:
        if self.store is not None:
            self.store.set("dlm", "slaves", self.known)

    def clear_table(self) -> int:
        """Forget every slave that is not online now; returns how many were removed."""
        online = {link.key for link in self.links if link.online}
        gone = [k for k in self.known if k not in online]
        for k in gone:
            del self.known[k]
        for link in self.links:
            if link.key in gone:
                link.last_alloc.clear()
                link.last_seen = None
        self._save()
        return len(gone)

    # ------------------------------------------------------------- polling

    async def _read(self, c: SlaveConnector, address: int, count: int) -> list[int]:
        rr = await c.client.read_holding_registers(address, count=count, device_id=1)
        if rr.isError():
            raise OSError(f"exception {rr}")
        return list(rr.registers)

    async def _poll_connector(self, c: SlaveConnector) -> int:
        if not c.client.connected:
            await c.client.connect()
            if not c.client.connected:
                raise OSError("no connection")
        cp = await self._read(c, 122, 1)
        hw = await self._read(c, 133, 1)
        cur = await self._read(c, 212, 6)
        sig = await self._read(c, 706, 1)
        evmax = await self._read(c, 715, 1)
        nid = await self._read(c, 1011, 1)
        c.cp_state = cp[0]
        c.hardware_a = float(hw[0])
        c.currents_a = PhaseCurrents(
            ((cur[0] << 16) | cur[1]) / 1000,
            ((cur[2] << 16) | cur[3]) / 1000,
            ((cur[4] << 16) | cur[5]) / 1000,
        )
        c.signalled_a = float(sig[0])
        c.ev_max_a = float(evmax[0])
        return nid[0]

    async def _poll(self, link: SlaveLink) -> None:
        try:
            ids = await asyncio.gather(*(self._poll_connector(c) for c in link.connectors.values()))
        except Exception as exc:  # noqa: BLE001 - any failure: the slave is missing
            link.online = False
            link.error = str(exc) or type(exc).__name__
            for c in link.connectors.values():
                with contextlib.suppress(Exception):
                    c.client.close()
            return
        link.network_id = ids[0]
        if ids[0] != self.network_id:
            link.online = False
            link.error = f"network id {ids[0]}, not {self.network_id}"
            return
        if not link.online:
            log.info("DLM: slave %s joined", link.key)
        link.online, link.error = True, ""
        link.last_seen = time.monotonic()

    # ---------------------------------------------------------- allocation

    def _reservation(self, now: float) -> PhaseCurrents:
        """What missing slaves are assumed to draw, per grid phase."""
        res = [0.0, 0.0, 0.0]
        for link in self.links:
            if link.online or link.last_seen is None:
                continue
            gone = now - link.last_seen > self.cfg.timeout_s
            for cid, amps in link.last_alloc.items():
                if amps <= 0:
                    continue
                value = self.cfg.disconnected_limit_a if gone else amps
                for p in link.last_phases.get(cid, ()):
                    res[p] += value
        return PhaseCurrents.from_tuple(res)

    def _site(self) -> Site:
        conns = []
        if self.internal:
            for cid, own in self.station.connectors.items():
                conns.append(ConnectorSite(cid, hardware_limit_a=own.spec.max_current_a))
        for link in self.links:
            for c in link.connectors.values():
                conns.append(
                    ConnectorSite(
                        ID_STRIDE * (link.index + 1) + c.cid,
                        hardware_limit_a=c.hardware_a or 32.0,
                        phases=link.phases,
                        rotation=link.rotation,
                    )
                )
        return Site(
            grid_limit_a=self.group_limit,
            connectors=tuple(conns),
            safety_margin_a=self.margin,
            min_current_a=self.min_current_a,
        )

    def _demands(self, now: float) -> list[ConnectorDemand]:
        demands = []
        if self.internal:
            for cid, own in self.station.connectors.items():
                active = own.transaction is not None
                offer, since = self._own_offer.get(cid, (own.offered_a, now))
                if abs(offer - own.offered_a) > 0.05:
                    offer, since = own.offered_a, now
                self._own_offer[cid] = (offer, since)
                meas = own.measurement.current_a if own.measurement is not None else (0, 0, 0)
                demands.append(
                    ConnectorDemand(
                        cid,
                        active,
                        PhaseCurrents.from_tuple(meas),
                        offered_a=own.offered_a,
                        settled=now - since >= SETTLE_S,
                        ev_suspended=getattr(own.pilot, "name", "") == "B",
                        max_a=self.station.limit_without(cid, (LimitSource.DLM,))
                        if active
                        else None,
                        session_start=own.transaction.start_time if own.transaction else now,
                    )
                )
        for link in self.links:
            for c in link.connectors.values():
                gid = ID_STRIDE * (link.index + 1) + c.cid
                active = link.online and c.cp_state in ACTIVE_CP
                if active and c.active_since == 0.0:
                    c.active_since = now
                if not active:
                    c.active_since = 0.0
                demands.append(
                    ConnectorDemand(
                        gid,
                        active,
                        c.currents_a,
                        offered_a=c.signalled_a,
                        settled=now - c.setpoint_since >= SETTLE_S,
                        ev_suspended=c.cp_state == 2,
                        max_a=(c.ev_max_a or None) if active else None,
                        session_start=c.active_since or now,
                    )
                )
        return demands

    async def cycle(self) -> None:
        t0 = time.perf_counter()
        now = time.monotonic()
        await asyncio.gather(*(self._poll(link) for link in self.links))
        reserved = self._reservation(now)
        self.reserved_a = reserved
        site = self._site()
        allocation = allocate(site, self._demands(now), reserved, now, state=self.state)
        self.state = allocation.state
        self.budget_a, self.allocated_a = allocation.budget_a, allocation.allocated_a
        if self.internal:
            self.station.set_claims(
                {
                    cid: [Claim.uniform(LimitSource.DLM, allocation.current(cid))]
                    for cid in self.station.connectors
                }
            )
        writes: list[tuple[float, SlaveLink, SlaveConnector, float]] = []
        for link in self.links:
            if not link.online:
                continue
            for c in link.connectors.values():
                gid = ID_STRIDE * (link.index + 1) + c.cid
                amps = allocation.current(gid)
                a = allocation.connectors.get(gid)
                link.last_alloc[c.cid] = amps
                link.last_phases[c.cid] = (
                    a.grid_phases
                    if a and a.grid_phases
                    else (tuple(sorted({ROTATIONS[link.rotation][p] for p in range(link.phases)})))
                )
                writes.append((amps - (c.setpoint or 0.0), link, c, amps))
        writes.sort(key=lambda w: w[0])  # decreases first
        for _, link, c, amps in writes:
            try:
                value = int(amps)  # floored: never more than allocated
                rr = await c.client.write_register(1010, value, device_id=1)
                if rr.isError():
                    raise OSError(str(rr))
                if c.setpoint is None or abs(c.setpoint - value) > 0.05:
                    c.setpoint_since = now
                c.setpoint = float(value)
            except Exception as exc:  # noqa: BLE001
                link.online, link.error = False, f"write: {exc}"
        self._remember()
        self.cycles += 1
        self.last_cycle_s = time.perf_counter() - t0

    def _remember(self) -> None:
        changed = False
        for link in self.links:
            if link.online and link.key not in self.known:
                changed = True
            if link.online:
                self.known[link.key] = {
                    "host": link.host,
                    "port": link.port,
                    "network_id": link.network_id,
                    "connectors": len(link.connectors),
                    "last_seen": round(time.time()),
                }
        if changed or self.cycles % 30 == 0:
            self._save()

    async def run(self) -> None:
        while True:
            try:
                await self.cycle()
                self.error = ""
            except Exception as exc:
                log.exception("DLM master cycle failed")
                self.error = str(exc)
            await asyncio.sleep(self.cfg.poll_s)

    async def close(self) -> None:
        for link in self.links:
            for c in link.connectors.values():
                with contextlib.suppress(Exception):
                    c.client.close()

    # -------------------------------------------------------------- status

    def register_values(self, cid: int) -> dict[str, int]:
        return {
            "dlm_mode": 1 if self.internal else 2,
            "dlm_slaves": sum(1 for link in self.links if link.online),
            "dlm_network_id": self.network_id,
            "dlm_setpoint": NO_LIMIT,
        }

    @property
    def snapshot(self) -> dict[str, Any]:
        now = time.monotonic()
        disconnected_sum = self.cfg.disconnected_limit_a * sum(
            len(link.connectors) for link in self.links
        )
        limit = self.group_limit.min() - self.margin.min()
        warnings = []
        if disconnected_sum > limit:
            warnings.append(
                f"the slaves' disconnected limits add up to {disconnected_sum:g} A, "
                f"more than the group's limit of {limit:g} A"
            )
        return {
            "role": "master" if self.internal else "master_standalone",
            "network_id": self.network_id,
            "error": self.error,
            "cycles": self.cycles,
            "cycle_s": round(self.last_cycle_s, 4),
            "group_limit_a": list(self.group_limit.as_tuple()),
            "budget_a": list(self.budget_a.as_tuple()),
            "allocated_a": list(self.allocated_a.as_tuple()),
            "reserved_a": list(self.reserved_a.as_tuple()),
            "warnings": warnings,
            "known_slaves": self.known,
            "slaves": [
                {
                    "address": link.key,
                    "online": link.online,
                    "gone": (not link.online)
                    and link.last_seen is not None
                    and now - link.last_seen > self.cfg.timeout_s,
                    "error": link.error,
                    "network_id": link.network_id,
                    "connectors": [
                        {
                            "id": c.cid,
                            "cp_state": c.cp_state,
                            "measured_a": list(c.currents_a.as_tuple()),
                            "setpoint_a": c.setpoint,
                            "allocated_a": link.last_alloc.get(c.cid),
                        }
                        for c in link.connectors.values()
                    ],
                }
                for link in self.links
            ],
        }
