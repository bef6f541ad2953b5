"""PV surplus charging: the pure decision logic, and a replayed PV + house-load day."""

from __future__ import annotations

from dataclasses import replace

from chargebox.core.limits import Claim, LimitSource
from chargebox.energy.meters.sim_server import house_currents
from chargebox.energy.pv import PvDecision, PvMode, PvSettings, PvState, available_w, pv_step
from chargebox.hardware.sim import SimCar, SimConnector

V = 230.0


def step(s: PvSettings, st: PvState, t: float, grid_w: float, ev_w: float = 0.0) -> PvDecision:
    return pv_step(s, st, now=t, grid_power_w=grid_w, charging_power_w=ev_w)


def test_available_power_counts_own_charging_only_when_metered() -> None:
    s = PvSettings()
    assert available_w(s, -2000.0, 1500.0) == 3500.0
    assert available_w(replace(s, meter_includes_charging=False), -2000.0, 1500.0) == 2000.0
    assert available_w(s, None, 1500.0) == 0.0  # no reading: no surplus


def test_fast_is_unlimited_and_min_pv_never_below_minimum() -> None:
    fast = step(PvSettings(mode=PvMode.FAST, max_current_a=16), PvState(), 0, 3000.0)
    assert fast.limit_a == 16
    s = PvSettings(mode=PvMode.MIN_PV, smoothing_s=0)
    assert step(s, PvState(), 0, 5000.0).limit_a == 6.0  # importing: still the minimum
    d = step(s, PvState(), 0, -3 * V * 10)  # 10 A per phase exported
    assert d.limit_a == 10.0
    assert step(PvSettings(mode=PvMode.OFF), PvState(), 0, 0.0).limit_a is None


def test_pv_only_starts_after_the_enable_delay_and_stops_after_the_disable_delay() -> None:
    s = PvSettings(enable_delay_s=60, disable_delay_s=180, smoothing_s=0)
    st = PvState()
    export = -3 * V * 8.0  # 8 A per phase of surplus
    d = step(s, st, 0, export)
    assert (d.limit_a, d.timer) == (0.0, "enable")
    d = step(s, d.state, 30, export)
    assert d.limit_a == 0.0 and d.remaining_s == 30
    d = step(s, d.state, 60, export)
    assert d.limit_a == 8.0 and d.state.enabled
    # The car now draws 8 A x 3; the surplus disappears (grid imports the car's power).
    ev = 3 * V * 8.0
    d = step(s, d.state, 70, ev - 3 * V * 1.0, ev)  # 1 A per phase surplus left
    assert d.limit_a == 6.0 and d.timer == "disable"  # held at the minimum meanwhile
    d = step(s, d.state, 249, ev - 3 * V * 1.0, ev)
    assert d.limit_a == 6.0
    d = step(s, d.state, 250, ev - 3 * V * 1.0, ev)
    assert d.limit_a == 0.0 and not d.state.enabled and d.state.stops == 1


def test_a_short_surplus_gap_does_not_start_charging() -> None:
    s = PvSettings(enable_delay_s=60, smoothing_s=0)
    d = step(s, PvState(), 0, -3 * V * 7)
    d = step(s, d.state, 30, 100.0)  # surplus gone before the delay ran out
    d = step(s, d.state, 45, -3 * V * 7)
    d = step(s, d.state, 90, -3 * V * 7)
    assert d.limit_a == 0.0 and d.remaining_s == 15


def test_hysteresis_keeps_charging_slightly_below_the_minimum() -> None:
    s = PvSettings(smoothing_s=0, hysteresis_a=1.0)
    st = PvState(enabled=True)
    ev = 3 * V * 6
    d = step(s, st, 0, ev - 3 * V * 5.5, ev)  # 5.5 A: within the hysteresis band
    assert d.limit_a == 6.0 and d.timer is None


def test_smoothing_follows_drops_at_once_and_rises_slowly() -> None:
    s = PvSettings(mode=PvMode.MIN_PV, smoothing_s=60)
    d = step(s, PvState(), 0, -3 * V * 10)
    assert d.limit_a == 10.0
    d = step(s, d.state, 10, -3 * V * 16)  # more sun: follows slowly
    assert 10.0 < d.limit_a < 12.0  # type: ignore[operator]
    d = step(s, d.state, 20, -3 * V * 7)  # a cloud: at once
    assert d.limit_a == 7.0


