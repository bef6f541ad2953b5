"""The current-limit arbitration: the one place where a connector's current is decided.

Every source that wants to limit a connector posts a claim. The result is the minimum
over all claims of the phases the car uses; below the minimum charging current the
connector is paused (0 A) instead of signalling a current a car may not accept. The
result names the binding source so the UI and API can say *why* a car charges at 10 A.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

PHASES = 3


class LimitSource(StrEnum):
    """Who may limit a connector, named as the manuals name them."""

    HARDWARE = "hardware"  # rating of the connector's electronics
    CABLE = "cable"  # proximity-pilot rating of the plugged cable
    INSTALLATION = "installation"  # what the installer set (fuse, supply line)
    OPERATOR = "operator"  # operator limit, at most the installation limit
    SMART_CHARGING = "smart_charging"  # OCPP composite schedule
    ENERGY_MANAGER = "energy_manager"  # local load management allocation
    DLM = "dlm"  # multi-station DLM setpoint
    EMS = "ems"  # energy manager over Modbus / SEMP
    LOAD_SHEDDING = "load_shedding"  # utility input
    THERMAL = "thermal"  # temperature derating
    EV = "ev"  # the car's own maximum
    INVALID_ID = "invalid_id"  # MaxEnergyOnInvalidId used up / not allowed
    SAFE = "safe"  # fail-safe fallback while an input is silent
    PV = "pv"  # PV surplus charging (min+PV, PV only)


@dataclass(frozen=True, slots=True)
class Claim:
    """A wish to limit a connector; per-phase amps (L1, L2, L3)."""

    source: LimitSource
    amps: tuple[float, float, float]

    @classmethod
    def uniform(cls, source: LimitSource, amps: float) -> Claim:
        return cls(source, (amps, amps, amps))


@dataclass(frozen=True, slots=True)
class Limit:
    """The arbitration's answer for one connector."""

    current_a: float  # what the pilot signals: 0 when paused
    source: LimitSource  # the binding claim
    paused: bool  # True when the minimum over claims is below the minimum current
    unpaused_a: float  # the raw minimum, for display ("would be 4.2 A")


def arbitrate(
    claims: Iterable[Claim],
    *,
    phases_used: Iterable[int] = (0, 1, 2),
    min_current_a: float = 6.0,
) -> Limit:
    """Minimum per phase over all claims, then over the phases the car uses."""
    used = tuple(phases_used) or (0, 1, 2)
    best_value = float("inf")
    best_source = LimitSource.HARDWARE
    for claim in claims:
        value = min(max(0.0, claim.amps[p]) for p in used)
        if value < best_value:
            best_value, best_source = value, claim.source
    if best_value == float("inf"):
        # No claim at all is a wiring bug; never let it mean "unlimited".
        return Limit(0.0, LimitSource.SAFE, True, 0.0)
    value = round(best_value, 1)
    if value < min_current_a:
        return Limit(0.0, best_source, True, value)
    return Limit(value, best_source, False, value)


def apply_order(old: Mapping[int, float], new: Mapping[int, float]) -> list[int]:
    """Connector ids in the order their new setpoints must be applied: decreases first.

    Applying every decrease before any increase keeps the sum of setpoints at or
    below both the old and the new sum at every step, so a fuse never sees more
    than either state allows.
    """
    decreases = [cid for cid in new if new[cid] < old.get(cid, 0.0)]
    increases = [cid for cid in new if new[cid] >= old.get(cid, 0.0)]
    return sorted(decreases) + sorted(increases)
