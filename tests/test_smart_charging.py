"""The composite schedule (pure), the profile store, and Hypothesis properties of both."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chargebox.core.clock import iso
from chargebox.ocpp16.smart_charging import (
    CP_MAX,
    TX,
    TX_DEFAULT,
    ChargingProfile,
    Limits,
    Period,
    ProfileError,
    TxState,
    check,
    composite_schedule,
    limit_at,
    matches_clear,
    replaced_by,
)
from chargebox.store import Database, ProfileStore

T = 1_767_225_600  # 2026-01-01T00:00:00Z, a Thursday


def raw(
    pid: int,
    purpose: str,
    periods: list[tuple[int, float]] | list[tuple[int, float, int]],
    *,
    start: int | None = T,
    level: int = 0,
    kind: str = "Absolute",
    unit: str = "A",
    duration: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    sched: dict[str, Any] = {
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [
            {"startPeriod": p[0], "limit": p[1], **({"numberPhases": p[2]} if len(p) > 2 else {})}
            for p in periods
        ],
    }
    if start is not None:
        sched["startSchedule"] = iso(start)
    if duration is not None:
        sched["duration"] = duration
    out = {
        "chargingProfileId": pid,
        "stackLevel": level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": sched,
    }
    out.update(extra)
    return out


def prof(connector_id: int, *args: Any, **kwargs: Any) -> ChargingProfile:
    return ChargingProfile.from_ocpp(connector_id, raw(*args, **kwargs))


def periods(schedule: Any) -> list[tuple[int, float]]:
    return [(p.start, p.limit) for p in schedule.periods]


TX_RUNNING = TxState(T - 100, 1001)


# ---------------------------------------------------------------- kinds


def test_tc_066_exact_composite() -> None:
    """OCTT TC_066: merged, capped by ChargePointMax, no fallback to TxDefault at 260 s."""
    installed = [
        prof(0, 1, CP_MAX, [(0, 10)], duration=86400),
        prof(1, 2, TX_DEFAULT, [(0, 6), (60, 10), (120, 8), (180, 15), (260, 8)]),
        prof(1, 3, TX, [(0, 8), (50, 11), (140, 16), (200, 6), (240, 12)], start=T + 2),
    ]
    got = composite_schedule(installed, 1, T + 5, 400, transaction=TX_RUNNING)
    assert periods(got) == [(0, 8), (47, 10), (197, 6), (237, 10)]
    assert got.start == T + 5 and got.duration == 400
    assert got.to_ocpp()["chargingSchedulePeriod"][1] == {"startPeriod": 47, "limit": 10.0}


def test_absolute_before_start_and_after_duration_is_unlimited() -> None:
    p = prof(1, 1, TX_DEFAULT, [(0, 10)], start=T + 100, duration=50)
    got = composite_schedule([p], 1, T, 300, default_limit_a=32)
    assert periods(got) == [(0, 32), (100, 10), (150, 32)]
    assert periods(composite_schedule([p], 1, T, 300)) == [(100, 10)]


def test_relative_follows_the_transaction_start_or_now() -> None:
    p = prof(1, 1, TX_DEFAULT, [(0, 6), (600, 16)], start=None, kind="Relative")
    with_tx = composite_schedule([p], 1, T, 1000, transaction=TxState(T - 500, 7))
    assert periods(with_tx) == [(0, 6), (100, 16)]
    assert periods(composite_schedule([p], 1, T, 1000)) == [(0, 6), (600, 16)]


def test_recurring_daily_across_midnight() -> None:
    # 22:00 -> 10 A, 23:00 -> 16 A, 00:00 -> 8 A, for 8 h, every day from 22:00 on Jan 1.
    start = T + 22 * 3600
    p = prof(
        1,
        1,
        TX_DEFAULT,
        [(0, 10), (3600, 16), (7200, 8)],
        start=start,
        kind="Recurring",
        recurrencyKind="Daily",
        duration=8 * 3600,
    )
    assert limit_at([p], 1, T + 12 * 3600) is None  # before the first occurrence
    assert limit_at([p], 1, start + 1800) == 10
    assert limit_at([p], 1, start + 5400) == 16
    assert limit_at([p], 1, start + 3 * 3600) == 8  # 01:00 the next day
    assert limit_at([p], 1, start + 9 * 3600) is None  # 07:00: the 8 hours are over
    assert limit_at([p], 1, start + 86400 + 60) == 10  # the next evening
    got = composite_schedule([p], 1, start + 86400 - 600, 1200, default_limit_a=32)
    assert periods(got) == [(0, 32), (600, 10)]


def test_recurring_weekly() -> None:
    p = prof(1, 1, TX_DEFAULT, [(0, 7)], kind="Recurring", recurrencyKind="Weekly", duration=3600)
    assert limit_at([p], 1, T + 7 * 86400 + 10) == 7
    assert limit_at([p], 1, T + 86400 + 10) is None


def test_valid_from_and_valid_to_clip() -> None:
    p = prof(1, 1, TX_DEFAULT, [(0, 10)], validFrom=iso(T + 60), validTo=iso(T + 120))
    assert periods(composite_schedule([p], 1, T, 200, default_limit_a=16)) == [
        (0, 16),
        (60, 10),
        (120, 16),
    ]


# ---------------------------------------------------------------- stacking


def test_higher_stack_level_wins_where_it_has_a_period() -> None:
    low = prof(1, 1, TX_DEFAULT, [(0, 16)])
    high = prof(1, 2, TX_DEFAULT, [(0, 8)], level=1, duration=100)
    assert periods(composite_schedule([low, high], 1, T, 300)) == [(0, 8), (100, 16)]


def test_connector_profile_beats_connector_0_at_the_same_level() -> None:
    everywhere = prof(0, 1, TX_DEFAULT, [(0, 16)])
    here = prof(1, 2, TX_DEFAULT, [(0, 10)])
    assert limit_at([everywhere, here], 1, T) == 10
    assert limit_at([everywhere, here], 2, T) == 16


def test_tx_profile_overrides_tx_default_for_the_rest_of_the_transaction() -> None:
    default = prof(1, 1, TX_DEFAULT, [(0, 6)], level=5)
    tx = prof(1, 2, TX, [(0, 12)], duration=100)
    state = TxState(T, 1001)
    assert periods(composite_schedule([default, tx], 1, T, 200, transaction=state)) == [(0, 12)]
    # The TxProfile is cleared: the transaction that had one still ignores TxDefault.
    had = TxState(T, 1001, had_tx_profile=True)
    assert limit_at([default], 1, T, transaction=had) is None
    assert limit_at([default], 1, T, transaction=state) == 6


def test_tx_profile_of_another_transaction_does_not_apply() -> None:
    tx = prof(1, 2, TX, [(0, 12)], transactionId=55)
    assert limit_at([tx], 1, T, transaction=TxState(T, 56)) is None
    assert limit_at([tx], 1, T, transaction=TxState(T, 55)) == 12
    assert limit_at([tx], 1, T) is None


def test_station_composite_is_cp_max_and_tx_default_on_0() -> None:
    cp = prof(0, 1, CP_MAX, [(0, 20)])
    d0 = prof(0, 2, TX_DEFAULT, [(0, 16), (60, 25)])
    d1 = prof(1, 3, TX_DEFAULT, [(0, 6)])
    assert periods(composite_schedule([cp, d0, d1], 0, T, 120)) == [(0, 16), (60, 20)]


def test_relative_charge_point_max_is_tolerated() -> None:
    """Home Assistant's OCPP integration sends a Relative ChargePointMaxProfile."""
    cp = prof(0, 1, CP_MAX, [(0, 13)], start=None, kind="Relative")
    assert limit_at([cp], 1, T + 12345) == 13
    assert limit_at([cp], 0, T, tx=False) == 13


