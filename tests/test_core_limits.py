"""Current-limit arbitration: minimum over claims, pausing, and the safe order of setpoints."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chargebox.core.limits import Claim, Limit, LimitSource, apply_order, arbitrate


def test_minimum_over_claims_names_the_binding_source() -> None:
    limit = arbitrate(
        [
            Claim.uniform(LimitSource.HARDWARE, 32),
            Claim.uniform(LimitSource.CABLE, 20),
            Claim.uniform(LimitSource.DLM, 13.04),
            Claim.uniform(LimitSource.EV, 16),
        ]
    )
    assert limit == Limit(13.0, LimitSource.DLM, False, 13.0)


def test_claim_order_does_not_matter() -> None:
    claims = [Claim.uniform(LimitSource.EMS, 10), Claim.uniform(LimitSource.HARDWARE, 32)]
    assert arbitrate(claims).source is LimitSource.EMS
    assert arbitrate(reversed(claims)).source is LimitSource.EMS


def test_only_used_phases_count() -> None:
    claims = [
        Claim.uniform(LimitSource.HARDWARE, 32),
        Claim(LimitSource.ENERGY_MANAGER, (25.0, 8.0, 4.0)),
    ]
    three_phase = arbitrate(claims)
    assert three_phase.paused and three_phase.unpaused_a == 4.0
    assert three_phase.source is LimitSource.ENERGY_MANAGER
    one_phase = arbitrate(claims, phases_used=range(1))
    assert one_phase == Limit(25.0, LimitSource.ENERGY_MANAGER, False, 25.0)
    two_phase = arbitrate(claims, phases_used=(0, 1))
    assert two_phase == Limit(8.0, LimitSource.ENERGY_MANAGER, False, 8.0)


def test_empty_phase_selection_means_all_phases() -> None:
    claims = [Claim(LimitSource.THERMAL, (16.0, 16.0, 7.0))]
    assert arbitrate(claims, phases_used=()).current_a == 7.0


@pytest.mark.parametrize(
    ("amps", "expected"),
    [
        (5.9, Limit(0.0, LimitSource.LOAD_SHEDDING, True, 5.9)),
        (6.0, Limit(6.0, LimitSource.LOAD_SHEDDING, False, 6.0)),
        (0.0, Limit(0.0, LimitSource.LOAD_SHEDDING, True, 0.0)),
        (-3.0, Limit(0.0, LimitSource.LOAD_SHEDDING, True, 0.0)),  # negative clamps to 0
    ],
)
def test_below_minimum_current_pauses_and_reports_raw_value(amps: float, expected: Limit) -> None:
    claims = [
        Claim.uniform(LimitSource.HARDWARE, 32),
        Claim.uniform(LimitSource.LOAD_SHEDDING, amps),
    ]
    assert arbitrate(claims) == expected


def test_custom_minimum_current() -> None:
    claims = [Claim.uniform(LimitSource.OPERATOR, 7.5)]
    assert arbitrate(claims, min_current_a=8.0) == Limit(0.0, LimitSource.OPERATOR, True, 7.5)
    assert arbitrate(claims, min_current_a=5.0) == Limit(7.5, LimitSource.OPERATOR, False, 7.5)


def test_no_claims_is_paused_with_safe_source() -> None:
    assert arbitrate([]) == Limit(0.0, LimitSource.SAFE, True, 0.0)


def test_apply_order_puts_decreases_first() -> None:
    old = {1: 16.0, 2: 10.0, 3: 6.0, 4: 20.0}
    new = {1: 20.0, 2: 6.0, 3: 6.0, 4: 8.0}
    order = apply_order(old, new)
    assert order[:2] == [2, 4]
    assert sorted(order[2:]) == [1, 3]


def test_apply_order_treats_unknown_connectors_as_zero() -> None:
    assert apply_order({1: 10.0}, {2: 5.0, 1: 0.0}) == [1, 2]


# ------------------------------------------------------------------- properties

amps = st.floats(min_value=-5.0, max_value=80.0, allow_nan=False)
claim = st.builds(
    Claim,
    st.sampled_from(list(LimitSource)),
    st.tuples(amps, amps, amps),
)
phase_sets = st.sets(st.integers(0, 2), min_size=1).map(sorted)


@given(st.lists(claim, min_size=1, max_size=8), phase_sets, st.sampled_from([6.0, 8.0, 10.0]))
def test_result_never_exceeds_a_claim_and_is_zero_or_above_minimum(
    claims: list[Claim], phases: list[int], minimum: float
) -> None:
    limit = arbitrate(claims, phases_used=phases, min_current_a=minimum)
    for c in claims:
        for p in phases:
            # the result is rounded to 0.1 A, never upwards by more than the rounding
            assert limit.current_a <= max(0.0, c.amps[p]) + 0.05
    assert limit.current_a == 0.0 or limit.current_a >= minimum
    assert limit.paused == (limit.current_a == 0.0)
    assert limit.source in {c.source for c in claims}
    binding = min(min(max(0.0, c.amps[p]) for p in phases) for c in claims)
    assert limit.unpaused_a == pytest.approx(binding, abs=0.05)


setpoint = st.floats(min_value=0.0, max_value=63.0, allow_nan=False).map(lambda a: round(a, 1))


@st.composite
def old_new(draw: st.DrawFn) -> tuple[dict[int, float], dict[int, float]]:
    ids = draw(st.sets(st.integers(1, 8), min_size=1, max_size=8))
    old = {cid: draw(setpoint) for cid in ids}
    new = {cid: draw(setpoint) for cid in ids}
    # connectors that appear only in the new map start from 0 A
    for cid in draw(st.sets(st.integers(9, 12), max_size=3)):
        new[cid] = draw(setpoint)
    return old, new


@given(old_new())
def test_applying_in_order_never_exceeds_old_or_new_sum(
    maps: tuple[dict[int, float], dict[int, float]],
) -> None:
    old, new = maps
    order = apply_order(old, new)
    assert sorted(order) == sorted(new)
    current = {cid: old.get(cid, 0.0) for cid in new}
    ceiling = max(sum(current.values()), sum(new.values())) + 1e-9
    for cid in order:
        current[cid] = new[cid]
        assert sum(current.values()) <= ceiling
    assert current == new
