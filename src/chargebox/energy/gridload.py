"""What the grid meter says is left for charging, and decreases before increases.

Shared by the station's energy manager (its own connectors) and the DLM master (the
connectors of a whole group of stations): both subtract the chargers' currents from the
grid reading to find the external load, and both hold increases back while a lowered
car still draws more than its new setpoint.

External load = grid reading minus the chargers' currents *at the time of the reading*:
the history keeps a few seconds of the chargers' currents and subtracts the smallest seen
in `[timestamp - meter_lag_s, timestamp]`, never what they draw now. (A reading a few
seconds old minus today's larger charging current would make the budget grow every cycle
while the meter is stuck.)
"""

from __future__ import annotations

from collections import deque
from typing import Any

from chargebox.energy.model import GridMeterSource, GridReading, MeterPlacement, PhaseCurrents, Site

DECREASE_WAIT_S = 5.0  # IEC 61851-1: a car follows a lower pilot current within 5 s
DECREASE_TOLERANCE_A = 0.5  # a lowered car drawing at most this above its setpoint followed
HISTORY_EXTRA_S = 5.0  # chargers' currents are kept meter_timeout_s + this long


class ChargingHistory:
    """The chargers' currents per grid phase over the last seconds."""

    def __init__(self) -> None:
        self.samples: deque[tuple[float, PhaseCurrents]] = deque()

    def record(self, now: float, charging: PhaseCurrents, keep_s: float) -> None:
        if self.samples and self.samples[-1][0] == now:
            self.samples.pop()
        self.samples.append((now, charging))
        while len(self.samples) > 1 and self.samples[1][0] < now - keep_s:
            self.samples.popleft()

    def at(self, timestamp: float, lag_s: float) -> PhaseCurrents:
        """The least the chargers drew per grid phase while a reading taken at `timestamp`
        was measured: samples in [timestamp - lag_s, timestamp], else the last one before;
        nothing known means 0 A (the whole reading counts as external load)."""
        start = timestamp - lag_s
        window = [c for t, c in self.samples if start <= t <= timestamp]
        if not window:
            window = [c for t, c in self.samples if t < start][-1:]
        if not window:
            return PhaseCurrents()
        return PhaseCurrents.from_tuple(min(c[p] for c in window) for p in range(3))


def keep_s(site: Site) -> float:
    """How long the history must reach back for the oldest reading still in time."""
    return site.meter_timeout_s + site.meter_lag_s + HISTORY_EXTRA_S


def external_load(
    site: Site,
    meter: GridMeterSource | None,
    history: ChargingHistory,
    now: float,
) -> tuple[PhaseCurrents, dict[str, Any]]:
    """Non-charging load per grid phase, and how it was found (for the status).

    A meter silent longer than `site.meter_timeout_s` means `site.fallback_load_a`.
    """
    info: dict[str, Any] = {}
    if meter is None:
        info.update(meter="none", reading=None, fallback=False, age_s=None)
        return PhaseCurrents(), info
    reading: GridReading | None = meter.latest()
    age = None if reading is None else now - reading.timestamp
    if reading is None or age is None or age > site.meter_timeout_s:
        info.update(meter="silent", reading=None, fallback=True, age_s=age)
        return site.fallback_load_a, info
    info.update(meter="ok", reading=reading.currents_a, fallback=False, age_s=age)
    load = reading.currents_a
    if site.meter_placement is MeterPlacement.INCLUDES_CHARGING:
        load = load - history.at(reading.timestamp, site.meter_lag_s)
    # Export (negative) is not counted as room: PV may vanish faster than we react.
    return PhaseCurrents.from_tuple(max(0.0, a) for a in load.as_tuple()), info


class DecreaseGate:
    """Holds increases back while a lowered connector still draws more than its setpoint.

    Per phase the held result never exceeds the new allocation (each connector gets the
    smaller of its old and new setpoint), and physically the old state stays in force
    until the decrease is measured (or `DECREASE_WAIT_S` has passed).
    """

    def __init__(self) -> None:
        self.lowered: dict[int, float] = {}  # connector -> since when it must come down
        self.held: set[int] = set()  # connectors whose increase waits

    def apply(
        self,
        new: dict[int, float],
        applied: dict[int, float],
        drawn: dict[int, float],
        now: float,
    ) -> dict[int, float]:
        """The setpoints to apply now: `new`, with increases held while decreases run."""
        for cid, amps in new.items():
            if amps < applied.get(cid, 0.0):
                self.lowered.setdefault(cid, now)
        for cid in list(self.lowered):
            done = drawn.get(cid, 0.0) <= new.get(cid, 0.0) + DECREASE_TOLERANCE_A
            if done or now - self.lowered[cid] >= DECREASE_WAIT_S:
                del self.lowered[cid]
        self.held = set()
        if not self.lowered:
            return dict(new)
        out = dict(new)
        for cid, amps in new.items():
            old = applied.get(cid, 0.0)
            if amps > old:
                out[cid] = old
                self.held.add(cid)
        return out

    def waiting(self, applied: dict[int, float], drawn: dict[int, float], now: float) -> bool:
        """Some lowered connector still draws more than its setpoint (within the wait)."""
        for cid, since in self.lowered.items():
            if now - since < DECREASE_WAIT_S and drawn.get(cid, 0.0) > applied.get(cid, 0.0) + (
                DECREASE_TOLERANCE_A
            ):
                return True
        return False

    def clear(self) -> None:
        self.lowered, self.held = {}, set()
