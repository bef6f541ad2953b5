"""The energy manager: grid meter + site model + allocator → ENERGY_MANAGER claims.

Every cycle (default 1 s, and at once when a meter reading, an external limit or a
session start/stop arrives) it works out the external (non-charging) load per grid
phase, runs the allocator and hands every connector's new claim to the station in one
step (`Station.set_claims`), so decreases go out before increases.

External load = grid reading minus the chargers' own currents at the time of the
reading (`energy/gridload.py`, shared with the DLM master).

Decreases take effect before increases, in time and not only in call order: a car may
take up to 5 s to follow a lower pilot current (IEC 61851-1), so while a connector that
was lowered still draws more than its new setpoint, increases elsewhere are held at their
old value (for at most `DECREASE_WAIT_S`).

Fail-safe: a meter silent longer than its timeout means the configured fallback load
(9999 A = stop everything); *any* exception in a cycle replaces the manager's claims by
`Claim(SAFE, safe_current_a)` on every connector — never their maximum.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

from chargebox.core.clock import Clock
from chargebox.core.events import Event, EventBus, TransactionStarted, TransactionStopped
from chargebox.core.limits import Claim, LimitSource
from chargebox.core.station import Station
from chargebox.core.types import PilotState
from chargebox.energy.allocator import (
    PHASE_NAMES,
    Allocation,
    ConnectorDemand,
    RotationState,
    allocate,
)
from chargebox.energy.gridload import ChargingHistory, DecreaseGate, external_load, keep_s
from chargebox.energy.model import (
    ROTATIONS,
    STOP_EVERYTHING_A,
    AllocationMode,
    ConnectorSite,
    ExternalLimit,
    GridMeterSource,
    MeterPlacement,
    PhaseCurrents,
    Site,
    SupplyGroup,
)

log = logging.getLogger(__name__)

SETTLE_S = 5.0  # a car has this long to follow a new offer before give-back looks at it
POLL_S = 0.05  # how often the run loop looks for a new meter reading


def grid_currents(site: ConnectorSite, measured: Iterable[float]) -> PhaseCurrents:
    """A connector's phase currents mapped onto the grid phases by its rotation."""
    out = [0.0, 0.0, 0.0]
    mapping = ROTATIONS[site.rotation]
    for p, amps in enumerate(measured):
        if p < site.phases:
            out[mapping[p]] += amps
    return PhaseCurrents.from_tuple(out)


