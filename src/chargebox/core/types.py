"""Names shared by the core and its adapters, spelled as in OCPP 1.6 and IEC 61851."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class PilotState(StrEnum):
    """IEC 61851-1 control-pilot states as the EVSE reads them."""

    A = "A"  # no vehicle
    B = "B"  # vehicle connected, not ready / not asking for energy
    C = "C"  # vehicle asks for energy
    D = "D"  # asks for energy, ventilation required
    E = "E"  # short circuit / EVSE error
    F = "F"  # EVSE not available (pilot -12 V)

    @property
    def plugged(self) -> bool:
        return self in (PilotState.B, PilotState.C, PilotState.D)

    @property
    def wants_energy(self) -> bool:
        return self in (PilotState.C, PilotState.D)


class ChargePointStatus(StrEnum):
    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    FINISHING = "Finishing"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"


class StopReason(StrEnum):
    EMERGENCY_STOP = "EmergencyStop"
    EV_DISCONNECTED = "EVDisconnected"
    HARD_RESET = "HardReset"
    LOCAL = "Local"
    OTHER = "Other"
    POWER_LOSS = "PowerLoss"
    REBOOT = "Reboot"
    REMOTE = "Remote"
    SOFT_RESET = "SoftReset"
    UNLOCK_COMMAND = "UnlockCommand"
    DE_AUTHORIZED = "DeAuthorized"


class AuthorizationStatus(StrEnum):
    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    CONCURRENT_TX = "ConcurrentTx"


class Availability(StrEnum):
    OPERATIVE = "Operative"
    INOPERATIVE = "Inoperative"


@dataclass(frozen=True, slots=True)
class IdTagInfo:
    """What a central system (or a local source) says about an idTag."""

    status: AuthorizationStatus
    expiry_date: float | None = None
    parent_id_tag: str | None = None


@dataclass(frozen=True, slots=True)
class Measurement:
    """One reading of a connector's meter; per-phase tuples are (L1, L2, L3)."""

    energy_wh: float
    power_w: float
    voltage_v: tuple[float, float, float] = (230.0, 230.0, 230.0)
    current_a: tuple[float, float, float] = (0.0, 0.0, 0.0)
    soc_percent: float | None = None
    temperature_c: float | None = None
    offered_a: float = 0.0
    frequency_hz: float = 50.0
    extra: dict[str, float] = field(default_factory=dict)