def test_phase_switching_down_and_up_with_their_own_timers() -> None:
    s = PvSettings(
        mode=PvMode.MIN_PV,
        smoothing_s=0,
        phase_switching=True,
        phase_down_delay_s=120,
        phase_up_delay_s=300,
        phase_min_interval_s=600,
    )
    st = PvState(enabled=True, phases=3)
    small = -V * 9  # 9 A on one phase worth of surplus: 3 A per phase on three
    d = step(s, st, 0, small)
    assert (d.phases, d.timer) == (3, "phases") and d.limit_a == 6.0
    d = step(s, d.state, 119, small)
    assert d.phases == 3
    d = step(s, d.state, 120, small)
    assert d.phases == 1 and d.limit_a == 9.0 and d.state.switches == 1
    big = -3 * V * 10 + V * 9  # exporting with the car on one phase at 9 A
    d = step(s, d.state, 200, big, V * 9)
    assert d.phases == 1 and d.timer == "phases"  # the minimum interval holds
    d = step(s, d.state, 720, big, V * 9)
    assert d.phases == 1 and d.timer == "phases"  # now the up timer runs
    d = step(s, d.state, 1020, big, V * 9)
    assert d.phases == 3 and d.state.switches == 2


def test_simulated_connector_switches_phases() -> None:
    sim = SimConnector(1)
    sim.plug(SimCar(response_delay_s=0))
    sim.set_contactor(True)
    sim.set_pilot_current(10)
    sim.advance(0.0)
    sim.advance(1.0)
    assert sim.read().current_a == (10.0, 10.0, 10.0)  # type: ignore[union-attr]
    assert sim.set_phases(1) and sim.phase_switches == 1
    assert sim.read().current_a == (10.0, 0.0, 0.0)  # type: ignore[union-attr]
    assert not sim.set_phases(2)
    assert Claim.uniform(LimitSource.PV, 6).source == "pv"


# ---------------------------------------------------------------- replay of a whole day


def replay_day(settings: PvSettings, pv_kwp: float, car_max_a: float = 16.0) -> dict[str, float]:
    """Minute by minute: the car follows the decision; the grid sees house + car - PV."""
    st = PvState(phases=3)
    ev_w = 0.0
    car_a, car_phases = 0.0, 3
    charged_wh = 0.0
    pv_used_wh = 0.0
    for minute in range(24 * 60):
        t = minute * 60.0
        house = house_currents(t, pv_kwp, V)
        house_w = sum(a * V for a in house)
        grid_w = house_w + ev_w
        d = pv_step(settings, st, now=t, grid_power_w=grid_w, charging_power_w=ev_w)
        st = d.state
        car_phases = d.phases
        car_a = min(car_max_a, d.limit_a if d.limit_a is not None else car_max_a)
        ev_w = car_a * V * car_phases
        charged_wh += ev_w / 60.0  # the car draws this for the coming minute
        pv_used_wh += min(ev_w, max(0.0, -house_w)) / 60.0
    return {
        "charged_kwh": charged_wh / 1000,
        "pv_used_kwh": pv_used_wh / 1000,
        "import_caused_kwh": (charged_wh - pv_used_wh) / 1000,
        "switches": st.switches,
        "starts": st.starts,
        "stops": st.stops,
    }


def test_replayed_pv_day_charges_mostly_from_pv_with_few_switches() -> None:
    s = PvSettings(
        mode=PvMode.PV,
        phase_switching=True,
        smoothing_s=120,
        enable_delay_s=60,
        disable_delay_s=180,
    )
    result = replay_day(s, pv_kwp=10.0)
    assert result["charged_kwh"] > 20  # a 10 kWp roof fills most of a car on a clear day
    assert result["import_caused_kwh"] < 0.05 * result["charged_kwh"]
    assert result["switches"] <= 4
    assert result["starts"] <= 2 and result["stops"] <= 2


def test_replayed_day_without_phase_switching_charges_less_but_imports_little() -> None:
    s = PvSettings(mode=PvMode.PV, smoothing_s=120)
    result = replay_day(s, pv_kwp=6.0)
    assert result["switches"] == 0
    assert result["import_caused_kwh"] < 0.1 * max(1.0, result["charged_kwh"])
    assert result["charged_kwh"] > 5


def test_min_pv_imports_at_most_the_minimum_at_night() -> None:
    s = PvSettings(mode=PvMode.MIN_PV, phase_switching=True, smoothing_s=120)
    result = replay_day(s, pv_kwp=10.0)
    fixed = replay_day(replace(s, phase_switching=False), pv_kwp=10.0)
    # Switching to one phase when the sun is gone: at most the 1-phase minimum all day long,
    # and far less than charging the 3-phase minimum from the grid.
    assert result["import_caused_kwh"] < 6 * V * 24 / 1000
    assert result["import_caused_kwh"] < 0.5 * fixed["import_caused_kwh"]
    assert result["switches"] <= 4
