"""The master side of DLM: poll every slave's Modbus server, allocate, write setpoints.

Every `poll_s` (and at once when load shedding, PV or an energy manager changes a limit)
the master polls each slave connector (`links.py`), works out the group's budget and runs
`energy.allocator.allocate` over the whole group — its own connectors too with an internal
slave; phase rotation and 1-phase cars included — then writes every slave connector's
setpoint (1010), decreases first; increases wait while a lowered car still draws more.

The group's budget per phase is the smallest of: `[dlm] group_limit_a` (the group's
sub-distribution limit, registers 610-612), the operator limit an energy manager writes to
613-615, and — with a `[site]` section — the site's grid limit minus the external load the
grid meter measures (`energy/gridload.py`, with the site's meter timeout and fallback
load). Load shedding and PV post limits here as they would to the station's energy manager.

A slave that does not answer keeps its last allocation reserved for `timeout_s`; after
that it is "gone" and the master reserves its disconnected limit on the connectors that
were charging (what it draws if it is alive but cut off) until the table is cleared. The
table of known slaves is persistent (state store, namespace "dlm").
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from chargebox.core.limits import Claim, LimitSource
from chargebox.core.station import Station
from chargebox.energy.allocator import Allocation, ConnectorDemand, RotationState, allocate
from chargebox.energy.dlm import status
from chargebox.energy.dlm.links import ACTIVE_CP, SlaveLink
from chargebox.energy.gridload import ChargingHistory, DecreaseGate, external_load, keep_s
from chargebox.energy.manager import grid_currents
from chargebox.energy.model import (
    STOP_EVERYTHING_A,
    ConnectorSite,
    ExternalLimit,
    GridMeterSource,
    PhaseCurrents,
    Site,
)

log = logging.getLogger(__name__)

ID_STRIDE = 1000  # slave i's connector c is group connector ID_STRIDE * (i + 1) + c
SETTLE_S = 5.0
METER_LOOK_S = 0.05  # how often the run loop looks for a fresh grid reading


def _min(a: PhaseCurrents, b: PhaseCurrents | None) -> PhaseCurrents:
    if b is None:
        return a
    return PhaseCurrents.from_tuple(
        min(x, y) for x, y in zip(a.as_tuple(), b.as_tuple(), strict=True)
    )


class DlmMaster:
    def __init__(
        self,
        station: Station,
        cfg: Any,
        *,
        internal: bool,
        store: Any = None,
        min_current_a: float = 6.0,
        site: Site | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.station = station
        self.clock = clock or station.clock.time
        self.cfg = cfg
        self.internal = internal
        self.store = store
        self.network_id = int(cfg.network_id)
        self.min_current_a = min_current_a
        self.group_limit = PhaseCurrents.from_tuple(cfg.group_limit_a)
        self.margin = PhaseCurrents.uniform(float(cfg.safety_margin_a))
        self.template = site  # [site]: grid limit, meter timeout and fallback, mode
        self.meter: GridMeterSource | None = None  # set by EnergyInputs (first [[meters]])
        self.limits: dict[str, ExternalLimit] = {}  # load shedding, PV
        self.operator_limit: PhaseCurrents | None = None  # registers 613-615
        self.links = [
            SlaveLink.make(i, s.host, s.port, s.connectors, s.phases, s.rotation)
            for i, s in enumerate(cfg.slaves)
        ]
        self.state = RotationState()
        self.cycles = 0
        self.last_cycle_s = 0.0
        self.error = ""
        self.budget_a = PhaseCurrents()
        self.allocated_a = PhaseCurrents()
        self.reserved_a = PhaseCurrents()
        self.external_a = PhaseCurrents()
        self.meter_info: dict[str, Any] = {"meter": "none"}
        self.binding: tuple[str, str, str] = ("", "", "")
        self._history = ChargingHistory()
        self._gate = DecreaseGate()
        self._applied: dict[int, float] = {}  # group id -> setpoint in force
        self._own_offer: dict[int, tuple[float, float]] = {}
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self.known: dict[str, dict[str, Any]] = dict(self._load())
        self.site = self._site()

    # ------------------------------------------------------------- inputs

    def post_limit(self, limit: ExternalLimit) -> None:
        """Load shedding, PV: in force from the next cycle, which starts at once."""
        self.limits[limit.source] = limit
        self.notify()

    def clear_limit(self, source: str) -> None:
        if self.limits.pop(source, None) is not None:
            self.notify()

    def notify(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def subdistribution_limit(self) -> PhaseCurrents:
        """Registers 610-612: the most the group may draw (before the operator limit)."""
        sub = self.site.subdistribution_limit_a
        return _min(self.site.grid_limit_a, sub)

    def set_operator_limit(self, values: tuple[float, float, float] | None) -> None:
        """Registers 613-615 written by an energy manager: caps the whole group."""
        self.operator_limit = None if values is None else PhaseCurrents.from_tuple(values)
        log.info("DLM: operator sub-distribution limit %s", values or "removed")
        self.site = self._site()
        self.notify()

    def add_slave(
        self,
        host: str,
        port: int,
        *,
        connectors: int = 2,
        phases: int = 3,
        rotation: str = "RST",
    ) -> bool:
        """Poll one more slave (found by discovery); False when it is already polled."""
        if any(link.host == host and link.port == port for link in self.links):
            return False
        index = max((link.index for link in self.links), default=-1) + 1
        self.links.append(
            SlaveLink.make(index, host, port, connectors, phases, rotation, discovered=True)
        )
        log.info("DLM: polling slave %s:%s (%s connectors)", host, port, connectors)
        self.site = self._site()
        return True

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

    def _remember(self) -> None:
        changed = False
        for link in self.links:
            if not link.online:
                continue
            changed = changed or link.key not in self.known
            self.known[link.key] = {
                "host": link.host,
                "port": link.port,
                "network_id": link.network_id,
                "connectors": len(link.connectors),
                "last_seen": round(self.clock()),
            }
        if changed or self.cycles % 30 == 0:
            self._save()

    # ---------------------------------------------------------- the group

    def _site(self) -> Site:
        """The group as one site: own connectors (internal slave) and every slave's."""
        conns = []
        if self.internal:
            own = {c.id: c for c in self.template.connectors} if self.template else {}
            for cid, mine in self.station.connectors.items():
                conns.append(own.get(cid) or ConnectorSite(cid, mine.spec.max_current_a))
        for link in self.links:
            for c in link.connectors.values():
                conns.append(
                    ConnectorSite(
                        link.group_id(c.cid, ID_STRIDE),
                        hardware_limit_a=c.hardware_a or 32.0,
                        phases=link.phases,
                        rotation=link.rotation,
                    )
                )
        if self.template is None:
            return Site(
                grid_limit_a=self.group_limit,
                connectors=tuple(conns),
                operator_subdistribution_limit_a=self.operator_limit,
                safety_margin_a=self.margin,
                min_current_a=self.min_current_a,
                meter_timeout_s=max(self.cfg.timeout_s, 10.0),
            )
        t = self.template
        return dataclasses.replace(
            t,
            connectors=tuple(conns),
            subdistribution_limit_a=_min(self.group_limit, t.subdistribution_limit_a),
            operator_subdistribution_limit_a=_min(
                t.operator_subdistribution_limit_a or self.group_limit, self.operator_limit
            ),
            min_current_a=self.min_current_a,
        )

    def _charging(self) -> PhaseCurrents:
        """What the whole group draws now, per grid phase."""
        total = PhaseCurrents()
        by_id = {c.id: c for c in self.site.connectors}
        if self.internal:
            for cid, own in self.station.connectors.items():
                if own.measurement is not None and cid in by_id:
                    total = total + grid_currents(by_id[cid], own.measurement.current_a)
        for link in self.links:
            if not link.online:
                continue
            for c in link.connectors.values():
                cs = by_id.get(link.group_id(c.cid, ID_STRIDE))
                if cs is not None:
                    total = total + grid_currents(cs, c.currents_a.as_tuple())
        return total

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
                active = link.online and c.cp_state in ACTIVE_CP
                if active and c.active_since == 0.0:
                    c.active_since = now
                if not active:
                    c.active_since = 0.0
                demands.append(
                    ConnectorDemand(
                        link.group_id(c.cid, ID_STRIDE),
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

    def _drawn(self) -> dict[int, float]:
        drawn: dict[int, float] = {}
        if self.internal:
            for cid, own in self.station.connectors.items():
                drawn[cid] = max(own.measurement.current_a) if own.measurement else 0.0
        for link in self.links:
            for c in link.connectors.values():
                drawn[link.group_id(c.cid, ID_STRIDE)] = c.currents_a.max()
        return drawn

    # --------------------------------------------------------------- cycle

    async def _poll(self, link: SlaveLink, now: float) -> None:
        was = link.online
        if await link.poll(self.network_id, now) and not was:
            log.info("DLM: slave %s joined", link.key)

    def allocate(self, now: float) -> Allocation:
        """The group's allocation from what the last poll saw (no I/O)."""
        self.site = site = self._site()
        self._history.record(now, self._charging(), keep_s(site))
        ext, info = external_load(site, self.meter, self._history, now)
        self.external_a, self.meter_info = ext, info
        self.reserved_a = self._reservation(now)
        limits = list(self.limits.values())
        if info["fallback"] and site.fallback_load_a.max() >= STOP_EVERYTHING_A:
            limits.append(ExternalLimit("meter_fallback", None, 0.0))  # 9999: stop everything
        allocation = allocate(
            site, self._demands(now), ext + self.reserved_a, now, limits=limits, state=self.state
        )
        self.state = allocation.state
        self.budget_a, self.allocated_a = allocation.budget_a, allocation.allocated_a
        self.binding = allocation.phase_binding
        return allocation

    async def cycle(self) -> None:
        t0 = time.perf_counter()
        now = self.clock()
        await asyncio.gather(*(self._poll(link, now) for link in self.links))
        allocation = self.allocate(now)
        new = {c.id: allocation.current(c.id) for c in self.site.connectors}
        applied = self._gate.apply(new, self._applied, self._drawn(), now)
        if self.internal:
            self.station.set_claims(
                {
                    cid: [Claim.uniform(LimitSource.DLM, applied.get(cid, 0.0))]
                    for cid in self.station.connectors
                }
            )
            for cid in self.station.connectors:
                self._applied[cid] = applied.get(cid, 0.0)
        writes: list[tuple[float, SlaveLink, Any, float]] = []
        for link in self.links:
            if not link.online:
                continue
            for c in link.connectors.values():
                gid = link.group_id(c.cid, ID_STRIDE)
                amps = applied.get(gid, 0.0)
                a = allocation.connectors.get(gid)
                link.last_alloc[c.cid] = amps
                link.last_phases[c.cid] = (
                    a.grid_phases if a and a.grid_phases else (link.wired_phases())
                )
                writes.append((amps - (c.setpoint or 0.0), link, c, amps))
        writes.sort(key=lambda w: w[0])  # decreases first
        for _, link, c, amps in writes:
            try:
                await c.write_setpoint(amps, now)
                self._applied[link.group_id(c.cid, ID_STRIDE)] = float(int(amps))
            except Exception as exc:  # noqa: BLE001
                link.online, link.error = False, f"write: {exc}"
        self._remember()
        self.cycles += 1
        self.last_cycle_s = time.perf_counter() - t0

    def _fail_safe(self) -> None:
        """A cycle failed: own connectors drop to the disconnected limit, like a slave's."""
        if self.internal:
            claim = Claim.uniform(LimitSource.DLM, self.cfg.disconnected_limit_a)
            self.station.set_claims({cid: [claim] for cid in self.station.connectors})
        self._applied = {}
        self._gate.clear()

    def _reading_time(self) -> float | None:
        try:
            reading = self.meter.latest() if self.meter is not None else None
        except Exception:  # a broken meter adapter is a silent meter
            return None
        return None if reading is None else reading.timestamp

    async def run(self) -> None:
        """Cycle every `poll_s`, and at once on a new grid reading or a changed limit."""
        self._wake = asyncio.Event()
        self._stopping = False
        while not self._stopping:
            self._wake.clear()
            seen = self._reading_time()
            try:
                await self.cycle()
                self.error = ""
            except Exception as exc:
                log.exception("DLM master cycle failed")
                self.error = str(exc) or type(exc).__name__
                with contextlib.suppress(Exception):
                    self._fail_safe()
            end = time.monotonic() + self.cfg.poll_s
            while (left := end - time.monotonic()) > 0 and not self._wake.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), min(left, METER_LOOK_S))
                if self._reading_time() != seen:
                    break  # a fresh reading (an overload) is acted on at once

    def stop(self) -> None:
        """End `run` after the cycle in progress (pymodbus requests are not cancelled)."""
        self._stopping = True
        self.notify()

    async def close(self) -> None:
        for link in self.links:
            link.close()

    # -------------------------------------------------------------- status

    def register_values(self, cid: int) -> dict[str, int | float]:
        """The master's DLM figures (registers 600-635) for every connector."""
        return status.register_values(self)

    @property
    def snapshot(self) -> dict[str, Any]:
        return status.snapshot(self)