class EnergyManager:
    def __init__(
        self,
        station: Station,
        site: Site,
        *,
        clock: Clock,
        meter: GridMeterSource | None = None,
        safe_current_a: float = 6.0,
        bus: EventBus | None = None,
    ) -> None:
        self.station = station
        self.site = site
        self.clock = clock
        self.meter = meter  # None: no grid meter (static limits only)
        self.safe_current_a = safe_current_a
        self.limits: dict[str, ExternalLimit] = {}
        self.state = RotationState()
        self.last: Allocation | None = None
        self.healthy = True
        self.error: str | None = None
        self.cycles = 0
        self.snapshot: dict[str, Any] = {}
        self._offer: dict[int, tuple[float, float]] = {}  # cid -> (offered, since)
        self._charging = ChargingHistory()  # grid amps of the chargers, for the meter
        self._applied: dict[int, float] = {}  # the energy_manager claim in force
        self._gate = DecreaseGate()  # increases wait while a lowered car comes down
        self._last_reading: float | None = None
        self._next_at = 0.0  # when the run loop cycles next at the latest
        self._due = False  # a cycle was asked for (session change, new reading)
        self._wake: asyncio.Event | None = None
        self._site_by_id = {c.id: c for c in site.connectors}
        self.fault_hook: Callable[[], None] | None = None  # tests inject failures here
        # Until the first cycle has run, the safe current holds (never the maximum).
        for c in station.connectors.values():
            c.claims[LimitSource.SAFE] = Claim.uniform(LimitSource.SAFE, safe_current_a)
        self._applied = {cid: safe_current_a for cid in station.connectors}
        if bus is not None:
            bus.subscribe(TransactionStarted, self._session_changed)
            bus.subscribe(TransactionStopped, self._session_changed)

    # ------------------------------------------------------------- inputs

    def post_limit(self, limit: ExternalLimit) -> None:
        """Load shedding, PV surplus and friends: applied at once, not at the next cycle."""
        self.limits[limit.source] = limit
        self.cycle()

    def clear_limit(self, source: str) -> None:
        if self.limits.pop(source, None) is not None:
            self.cycle()

    def notify(self) -> None:
        """Something changed (a new meter reading): run a cycle as soon as possible."""
        self._due = True
        if self._wake is not None:
            self._wake.set()

    def _session_changed(self, event: Event) -> None:
        self.notify()

    # -------------------------------------------------------------- cycle

    def cycle(self) -> Allocation | None:
        """One control step; never raises. None when it failed and the safe current applies."""
        try:
            if self.fault_hook is not None:
                self.fault_hook()
            allocation = self._cycle()
        except Exception as exc:  # fail safe, whatever went wrong
            log.exception("energy manager cycle failed: connectors fall back to the safe current")
            self._fail_safe(f"{type(exc).__name__}: {exc}")
            return None
        self.healthy, self.error = True, None
        return allocation

    def observe(self, now: float | None = None) -> PhaseCurrents:
        """Record what the chargers draw now (per grid phase); the run loop calls it often."""
        now = self.clock.time() if now is None else now
        charging = PhaseCurrents()
        for cid, c in self.station.connectors.items():
            cs = self._site_by_id.get(cid)
            if cs is not None and c.measurement is not None:
                charging = charging + grid_currents(cs, c.measurement.current_a)
        self._charging.record(now, charging, keep_s(self.site))
        return charging

    def external_load(self, now: float) -> tuple[PhaseCurrents, dict[str, Any]]:
        """Non-charging load per grid phase, and how it was found (for the status)."""
        charging = self.observe(now)
        load, info = external_load(self.site, self.meter, self._charging, now)
        info["charging_measured_a"] = charging
        return load, info

    def _cycle(self) -> Allocation:
        now = self.clock.time()
        station = self.station
        ext, info = self.external_load(now)
        limits = list(self.limits.values())
        for claim in station.station_claims.values():  # connector 0: a budget for everyone
            limits.append(
                ExternalLimit(f"station:{claim.source.value}", PhaseCurrents.from_tuple(claim.amps))
            )
        demands = []
        for cid, c in station.connectors.items():
            offered, since = self._offer.get(cid, (None, now))
            if offered != c.offered_a:
                self._offer[cid] = (c.offered_a, now)
                since = now
            active = station.may_draw(cid)
            demands.append(
                ConnectorDemand(
                    cid,
                    active,
                    PhaseCurrents.from_tuple(c.measurement.current_a)
                    if c.measurement is not None
                    else PhaseCurrents(),
                    offered_a=c.offered_a,
                    settled=now - since >= SETTLE_S,
                    ev_suspended=c.pilot is PilotState.B,
                    max_a=station.limit_without(cid, (LimitSource.ENERGY_MANAGER, LimitSource.SAFE))
                    if active
                    else None,
                    session_start=c.transaction.start_time if c.transaction is not None else now,
                )
            )
        if info["fallback"] and self.site.fallback_load_a.max() >= STOP_EVERYTHING_A:
            limits.append(ExternalLimit("meter_fallback", None, 0.0))  # 9999: stop everything
        allocation = allocate(self.site, demands, ext, now, limits=limits, state=self.state)
        self.state = allocation.state
        applied = self._hold_increases(allocation, now)
        batch = {
            cid: [Claim.uniform(LimitSource.ENERGY_MANAGER, applied[cid])]
            for cid in station.connectors
        }
        station.set_claims(batch, clear=[LimitSource.SAFE], delegate_station_claims=True)
        self._applied = applied
        self.last = allocation
        self.cycles += 1
        self.snapshot = self._describe(allocation, ext, info, limits, now)
        return allocation

    @property
    def held(self) -> set[int]:
        """Connectors whose increase waits for a decrease elsewhere."""
        return self._gate.held

    def _drawn(self) -> dict[int, float]:
        return {
            cid: max(c.measurement.current_a) if c.measurement is not None else 0.0
            for cid, c in self.station.connectors.items()
        }

    def _hold_increases(self, allocation: Allocation, now: float) -> dict[int, float]:
        new = {cid: allocation.current(cid) for cid in self.station.connectors}
        return self._gate.apply(new, self._applied, self._drawn(), now)

    def decreases_pending(self) -> bool:
        """Some lowered car has not come down yet (increases elsewhere are held)."""
        return bool(self._gate.lowered)

    def _fail_safe(self, error: str) -> None:
        self.healthy, self.error = False, error
        self._applied = {cid: self.safe_current_a for cid in self.station.connectors}
        self._gate.clear()
        safe = [Claim.uniform(LimitSource.SAFE, self.safe_current_a)]
        try:
            self.station.set_claims(
                {cid: list(safe) for cid in self.station.connectors},
                clear=[LimitSource.ENERGY_MANAGER],
                delegate_station_claims=False,
            )
        except Exception:  # the claims are in place; the station's next tick applies them
            log.exception("applying the safe current failed; the next station tick retries")
            self.station.station_claims_delegated = False
            for c in self.station.connectors.values():
                c.claims.pop(LimitSource.ENERGY_MANAGER, None)
                c.claims[LimitSource.SAFE] = safe[0]
        self.snapshot = {
            **self.snapshot,
            "healthy": False,
            "error": error,
            "safe_current_a": self.safe_current_a,
        }

    # ------------------------------------------------------------ status

    def _describe(
        self,
        allocation: Allocation,
        ext: PhaseCurrents,
        info: dict[str, Any],
        limits: list[ExternalLimit],
        now: float,
    ) -> dict[str, Any]:
        site = self.site
        reading: PhaseCurrents | None = info["reading"]
        charging: PhaseCurrents = info["charging_measured_a"]
        phases = []
        for p in range(3):
            phases.append(
                {
                    "phase": PHASE_NAMES[p],
                    "grid_limit_a": site.grid_limit_a[p],
                    "safety_margin_a": site.safety_margin_a[p],
                    "measured_a": round(reading[p], 2) if reading is not None else None,
                    "charging_measured_a": round(charging[p], 2),
                    "external_load_a": round(ext[p], 2),
                    "budget_a": round(allocation.budget_a[p], 2),
                    "allocated_a": round(allocation.allocated_a[p], 2),
                    "binding": allocation.phase_binding[p],
                    "connectors": {
                        str(cid): a.current_a
                        for cid, a in allocation.connectors.items()
                        if p in a.grid_phases and a.current_a > 0
                    },
                }
            )
        return {
            "enabled": True,
            "healthy": True,
            "error": None,
            "mode": site.mode.value,
            "cycle_s": site.cycle_s,
            "updated": now,
            "meter": {
                "state": info["meter"],
                "age_s": round(info["age_s"], 2) if info["age_s"] is not None else None,
                "fallback": info["fallback"],
                "placement": site.meter_placement.value,
                "timeout_s": site.meter_timeout_s,
                "lag_s": site.meter_lag_s,
            },
            "phases": phases,
            "connectors": [
                {
                    "id": cid,
                    "allocated_a": a.current_a,
                    "grid_phases": [PHASE_NAMES[p] for p in a.grid_phases],
                    "binding": a.binding,
                    "paused": a.paused,
                    "held": cid in self.held,  # an increase waiting for a decrease elsewhere
                }
                for cid, a in sorted(allocation.connectors.items())
            ],
            "limits": [
                {
                    "source": lim.source,
                    "per_phase_a": list(lim.per_phase_a.as_tuple()) if lim.per_phase_a else None,
                    "station_limit_a": lim.station_limit_a,
                    "offset_a": list(lim.offset_a.as_tuple()) if lim.offset_a else None,
                }
                for lim in limits
            ],
        }

    # --------------------------------------------------------------- run

    def step(self) -> bool:
        """One look of the run loop: cycle when a fresh reading, the cycle time, a wake-up
        or a finished decrease says so. True when it cycled."""
        now = self.clock.time()
        reading = None
        if self.meter is not None:
            try:
                reading = self.meter.latest()
            except Exception:  # a broken meter adapter is a silent meter
                log.exception("grid meter failed")
        fresh = reading is not None and reading.timestamp != self._last_reading
        self.observe(now)
        if self._gate.lowered and not self._gate.waiting(self._applied, self._drawn(), now):
            self._due = True  # the lowered cars came down: release the increases now
        if not (fresh or now >= self._next_at or self._due):
            return False
        self._due = False
        if reading is not None:
            self._last_reading = reading.timestamp
        self.cycle()
        self._next_at = now + self.site.cycle_s
        return True

    async def run(self) -> None:
        """Cycle every `site.cycle_s`, and at once on a new reading or a session change."""
        self._wake = asyncio.Event()
        while True:
            self._wake.clear()
            self.step()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_S)


