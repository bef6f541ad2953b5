"""Load shedding (ripple-control / utility relay input, seed-003 §3.6).

A digital input, low- or high-active, debounced. While active it either limits the whole
station to `limit_a` (0 = stop; 0 < X < minimum current means stop as well, since a car
may not be offered less than the minimum) or reduces the charging budget of every grid
phase by a signed offset (entered negative, as in the manuals: -10 A turns 16 A into 6 A).

It reacts to the input change itself (`input_changed`, called by the input's listener),
not at the next control cycle: once the input has been stable for `debounce_s` the limit
is posted — to the energy manager as an `ExternalLimit` when one runs (the manager
re-allocates at once), otherwise as a `Claim(LOAD_SHEDDING)` on connector 0 followed by a
station tick. Offset mode with an energy manager posts the offset itself
(`ExternalLimit.offset_a`): the manager lowers the *measured* budget of each grid phase
(grid limit - margin - external load, and every other cap) by it, as the manuals
describe. Without a manager the station knows no measured budget, so the offset reduces
the static budget `budget_a` per phase.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from chargebox.core.limits import Claim, LimitSource
from chargebox.energy.model import ExternalLimit, PhaseCurrents

log = logging.getLogger(__name__)

SOURCE = "load_shedding"


@dataclass(frozen=True, slots=True)
class SheddingSettings:
    input: str = "load_shedding"
    polarity: Literal["high_active", "low_active"] = "high_active"
    debounce_s: float = 0.2
    mode: Literal["limit", "offset"] = "limit"
    limit_a: float = 0.0
    offset_a: tuple[float, float, float] = (0.0, 0.0, 0.0)
    budget_a: tuple[float, float, float] = (32.0, 32.0, 32.0)  # what offset mode reduces
    min_current_a: float = 6.0


class LimitSink(Protocol):
    """The energy manager as load shedding sees it."""

    def post_limit(self, limit: ExternalLimit) -> None: ...

    def clear_limit(self, source: str) -> None: ...


class ClaimTarget(Protocol):
    """The station as load shedding sees it (when no energy manager runs)."""

    def set_claim(self, connector_id: int, claim: Claim) -> None: ...

    def clear_claim(self, connector_id: int, source: LimitSource) -> None: ...

    def tick(self) -> None: ...


def shed_budget(settings: SheddingSettings) -> tuple[float, float, float]:
    """Per-phase amps left for charging while the input is active."""
    s = settings
    if s.mode == "limit":
        amps = s.limit_a if s.limit_a >= s.min_current_a else 0.0
        return (amps, amps, amps)
    a, b, c = (max(0.0, base + off) for base, off in zip(s.budget_a, s.offset_a, strict=True))
    return (a, b, c)


class Debouncer:
    """Accepts a new input level once it has been stable for `debounce_s` (pure, clocked)."""

    def __init__(self, debounce_s: float, initial: bool = False) -> None:
        self.debounce_s = debounce_s
        self.level = initial  # the accepted level
        self._raw = initial
        self._since = 0.0

    def observe(self, raw: bool, now: float) -> bool:
        """Feed the raw level; True when the accepted level changed."""
        if raw != self._raw:
            self._raw, self._since = raw, now
        if self._raw != self.level and now - self._since >= self.debounce_s:
            self.level = self._raw
            return True
        return False

    def pending_s(self, now: float) -> float | None:
        """Seconds until a pending change is accepted, None when nothing is pending."""
        if self._raw == self.level:
            return None
        return max(0.0, self.debounce_s - (now - self._since))


class LoadShedding:
    def __init__(
        self,
        settings: SheddingSettings,
        *,
        read_input: Callable[[], dict[str, bool]],
        clock: Callable[[], float],
        station: ClaimTarget | None = None,
        manager: LimitSink | None = None,
    ) -> None:
        self.settings = settings
        self.read_input = read_input
        self.clock = clock
        self.station = station
        self.manager = manager
        self.active = False
        self.activations = 0
        self.changed_at: float | None = None
        self.debouncer = Debouncer(settings.debounce_s, self._active_level(self._raw()))
        self._wake: asyncio.Event | None = None

    def _raw(self) -> bool:
        return bool(self.read_input().get(self.settings.input, False))

    def _active_level(self, raw: bool) -> bool:
        return raw if self.settings.polarity == "high_active" else not raw

    def input_changed(self, name: str | None = None, value: bool | None = None) -> None:
        """The input listener: look at once (and wake the runner for the debounce)."""
        if name is not None and name != self.settings.input:
            return
        self.check()
        if self._wake is not None:
            self._wake.set()

    def check(self) -> bool:
        """Read the input, debounce, apply a change; True when the shed state changed."""
        now = self.clock()
        if not self.debouncer.observe(self._active_level(self._raw()), now):
            if self.changed_at is None:  # first look: apply the initial state
                self.changed_at = now
                if self.debouncer.level:
                    self._apply(True)
            return False
        self.changed_at = now
        self._apply(self.debouncer.level)
        return True

    def _apply(self, active: bool) -> None:
        self.active = active
        budget = shed_budget(self.settings)
        if self.settings.mode == "offset" and self.manager is not None:
            o = self.settings.offset_a
            what = f": measured charging budget {o[0]:+g}/{o[1]:+g}/{o[2]:+g} A"
        else:
            what = f": charging budget {budget[0]:g}/{budget[1]:g}/{budget[2]:g} A"
        log.warning("load shedding %s%s", "active" if active else "ended", what if active else "")
        if active:
            self.activations += 1
        if self.manager is not None:
            if active:
                self.manager.post_limit(self.limit())
            else:
                self.manager.clear_limit(SOURCE)
            return
        if self.station is not None:
            if active:
                self.station.set_claim(0, Claim(LimitSource.LOAD_SHEDDING, budget))
            else:
                self.station.clear_claim(0, LimitSource.LOAD_SHEDDING)
            self.station.tick()

    def limit(self) -> ExternalLimit:
        """What is posted to the energy manager while shedding is active."""
        s = self.settings
        if s.mode == "offset":
            return ExternalLimit(SOURCE, offset_a=PhaseCurrents.from_tuple(s.offset_a))
        return ExternalLimit(SOURCE, PhaseCurrents.from_tuple(shed_budget(s)))

    def status(self) -> dict[str, object]:
        offset = self.settings.mode == "offset" and self.manager is not None
        return {
            "input": self.settings.input,
            "polarity": self.settings.polarity,
            "active": self.active,
            "mode": self.settings.mode,
            "budget_a": list(shed_budget(self.settings)) if self.active and not offset else None,
            "offset_a": list(self.settings.offset_a) if offset else None,
            "activations": self.activations,
        }

    async def run(self, poll_s: float = 0.5) -> None:
        """Watch the input: woken by `input_changed`, finishes debounces on time, and polls
        as a safety net for inputs without a listener."""
        self._wake = asyncio.Event()
        self.check()
        while True:
            wait = self.debouncer.pending_s(self.clock())
            timeout = poll_s if wait is None else min(poll_s, wait + 0.01)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            try:
                self.check()
            except Exception:  # keep watching the input whatever a listener did
                log.exception("load shedding check failed")
