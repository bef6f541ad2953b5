"""The DLM master's group allocation without I/O: meter, limits, reservations.

`DlmMaster.allocate` works on what the last poll saw; these tests set that state on the
slave links directly and check the budget and the invariants Hypothesis guards: the
group never gets more than the grid connection minus the external load, the group's
sub-distribution limit, the energy manager's operator limit (613-615) or load shedding's
limit — on any phase, with any mix of 1- and 3-phase cars and phase rotations.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chargebox.energy.dlm.links import SlaveLink
from chargebox.energy.dlm.master import ID_STRIDE, DlmMaster
from chargebox.energy.model import (
    ROTATIONS,
    ExternalLimit,
    GridReading,
    MeterPlacement,
    PhaseCurrents,
    Site,
)
from chargebox.settings import DlmSection, SettingsError, StationFile, parse

NOW = 1_800_000_000.0


@dataclass
class FakeMeter:
    reading: GridReading | None

    def latest(self) -> GridReading | None:
        return self.reading


def master(
    slaves: list[tuple[int, str, int]],
    *,
    grid: float = 63.0,
    group: float = 63.0,
    placement: MeterPlacement = MeterPlacement.EXCLUDES_CHARGING,
) -> DlmMaster:
    """A standalone master over `slaves`: (connectors, rotation, phases wired)."""
    cfg = DlmSection(
        role="master_standalone",
        network_id=1,
        group_limit_a=(group, group, group),
        timeout_s=5,
        poll_s=1,
        disconnected_limit_a=6,
        slaves=[
            {"host": "127.0.0.1", "port": 10000 + 10 * i, "connectors": n, "rotation": r}
            for i, (n, r, _) in enumerate(slaves)
        ],  # type: ignore[arg-type]  # pydantic validates the dicts
    )
    site = Site(
        grid_limit_a=PhaseCurrents.uniform(grid),
        connectors=(),
        meter_placement=placement,
        meter_timeout_s=5,
        fallback_load_a=PhaseCurrents.uniform(40),
    )
    m = DlmMaster(None, cfg, internal=False, site=site, clock=lambda: NOW)  # type: ignore[arg-type]
    for link, (_, _, phases) in zip(m.links, slaves, strict=True):
        link.phases = phases
    return m


def charging(link: SlaveLink, cid: int, phases: int, amps: float = 16.0) -> None:
    c = link.connectors[cid]
    link.online, link.last_seen = True, NOW
    c.cp_state, c.hardware_a, c.ev_max_a, c.signalled_a = 3, 32.0, 32.0, amps
    c.currents_a = PhaseCurrents.from_tuple([amps if p < phases else 0.0 for p in range(3)])


def grid_load(m: DlmMaster, allocation: object) -> list[float]:
    """Per grid phase: each connector's allocation on the grid phases it reserves."""
    load = [0.0, 0.0, 0.0]
    for a in allocation.connectors.values():  # type: ignore[attr-defined]
        for p in a.grid_phases:
            load[p] += a.current_a
    return load


def test_the_grid_meter_leaves_the_rest_of_the_connection_to_the_group() -> None:
    m = master([(2, "RST", 3)])
    charging(m.links[0], 1, 3)
    charging(m.links[0], 2, 3)
    m.meter = FakeMeter(GridReading(PhaseCurrents(30, 10, 10), 0, NOW))
    allocation = m.allocate(NOW)
    assert m.budget_a.as_tuple() == (33.0, 53.0, 53.0)
    assert m.binding[0] == "grid_L1"
    assert grid_load(m, allocation)[0] <= 33.0
    assert allocation.current(ID_STRIDE + 1) == allocation.current(ID_STRIDE + 2) == 16.5
    assert m.register_values(1)["dlm_external_meter"] == 1


def test_a_meter_that_includes_the_chargers_counts_them_once() -> None:
    m = master([(1, "RST", 3)], placement=MeterPlacement.INCLUDES_CHARGING)
    charging(m.links[0], 1, 3, amps=20)
    m.meter = FakeMeter(GridReading(PhaseCurrents(30, 25, 25), 0, NOW))
    m.allocate(NOW)
    assert m.external_a.as_tuple() == (10.0, 5.0, 5.0)
    assert m.budget_a.as_tuple() == (53.0, 58.0, 58.0)