def build_site(file: Any, specs: Iterable[Any]) -> Site:
    """The Site from a validated station.toml (`settings.StationFile`) and its connectors."""
    s = file.site
    e = file.energy
    inst = file.installation
    wiring = {c.id: c for c in s.connectors}
    connectors = []
    for spec in specs:
        w = wiring.get(spec.id)
        connectors.append(
            ConnectorSite(
                id=spec.id,
                hardware_limit_a=spec.max_current_a,
                installation_limit_a=(
                    w.installation_limit_a
                    if w is not None and w.installation_limit_a is not None
                    else inst.installation_limit_a
                ),
                operator_limit_a=(
                    w.operator_limit_a
                    if w is not None and w.operator_limit_a is not None
                    else inst.operator_limit_a
                ),
                phases=w.phases if w is not None and w.phases is not None else spec.phases,
                rotation=w.rotation if w is not None else "RST",
                group=w.group if w is not None else None,
                priority=w.priority if w is not None else 0,
            )
        )

    def pc(values: Any) -> PhaseCurrents | None:
        return None if values is None else PhaseCurrents.from_tuple(values)

    return Site(
        grid_limit_a=PhaseCurrents.from_tuple(s.grid_limit_a),
        connectors=tuple(connectors),
        subdistribution_limit_a=pc(s.subdistribution_limit_a),
        operator_subdistribution_limit_a=pc(s.operator_subdistribution_limit_a),
        groups=tuple(SupplyGroup(g.name, PhaseCurrents.from_tuple(g.limit_a)) for g in s.groups),
        voltage_v=s.voltage_v,
        min_current_a=inst.min_current_a,
        it_network=s.it_network,
        meter_placement=MeterPlacement(grid_meter_placement(file)),
        safety_margin_a=PhaseCurrents.from_tuple(s.safety_margin_a),
        fallback_load_a=PhaseCurrents.from_tuple(s.fallback_load_a),
        meter_timeout_s=s.meter_timeout_s,
        meter_lag_s=s.meter_lag_s,
        mode=AllocationMode(e.mode),
        rotation_period_s=e.rotation_period_s,
        unbalance_limit_a=e.unbalance_limit_a if e.unbalance_limit_enabled else None,
        cycle_s=e.cycle_s,
    )


def grid_meter_placement(file: Any) -> str:
    """Where the energy manager's grid meter sits: the one place that says it.

    The first `[[meters]]` entry's `placement` (the grid meter, also what PV reads);
    the built-in simulated meter (`[energy] meter = "sim"`) always includes the chargers.
    """
    if file.energy.meter == "sim" or not file.meters:
        return MeterPlacement.INCLUDES_CHARGING.value
    return str(file.meters[0].placement)