def test_limit_0_at_the_top_stack_level_pauses() -> None:
    """evcc pauses with a TxDefaultProfile of limit 0 at the highest stack level."""
    normal = prof(0, 1, TX_DEFAULT, [(0, 16)])
    pause = prof(0, 2, TX_DEFAULT, [(0, 0)], level=8)
    assert limit_at([normal, pause], 1, T) == 0
    assert limit_at([normal, pause], 1, T, transaction=TX_RUNNING) == 0


# ---------------------------------------------------------------- units and phases


def test_watts_to_amps_with_230_v_and_phases() -> None:
    three = prof(1, 1, TX_DEFAULT, [(0, 11040)], unit="W")
    assert limit_at([three], 1, T) == 16.0  # 11040 / (230 * 3)
    assert limit_at([three], 1, T, phases=1) == 48.0
    one = prof(1, 2, TX_DEFAULT, [(0, 3680, 1)], unit="W", level=1)
    assert limit_at([one], 1, T) == 16.0  # numberPhases 1 chooses one phase
    got = composite_schedule([three], 1, T, 10, unit="W")
    assert periods(got) == [(0, 11040.0)] and got.unit == "W"
    amps = composite_schedule([prof(1, 3, TX_DEFAULT, [(0, 10, 1)])], 1, T, 10, unit="W")
    assert amps.periods == (Period(0, 2300.0, 1),)


