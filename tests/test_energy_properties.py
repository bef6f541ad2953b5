"""Safety invariants of energy management, over thousands of random sites and cars.

1. The sum of setpoints never exceeds any fuse on any grid phase (grid connection minus
   external load and margin, sub-distribution, operator limit, supply groups), also
   while old setpoints are replaced by new ones in `apply_order`.
2. No connector is ever signalled a current between 0 and the minimum current.
3. With a failed meter the result equals the fallback rule.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chargebox.core.limits import apply_order
from chargebox.energy.allocator import Allocation, ConnectorDemand, allocate
from chargebox.energy.manager import EnergyManager
from chargebox.energy.model import (
    ROTATIONS,
    AllocationMode,
    ConnectorSite,
    ExternalLimit,
    GridReading,
    PhaseCurrents,
    Site,
    SupplyGroup,
)
from tests.test_core_rig import Rig

P = PhaseCurrents
amps = st.floats(min_value=0, max_value=80, allow_nan=False).map(lambda a: round(a, 1))
phase_amps = st.tuples(amps, amps, amps).map(P.from_tuple)
small = st.floats(min_value=0, max_value=10, allow_nan=False).map(lambda a: round(a, 1))
FAST = settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def sites(draw: Any) -> Site:
    n = draw(st.integers(1, 8))
    groups = draw(st.lists(st.tuples(st.sampled_from("ab"), phase_amps), max_size=2))
    groups = tuple({name: SupplyGroup(name, lim) for name, lim in groups}.values())
    names = [g.name for g in groups]
    conns = []
    for i in range(1, n + 1):
        hw = draw(st.sampled_from([16.0, 32.0, 63.0]))
        inst = draw(st.none() | st.floats(6, hw).map(lambda a: round(a, 1)))
        op = None if inst is None else draw(st.none() | st.floats(1, inst))
        conns.append(
            ConnectorSite(
                i,
                hardware_limit_a=hw,
                installation_limit_a=inst,
                operator_limit_a=op,
                phases=draw(st.sampled_from([1, 3])),
                rotation=draw(st.sampled_from(sorted(ROTATIONS))),
                group=draw(st.none() | st.sampled_from(names)) if names else None,
                priority=draw(st.integers(0, 3)),
            )
        )
    return Site(
        grid_limit_a=draw(phase_amps),
        connectors=tuple(conns),
        subdistribution_limit_a=draw(st.none() | phase_amps),
        operator_subdistribution_limit_a=draw(st.none() | phase_amps),
        groups=groups,
        min_current_a=draw(st.sampled_from([6.0, 6.0, 7.0, 8.0, 6.25])),
        safety_margin_a=draw(st.tuples(small, small, small).map(P.from_tuple)),
        mode=draw(st.sampled_from(list(AllocationMode))),
        unbalance_limit_a=draw(st.none() | st.floats(1, 40)),
        rotation_period_s=draw(st.sampled_from([10.0, 900.0])),
    )


@st.composite
def demands(draw: Any, site: Site) -> list[ConnectorDemand]:
    out = []
    for c in site.connectors:
        kind = draw(st.sampled_from(["none", "one", "three", "partial"]))
        measured = {
            "none": P(),
            "one": P(draw(amps), 0, 0),
            "three": P.uniform(draw(amps)),
            "partial": draw(phase_amps),
        }[kind]
        out.append(
            ConnectorDemand(
                c.id,
                draw(st.booleans()),
                measured,
                offered_a=draw(amps),
                settled=draw(st.booleans()),
                max_a=draw(st.none() | amps),
                session_start=draw(st.floats(0, 100)),
            )
        )
    return out


limits_st = st.lists(
    st.builds(
        ExternalLimit,
        st.sampled_from(["load_shedding", "pv"]),
        st.none() | phase_amps,
        st.none() | amps,
    ),
    max_size=2,
    unique_by=lambda lim: lim.source,
)


def fuses(site: Site, external: P) -> list[tuple[str, float, set[int], int]]:
    """Every (name, cap, connector ids, grid phase) that must hold."""
    out = []
    every = {c.id for c in site.connectors}
    for p in range(3):
        out.append(("grid", site.grid_limit_a[p] - site.safety_margin_a[p] - external[p], every, p))
        for lim in (site.subdistribution_limit_a, site.operator_subdistribution_limit_a):
            if lim is not None:
                out.append(("sub", lim[p], every, p))
        for g in site.groups:
            ids = {c.id for c in site.connectors if c.group == g.name}
            out.append((f"group {g.name}", g.limit_a[p], ids, p))
    return out


def phase_sum(alloc: Allocation, setpoints: dict[int, float], ids: set[int], p: int) -> float:
    return sum(
        setpoints[cid] for cid, a in alloc.connectors.items() if cid in ids and p in a.grid_phases
    )


def check(site: Site, external: P, alloc: Allocation, limits: list[ExternalLimit]) -> None:
    minimum = site.min_current_a
    setpoints = {cid: a.current_a for cid, a in alloc.connectors.items()}
    for name, cap, ids, p in fuses(site, external):
        assert phase_sum(alloc, setpoints, ids, p) <= max(0.0, cap) + 1e-6, (name, p)
    for lim in limits:
        for p in range(3):
            if lim.per_phase_a is not None:
                every = set(setpoints)
                assert phase_sum(alloc, setpoints, every, p) <= lim.per_phase_a[p] + 1e-6
    for cid, a in alloc.connectors.items():
        assert a.current_a == 0 or a.current_a >= minimum - 1e-9, (cid, a)
        assert round(a.current_a, 1) <= a.current_a + 1e-9  # the station's rounding adds nothing
        for lim in limits:
            if lim.station_limit_a is not None:
                assert a.current_a <= lim.station_limit_a + 1e-9
        c = next(c for c in site.connectors if c.id == cid)
        assert a.current_a <= c.max_a + 1e-9
        assert a.binding
    if site.unbalance_limit_a is not None:
        sums = alloc.allocated_a
        assert sums.max() - sums.min() <= site.unbalance_limit_a + 1e-6


@FAST
@given(data=st.data())
def test_setpoints_never_exceed_a_fuse_and_never_below_minimum(data: Any) -> None:
    site = data.draw(sites())
    ds = data.draw(demands(site))
    external = data.draw(phase_amps)
    limits = data.draw(limits_st)
    alloc = allocate(site, ds, external, 0.0, limits=limits)
    check(site, external, alloc, limits)
    for d in ds:
        if not d.active:
            assert alloc.current(d.connector_id) == 0


@FAST
@given(data=st.data())
def test_transitions_in_apply_order_stay_within_both_states(data: Any) -> None:
    site = data.draw(sites())
    ds = data.draw(demands(site))
    ext1, ext2 = data.draw(phase_amps), data.draw(phase_amps)
    lim1, lim2 = data.draw(limits_st), data.draw(limits_st)
    old = allocate(site, ds, ext1, 0.0, limits=lim1)
    t = data.draw(st.sampled_from([1.0, 20.0, 1000.0]))
    ds2 = [
        ConnectorDemand(
            d.connector_id, data.draw(st.booleans()), d.measured_a, old.current(d.connector_id)
        )
        for d in ds
    ]
    new = allocate(site, ds2, ext2, t, limits=lim2, state=old.state)
    check(site, ext2, new, lim2)
    # The car's phases are physical: keep the ones its measured currents show.
    phases = {
        cid: (a.grid_phases or old.connectors[cid].grid_phases) for cid, a in new.connectors.items()
    }
    before = {cid: old.current(cid) for cid in phases}
    after = {cid: new.current(cid) for cid in phases}
    current = dict(before)

    def sums() -> list[float]:
        return [sum(current[c] for c in phases if p in phases[c]) for p in range(3)]

    start = sums()
    current = dict(after)
    end = sums()
    current = dict(before)
    for cid in apply_order(before, after):
        current[cid] = after[cid]
        for p, s in enumerate(sums()):
            assert s <= max(start[p], end[p]) + 1e-6  # never more than either state
            assert s <= site.grid_limit_a[p] + 1e-6  # so never more than the fuse


class SilentMeter:
    def __init__(self, reading: GridReading | None) -> None:
        self.reading = reading

    def latest(self) -> GridReading | None:
        return self.reading


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fallback=phase_amps | st.just(P.uniform(9999)),
    grid=phase_amps,
    stale=st.none() | st.floats(10.01, 1000),
    reading=phase_amps,
    cars=st.lists(st.sampled_from([0, 1, 3]), min_size=3, max_size=3),
)
def test_failed_meter_result_equals_the_fallback_rule(
    fallback: P, grid: P, stale: float | None, reading: P, cars: list[int]
) -> None:
    rig = Rig(3)
    site = Site(
        grid_limit_a=grid,
        connectors=tuple(ConnectorSite(i, rotation="STR" if i == 2 else "RST") for i in (1, 2, 3)),
        fallback_load_a=fallback,
        meter_timeout_s=10,
    )
    now = rig.clock.time()
    meter = SilentMeter(None if stale is None else GridReading(reading, 0, now - stale))
    manager = EnergyManager(rig.station, site, clock=rig.clock, meter=meter)
    for cid, phases in enumerate(cars, start=1):
        if phases:
            rig.sim.connectors[cid].plug(rig_car(phases))
    rig.run(1)
    alloc = manager.cycle()
    assert alloc is not None and manager.snapshot["meter"]["fallback"]
    if fallback.max() >= 9999:
        assert all(c.offered_a == 0 for c in rig.station.connectors.values())
        return
    demands_now = [
        ConnectorDemand(
            cid,
            rig.station.may_draw(cid),
            P.from_tuple(c.measurement.current_a) if c.measurement else P(),
            c.offered_a,
        )
        for cid, c in rig.station.connectors.items()
    ]
    expected = allocate(site, demands_now, fallback, rig.clock.time())
    assert {cid: a.current_a for cid, a in alloc.connectors.items()} == {
        cid: a.current_a for cid, a in expected.connectors.items()
    }
    check(site, fallback, alloc, [])


def rig_car(phases: int) -> Any:
    from chargebox.hardware.sim import SimCar

    return SimCar(phases=phases, response_delay_s=0)