def test_a_silent_meter_means_the_fallback_load() -> None:
    m = master([(1, "RST", 3)])
    charging(m.links[0], 1, 3)
    m.meter = FakeMeter(GridReading(PhaseCurrents(5, 5, 5), 0, NOW - 6))  # older than 5 s
    m.allocate(NOW)
    assert m.meter_info["fallback"] is True
    assert m.budget_a.as_tuple() == (23.0, 23.0, 23.0)
    # 9999 A: stop everything.
    assert m.template is not None
    m.template = replace(m.template, fallback_load_a=PhaseCurrents.uniform(9999))
    assert m.allocate(NOW).current(ID_STRIDE + 1) == 0.0


def test_operator_limit_and_load_shedding_cap_the_group() -> None:
    m = master([(2, "RST", 3)])
    charging(m.links[0], 1, 3)
    charging(m.links[0], 2, 3)
    m.set_operator_limit((20.0, 30.0, 30.0))
    m.allocate(NOW)
    assert m.budget_a.as_tuple() == (20.0, 30.0, 30.0)
    values = m.register_values(1)
    assert [values[f"dlm_operator_subdist_l{n}"] for n in (1, 2, 3)] == [20.0, 30.0, 30.0]
    assert [values[f"dlm_subdist_l{n}"] for n in (1, 2, 3)] == [63.0, 63.0, 63.0]
    m.post_limit(ExternalLimit("load_shedding", PhaseCurrents.uniform(12)))
    allocation = m.allocate(NOW)
    assert m.budget_a.as_tuple() == (12.0, 12.0, 12.0)
    assert sorted(a.current_a for a in allocation.connectors.values()) == [6.0, 6.0]
    m.clear_limit("load_shedding")
    m.set_operator_limit(None)
    m.allocate(NOW)
    assert m.budget_a.as_tuple() == (63.0, 63.0, 63.0)


def test_a_missing_slave_keeps_its_share_reserved() -> None:
    m = master([(1, "RST", 3), (1, "RST", 3)])
    for link in m.links:
        charging(link, 1, 3, amps=20)
    first = m.allocate(NOW)
    m.links[0].last_alloc[1] = first.current(ID_STRIDE + 1)
    m.links[0].last_phases[1] = (0, 1, 2)
    m.links[0].online = False
    m.allocate(NOW + 1)
    assert m.reserved_a.l1 == first.current(ID_STRIDE + 1)
    m.allocate(NOW + 10)  # gone: its disconnected limit stays reserved
    assert m.reserved_a.l1 == 6.0


def test_a_master_with_site_refuses_the_station_only_sim_meter() -> None:
    text = """
[site]
grid_limit_a = 63
[energy]
meter = "sim"
[dlm]
role = "master"
"""
    with pytest.raises(SettingsError, match=r"energy\.meter: \"sim\" sees only this station"):
        parse(tomllib.loads(text))
    assert isinstance(parse(tomllib.loads(text.replace('meter = "sim"', ""))), StationFile)


car = st.tuples(
    st.sampled_from(sorted(ROTATIONS)), st.sampled_from([1, 3]), st.floats(0, 32), st.booleans()
)


@settings(max_examples=150, deadline=None)
@given(
    cars=st.lists(car, min_size=1, max_size=8),
    house=st.tuples(st.floats(-20, 80), st.floats(-20, 80), st.floats(-20, 80)),
    group=st.floats(0, 80),
    operator=st.none() | st.floats(0, 80),
    shed=st.none() | st.floats(0, 80),
)
def test_the_group_never_exceeds_any_limit_on_any_phase(
    cars: list[tuple[str, int, float, bool]],
    house: tuple[float, float, float],
    group: float,
    operator: float | None,
    shed: float | None,
) -> None:
    grid = 63.0
    m = master([(1, rot, 3) for rot, _, _, _ in cars], grid=grid, group=group)
    for link, (_, phases, amps, active) in zip(m.links, cars, strict=True):
        if active:
            charging(link, 1, phases, amps)
        else:
            link.online, link.last_seen = True, NOW
    m.meter = FakeMeter(GridReading(PhaseCurrents.from_tuple(house), 0, NOW))
    if operator is not None:
        m.set_operator_limit((operator, operator, operator))
    if shed is not None:
        m.post_limit(ExternalLimit("load_shedding", PhaseCurrents.uniform(shed)))
    load = grid_load(m, m.allocate(NOW))
    for p in range(3):
        assert load[p] <= max(0.0, grid - max(0.0, house[p])) + 1e-6
        assert load[p] <= group + 1e-6
        assert operator is None or load[p] <= operator + 1e-6
        assert shed is None or load[p] <= shed + 1e-6
    for a in m.allocate(NOW).connectors.values():
        assert a.current_a == 0 or a.current_a >= 6.0