def test_limits_are_rounded_down_to_a_tenth() -> None:
    p = prof(1, 1, TX_DEFAULT, [(0, 10000)], unit="W")
    assert limit_at([p], 1, T) == 14.4  # 14.49…


def test_cp_max_in_watts_caps_amps() -> None:
    cp = prof(0, 1, CP_MAX, [(0, 6900)], unit="W")  # 10 A on 3 phases
    tx = prof(1, 2, TX_DEFAULT, [(0, 16)])
    assert limit_at([cp, tx], 1, T) == 10


def test_min_charging_rate_is_reported() -> None:
    p = raw(1, TX_DEFAULT, [(0, 16)])
    p["chargingSchedule"]["minChargingRate"] = 6.0
    got = composite_schedule([ChargingProfile.from_ocpp(1, p)], 1, T, 60)
    assert got.to_ocpp()["minChargingRate"] == 6.0


# ---------------------------------------------------------------- installing


def test_checks_against_the_configuration_keys() -> None:
    limits = Limits(max_stack_level=2, max_periods=2, allowed_units=frozenset({"Current"}))
    check(prof(1, 1, TX_DEFAULT, [(0, 1), (10, 2)], level=2), limits)
    with pytest.raises(ProfileError):
        check(prof(1, 1, TX_DEFAULT, [(0, 1)], level=3), limits)
    with pytest.raises(ProfileError):
        check(prof(1, 1, TX_DEFAULT, [(0, 1), (1, 1), (2, 1)]), limits)
    with pytest.raises(ProfileError):
        check(prof(1, 1, TX_DEFAULT, [(0, 1)], unit="W"), limits)
    with pytest.raises(ProfileError):
        prof(1, 1, TX_DEFAULT, [(10, 1), (0, 1)])
    with pytest.raises(ProfileError):
        prof(1, 1, TX_DEFAULT, [(0, 1)], kind="Recurring")


def test_replacement_and_clear_filters() -> None:
    a = prof(1, 1, TX_DEFAULT, [(0, 1)])
    b = prof(1, 2, TX_DEFAULT, [(0, 1)], level=1)
    c = prof(0, 3, CP_MAX, [(0, 1)])
    assert replaced_by([a, b, c], prof(1, 9, TX_DEFAULT, [(0, 2)])) == [a]
    assert replaced_by([a, b, c], prof(2, 2, TX_DEFAULT, [(0, 2)], level=4)) == [b]
    assert [p.id for p in (a, b, c) if matches_clear(p, profile_id=2)] == [2]
    assert [p.id for p in (a, b, c) if matches_clear(p, purpose=TX_DEFAULT)] == [1, 2]
    assert [p.id for p in (a, b, c) if matches_clear(p, connector_id=1, stack_level=1)] == [2]
    assert [p.id for p in (a, b, c) if matches_clear(p)] == [1, 2, 3]


