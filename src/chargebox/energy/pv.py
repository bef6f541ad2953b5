"""PV surplus charging: the decision logic, pure (no I/O, no clock of its own).

Modes (evcc's, as the anchors describe them):
- ``fast``: everything allowed (no PV limit; 3 phases where the hardware can switch);
- ``min_pv``: the minimum current always, PV surplus on top;
- ``pv``: charge only from surplus: start once the surplus has covered the minimum current
  for ``enable_delay_s``, stop once it has stayed below it (minus the hysteresis) for
  ``disable_delay_s``; in between, hold the minimum current.

The surplus comes from the signed grid meter (import positive, export negative): power
the charging could use without importing = export + what the chargers draw now (when the
meter sits in front of them) + an optional import allowance. It is smoothed upwards
(exponential, ``smoothing_s``) and followed at once downwards, so a cloud cuts the current
immediately while a gap in the clouds has to last before it raises it.

1-phase / 3-phase switching (where the hardware can) has its own timers: down to one phase
when the surplus no longer carries the minimum on three, up again when it carries the
minimum on three plus the hysteresis; never two switches within ``phase_min_interval_s``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum


class PvMode(StrEnum):
    OFF = "off"  # PV control disabled: no limit from here
    FAST = "fast"
    MIN_PV = "min_pv"
    PV = "pv"


@dataclass(frozen=True, slots=True)
class PvSettings:
    mode: PvMode = PvMode.PV
    min_current_a: float = 6.0
    max_current_a: float = 16.0
    voltage_v: float = 230.0
    enable_delay_s: float = 60.0
    disable_delay_s: float = 180.0
    smoothing_s: float = 30.0
    hysteresis_a: float = 1.0
    import_allowance_w: float = 0.0
    meter_includes_charging: bool = True
    phase_switching: bool = False  # the hardware can switch 1p/3p
    phase_down_delay_s: float = 120.0
    phase_up_delay_s: float = 300.0
    phase_min_interval_s: float = 600.0


@dataclass(frozen=True, slots=True)
class PvState:
    enabled: bool = False
    phases: int = 3
    surplus_w: float | None = None  # smoothed
    last_t: float | None = None
    enable_since: float | None = None
    disable_since: float | None = None
    switch_since: float | None = None
    switch_to: int | None = None
    last_switch_t: float | None = None
    switches: int = 0
    starts: int = 0
    stops: int = 0


@dataclass(frozen=True, slots=True)
class PvDecision:
    limit_a: float | None  # per-phase current for charging; 0 = pause; None = no PV limit
    phases: int
    state: PvState
    reason: str
    timer: str | None = None  # "enable", "disable", "phases"
    remaining_s: float | None = None


def available_w(settings: PvSettings, grid_power_w: float | None, charging_power_w: float) -> float:
    """Power the chargers could draw without importing (before smoothing)."""
    if grid_power_w is None:  # no meter reading: assume no surplus at all
        return 0.0
    own = charging_power_w if settings.meter_includes_charging else 0.0
    return -grid_power_w + own + settings.import_allowance_w


def _smooth(settings: PvSettings, state: PvState, avail: float, now: float) -> float:
    prev = state.surplus_w
    if prev is None or avail <= prev or settings.smoothing_s <= 0 or state.last_t is None:
        return avail
    dt = max(0.0, now - state.last_t)
    alpha = 1.0 - math.exp(-dt / settings.smoothing_s)
    return prev + alpha * (avail - prev)


def _floor(amps: float) -> float:
    return math.floor(amps * 10.0) / 10.0


def pv_step(
    settings: PvSettings,
    state: PvState,
    *,
    now: float,
    grid_power_w: float | None,
    charging_power_w: float,
) -> PvDecision:
    """One control step: the PV limit and phase count, and the state to keep."""
    s = settings
    surplus = _smooth(s, state, available_w(s, grid_power_w, charging_power_w), now)
    st = replace(state, surplus_w=surplus, last_t=now)

    def target(phases: int) -> float:
        return surplus / (s.voltage_v * phases)

    if s.mode is PvMode.OFF:
        return PvDecision(None, st.phases, st, "off")
    if s.mode is PvMode.FAST:
        st = replace(st, enabled=True, enable_since=None, disable_since=None)
        st, _ = _switch(s, st, 3, now, immediate=True)
        return PvDecision(s.max_current_a, st.phases, st, "fast")

    if s.mode is PvMode.PV and not st.enabled:
        cand = st.phases
        if s.phase_switching:
            cand = 3 if target(3) >= s.min_current_a else 1
        if target(cand) >= s.min_current_a:
            since = st.enable_since if st.enable_since is not None else now
            st = replace(st, enable_since=since)
            left = s.enable_delay_s - (now - since)
            if left > 0:
                return PvDecision(0.0, st.phases, st, "waiting for surplus", "enable", left)
            st = replace(st, enabled=True, enable_since=None, disable_since=None)
            st = replace(st, starts=st.starts + 1)
            st, _ = _switch(s, st, cand, now, immediate=True)
        else:
            st = replace(st, enable_since=None)
            return PvDecision(0.0, st.phases, st, "no surplus")

    # Enabled (PV) or MIN_PV: phase switching first, then the current.
    timer: str | None = None
    remaining: float | None = None
    if s.phase_switching:
        want = st.phases
        if st.phases == 3 and target(3) < s.min_current_a:
            want = 1
        elif st.phases == 1 and target(3) >= s.min_current_a + s.hysteresis_a:
            want = 3
        st, switch_left = _switch(s, st, want, now)
        if switch_left is not None:
            timer, remaining = "phases", switch_left

    t = target(st.phases)
    reason = "surplus"
    if s.mode is PvMode.PV and t < s.min_current_a - s.hysteresis_a and timer is None:
        since = st.disable_since if st.disable_since is not None else now
        st = replace(st, disable_since=since)
        left = s.disable_delay_s - (now - since)
        if left <= 0:
            st = replace(st, enabled=False, disable_since=None, stops=st.stops + 1)
            return PvDecision(0.0, st.phases, st, "surplus gone")
        timer, remaining, reason = "disable", left, "surplus falling"
    elif st.disable_since is not None and t >= s.min_current_a - s.hysteresis_a:
        st = replace(st, disable_since=None)
    if t < s.min_current_a:
        reason = "minimum" if s.mode is PvMode.MIN_PV else reason
    amps = min(s.max_current_a, max(s.min_current_a, _floor(t)))
    return PvDecision(amps, st.phases, st, reason, timer, remaining)


def _switch(
    s: PvSettings, st: PvState, want: int, now: float, *, immediate: bool = False
) -> tuple[PvState, float | None]:
    """Move toward `want` phases under the switch timers; returns (state, seconds left)."""
    if not s.phase_switching or want == st.phases:
        return replace(st, switch_since=None, switch_to=None), None
    if st.last_switch_t is not None and now - st.last_switch_t < s.phase_min_interval_s:
        left = s.phase_min_interval_s - (now - st.last_switch_t)
        return replace(st, switch_since=None, switch_to=None), left
    if not immediate:
        since = st.switch_since if st.switch_to == want and st.switch_since is not None else now
        delay = s.phase_down_delay_s if want < st.phases else s.phase_up_delay_s
        left = delay - (now - since)
        if left > 0:
            return replace(st, switch_since=since, switch_to=want), left
    return (
        replace(
            st,
            phases=want,
            switch_since=None,
            switch_to=None,
            last_switch_t=now,
            switches=st.switches + 1,
        ),
        None,
    )
