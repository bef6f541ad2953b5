"""Wiring of the energy inputs: grid meters (Modbus TCP, optionally simulated), load
shedding and PV surplus charging. Built by the app from station.toml; each part runs as a
task and changes the station only through its commands (claims, phase switching) or
through the energy manager's `post_limit`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from chargebox.core.limits import Claim, LimitSource
from chargebox.core.station import Station
from chargebox.energy.meters.modbus_meter import ModbusGridMeter
from chargebox.energy.meters.registermap import load_map
from chargebox.energy.meters.sim_server import SimMeterServer, parse_profile
from chargebox.energy.model import ROTATIONS, ExternalLimit, GridMeterSource, PhaseCurrents
from chargebox.energy.pv import PvDecision, PvMode, PvSettings, PvState, pv_step
from chargebox.energy.shedding import LoadShedding, SheddingSettings
from chargebox.hardware.sim import SimStation

log = logging.getLogger(__name__)

METER_FAULT = "external_meter_failure"
PV_SOURCE = "pv"


class PvRunner:
    """Runs `pv_step` every `cycle_s` and applies its decision to the station."""

    def __init__(
        self,
        settings: PvSettings,
        meter: GridMeterSource,
        station: Station,
        *,
        clock: Callable[[], float],
        manager: Any = None,
        cycle_s: float = 5.0,
        stale_after_s: float = 10.0,
    ) -> None:
        self.settings = settings
        self.meter = meter
        self.station = station
        self.clock = clock
        self.manager = manager
        self.cycle_s = cycle_s
        self.stale_after_s = stale_after_s
        self.state = PvState()
        self.last: PvDecision | None = None
        self._posted: float | None = -1.0

    def cycle(self) -> PvDecision:
        now = self.clock()
        reading = self.meter.latest()
        fresh = reading is not None and now - reading.timestamp <= self.stale_after_s
        grid_w = reading.power_w if fresh and reading is not None else None
        ev_w = sum(c.measurement.power_w for c in self.station.connectors.values() if c.measurement)
        d = pv_step(self.settings, self.state, now=now, grid_power_w=grid_w, charging_power_w=ev_w)
        if d.phases != self.state.phases:
            for cid in self.station.connectors:
                if self.station.can_switch_phases(cid):
                    self.station.set_phases(cid, d.phases)
        self.state, self.last = d.state, d
        if d.limit_a != self._posted:
            self._posted = d.limit_a
            self._apply(d.limit_a)
        return d

    def _apply(self, limit: float | None) -> None:
        if self.manager is not None:
            if limit is None:
                self.manager.clear_limit(PV_SOURCE)
            else:
                self.manager.post_limit(ExternalLimit(PV_SOURCE, PhaseCurrents.uniform(limit)))
        elif limit is None:
            self.station.clear_claim(0, LimitSource.PV)
        else:
            self.station.set_claim(0, Claim.uniform(LimitSource.PV, limit))

    def status(self) -> dict[str, Any]:
        d = self.last
        return {
            "mode": self.settings.mode.value,
            "limit_a": d.limit_a if d else None,
            "phases": d.phases if d else self.state.phases,
            "reason": d.reason if d else None,
            "timer": d.timer if d else None,
            "remaining_s": round(d.remaining_s, 1) if d and d.remaining_s is not None else None,
            "surplus_w": round(self.state.surplus_w, 1)
            if self.state.surplus_w is not None
            else None,
            "switches": self.state.switches,
        }

    async def run(self) -> None:
        while True:
            try:
                self.cycle()
            except Exception:  # PV is a comfort function: log, keep the last limit
                log.exception("PV surplus cycle failed")
            await asyncio.sleep(self.cycle_s)


class EnergyInputs:
    """Meters, simulated meter servers, load shedding and PV of one station process."""

    def __init__(self) -> None:
        self.meters: list[ModbusGridMeter] = []
        self.sim_servers: list[SimMeterServer] = []
        self.shedding: LoadShedding | None = None
        self.pv: PvRunner | None = None
        self.faults: frozenset[str] = frozenset()
        self._failed: set[str] = set()

    @classmethod
    def build(
        cls,
        file: Any,
        *,
        station: Station,
        sim: SimStation,
        clock: Callable[[], float],
        manager: Any = None,
    ) -> EnergyInputs:
        self = cls()
        rotations = {}
        if manager is not None:
            rotations = {c.id: ROTATIONS[c.rotation] for c in manager.site.connectors}
        for m in file.meters:
            regmap = load_map(m.map)
            host = m.host
            if m.simulate:
                host = "127.0.0.1"
                extra = None
                if m.placement == "includes_charging":
                    extra = _charging_currents(sim, rotations)
                self.sim_servers.append(
                    SimMeterServer(
                        regmap,
                        parse_profile(m.profile),
                        host=host,
                        port=m.port,
                        unit=m.unit,
                        extra=extra,
                    )
                )
            self.meters.append(
                ModbusGridMeter(
                    regmap,
                    host,
                    m.port,
                    name=m.name,
                    unit=m.unit,
                    poll_s=m.poll_s,
                    timeout_s=m.timeout_s,
                    on_status=self._meter_status,
                )
            )
        if manager is not None and self.meters and manager.meter is None:
            manager.meter = self.meters[0]  # the first [[meters]] entry is the grid meter
        ls = file.load_shedding
        if ls.enabled:
            if file.site is not None:
                a, b, c = file.site.grid_limit_a
                budget = (float(a), float(b), float(c))
            else:
                total = sum(c.spec.max_current_a for c in station.connectors.values())
                budget = (total, total, total)
            self.shedding = LoadShedding(
                SheddingSettings(
                    input=ls.input,
                    polarity=ls.polarity,
                    debounce_s=ls.debounce_s,
                    mode=ls.mode,
                    limit_a=ls.limit_a,
                    offset_a=tuple(ls.offset_a),
                    budget_a=budget,
                    min_current_a=file.installation.min_current_a,
                ),
                read_input=sim.inputs.read,
                clock=clock,
                station=station,
                manager=manager,
            )
            sim.inputs.listeners.append(self.shedding.input_changed)
        pv = file.pv
        if pv.mode != "off" and self.meters:
            meter = next((x for x in self.meters if x.name == pv.meter), self.meters[0])
            placement = next(m.placement for m in file.meters if m.name == meter.name)
            can_switch = any(station.can_switch_phases(cid) for cid in station.connectors)
            self.pv = PvRunner(
                PvSettings(
                    mode=PvMode(pv.mode),
                    min_current_a=file.installation.min_current_a,
                    max_current_a=pv.max_current_a,
                    enable_delay_s=pv.enable_delay_s,
                    disable_delay_s=pv.disable_delay_s,
                    smoothing_s=pv.smoothing_s,
                    hysteresis_a=pv.hysteresis_a,
                    import_allowance_w=pv.import_allowance_w,
                    meter_includes_charging=placement == "includes_charging",
                    phase_switching=pv.phase_switching and can_switch,
                    phase_down_delay_s=pv.phase_down_delay_s,
                    phase_up_delay_s=pv.phase_up_delay_s,
                    phase_min_interval_s=pv.phase_min_interval_s,
                ),
                meter,
                station,
                clock=clock,
                manager=manager,
                cycle_s=pv.cycle_s,
                stale_after_s=max(10.0, 3 * meter.poll_s + meter.timeout_s),
            )
        return self

    def _meter_status(self, name: str, ok: bool, error: str | None) -> None:
        if ok:
            self._failed.discard(name)
        else:
            log.warning("grid meter %s failed (%s): external_meter_failure", name, error)
            self._failed.add(name)
        self.faults = frozenset({METER_FAULT}) if self._failed else frozenset()

    def coroutines(self) -> list[Coroutine[Any, Any, None]]:
        out: list[Coroutine[Any, Any, None]] = [self._serve(s) for s in self.sim_servers]
        out += [m.run() for m in self.meters]
        if self.shedding is not None:
            out.append(self.shedding.run())
        if self.pv is not None:
            out.append(self.pv.run())
        return out

    @staticmethod
    async def _serve(server: SimMeterServer) -> None:
        try:
            await server.start()
            log.info("simulated %s meter on 127.0.0.1:%d", server.map.name, server.port)
        except Exception as exc:  # the meter client then reports external_meter_failure
            log.error("simulated meter on port %d did not start: %s", server.port, exc)
        try:
            await asyncio.Event().wait()
        finally:
            with contextlib.suppress(Exception):
                await server.stop()

    def status(self) -> dict[str, Any]:
        return {
            "meters": [m.status() for m in self.meters],
            "load_shedding": self.shedding.status() if self.shedding is not None else None,
            "pv": self.pv.status() if self.pv is not None else None,
        }


def _charging_currents(
    sim: SimStation, rotations: dict[int, tuple[int, int, int]]
) -> Callable[[], tuple[float, float, float]]:
    """What the simulated chargers draw, per grid phase (their phase rotation applied)."""

    def measure() -> tuple[float, float, float]:
        out = [0.0, 0.0, 0.0]
        for cid, connector in sim.connectors.items():
            reading = connector.read()
            if reading is None:
                continue
            mapping = rotations.get(cid, (0, 1, 2))
            for p, amps in enumerate(reading.current_a):
                out[mapping[p]] += amps
        return (out[0], out[1], out[2])

    return measure