def test_store_round_trip_and_replacement() -> None:
    db = Database.memory()
    store = ProfileStore(db)
    store.install(1, raw(1, TX_DEFAULT, [(0, 10)]))
    store.install(0, raw(2, CP_MAX, [(0, 20)]))
    store.install(1, raw(3, TX_DEFAULT, [(0, 12)]))  # same connector, purpose, level
    assert [(r.id, r.connector_id, r.purpose) for r in store.all()] == [
        (2, 0, CP_MAX),
        (3, 1, TX_DEFAULT),
    ]
    store.install(1, raw(4, TX, [(0, 8)], transactionId=77), replaces=[2])
    assert [(r.id, r.transaction_id) for r in store.all()] == [(3, None), (4, 77)]
    assert store.delete([3, 99]) == 1
    loaded = ChargingProfile.from_ocpp(1, store.all()[0].profile)
    assert loaded.transaction_id == 77 and loaded.periods == (Period(0, 8.0),)


# ---------------------------------------------------------------- properties

limits_st = st.integers(0, 640).map(lambda n: n / 10)


@st.composite
def profile_st(draw: st.DrawFn, pid: int) -> ChargingProfile:
    purpose = draw(st.sampled_from([CP_MAX, TX_DEFAULT, TX]))
    connector = 0 if purpose == CP_MAX else draw(st.sampled_from([0, 1] if purpose != TX else [1]))
    starts = sorted(draw(st.sets(st.integers(1, 3000), max_size=6)) | {0})
    unit = draw(st.sampled_from(["A", "W"]))
    scale = 230 * 3 if unit == "W" else 1
    kind = draw(st.sampled_from(["Absolute", "Relative", "Recurring"]))
    return prof(
        connector,
        pid,
        purpose,
        [(s, draw(limits_st) * scale) for s in starts],
        start=T + draw(st.integers(-4000, 4000)),
        level=draw(st.integers(0, 3)),
        kind=kind,
        unit=unit,
        duration=draw(st.none() | st.integers(1, 5000)),
        recurrencyKind="Daily" if kind == "Recurring" else None,
    )


def _install_all(drawn: tuple[ChargingProfile, ...]) -> tuple[ChargingProfile, ...]:
    """As SetChargingProfile would leave them: a later profile replaces its slot."""
    out: list[ChargingProfile] = []
    for p in drawn:
        gone = replaced_by(out, p)
        out = [q for q in out if q not in gone] + [p]
    return tuple(out)


installed_st = (
    st.integers(1, 8)
    .flatmap(lambda n: st.tuples(*[profile_st(i) for i in range(n)]))
    .map(_install_all)
)


@settings(max_examples=150, deadline=None)
@given(
    installed_st,
    st.integers(-3000, 6000),
    st.integers(1, 6000),
    st.booleans(),
    st.sampled_from(["A", "W"]),
)
def test_composite_never_exceeds_charge_point_max_and_is_well_formed(
    installed: tuple[ChargingProfile, ...], offset: int, duration: int, tx: bool, unit: str
) -> None:
    transaction = TxState(T - 50, None) if tx else None
    start = T + offset
    got = composite_schedule(installed, 1, start, duration, transaction=transaction, unit=unit)
    starts = [p.start for p in got.periods]
    assert starts == sorted(set(starts))
    assert all(0 <= s < duration for s in starts)
    for a, b in zip(got.periods, got.periods[1:], strict=False):
        assert (a.limit, a.number_phases) != (b.limit, b.number_phases)
    # The ChargePointMaxProfile layer alone over the same window (Relative: the same anchor).
    caps = composite_schedule(
        installed, 1, start, duration, transaction=transaction, tx=False, default_limit_a=1e5
    )
    factor = 230 * 3 if unit == "W" else 1
    for i, period in enumerate(got.periods):
        end = got.periods[i + 1].start if i + 1 < len(got.periods) else duration
        for t in {period.start, (period.start + end) // 2, end - 1}:
            cap = [c.limit for c in caps.periods if c.start <= t][-1]
            assert period.limit <= cap * factor + 1e-6, (t, cap, got)
