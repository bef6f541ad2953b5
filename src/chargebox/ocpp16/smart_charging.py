"""OCPP 1.6 Smart Charging: charging profiles and the composite schedule (§3.13, §5.16, §7.13).

Pure: no asyncio, no I/O, no clock. The composite schedule is a function of the installed
profiles, the connector's transaction and a time window, so it can be tested exactly and
property-tested; the runtime in `smart_handlers.py` turns it into a limit claim.

Time is handled in whole epoch seconds: OCPP periods are whole seconds and scheduleStart is
reported to the second, so nothing is lost and adjacent periods compare exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chargebox.core.clock import iso, parse_iso

CP_MAX = "ChargePointMaxProfile"
TX_DEFAULT = "TxDefaultProfile"
TX = "TxProfile"
PURPOSES = (CP_MAX, TX_DEFAULT, TX)
VOLTAGE = 230.0  # the nominal phase voltage for A <-> W (OCPP leaves it to the station)
RECURRENCE_S = {"Daily": 86_400, "Weekly": 604_800}
UNITS = {"A": "Current", "W": "Power"}  # unit -> ChargingScheduleAllowedChargingRateUnit


class ProfileError(ValueError):
    """A profile the station cannot take as sent (SetChargingProfile answers Rejected)."""


@dataclass(frozen=True, slots=True)
class Period:
    start: int  # seconds from the schedule's start
    limit: float  # in the schedule's unit
    number_phases: int | None = None


@dataclass(frozen=True, slots=True)
class ChargingProfile:
    """One installed profile; `raw` is the OCPP JSON kept for persistence and round trips."""

    id: int
    connector_id: int
    stack_level: int
    purpose: str
    kind: str  # Absolute, Recurring, Relative
    unit: str  # A or W
    periods: tuple[Period, ...]
    start_schedule: int | None = None
    duration: int | None = None
    recurrency: str | None = None
    valid_from: int | None = None
    valid_to: int | None = None
    transaction_id: int | None = None
    min_charging_rate: float | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def from_ocpp(cls, connector_id: int, p: dict[str, Any]) -> ChargingProfile:
        """Parse a csChargingProfiles object; raises ProfileError when it is inconsistent."""
        s = p["chargingSchedule"]
        periods = tuple(
            Period(int(x["startPeriod"]), float(x["limit"]), x.get("numberPhases"))
            for x in s["chargingSchedulePeriod"]
        )
        starts = [x.start for x in periods]
        if not periods or starts != sorted(set(starts)) or starts[0] < 0:
            raise ProfileError("periods must have distinct, increasing startPeriod values")
        if any(x.limit < 0 for x in periods):
            raise ProfileError("negative limit")
        kind = p["chargingProfileKind"]
        if kind == "Recurring" and p.get("recurrencyKind") not in RECURRENCE_S:
            raise ProfileError("Recurring needs recurrencyKind Daily or Weekly")
        return cls(
            id=int(p["chargingProfileId"]),
            connector_id=connector_id,
            stack_level=int(p["stackLevel"]),
            purpose=p["chargingProfilePurpose"],
            kind=kind,
            unit=s["chargingRateUnit"],
            periods=periods,
            start_schedule=_ts(s.get("startSchedule")),
            duration=s.get("duration"),
            recurrency=p.get("recurrencyKind"),
            valid_from=_ts(p.get("validFrom")),
            valid_to=_ts(p.get("validTo")),
            transaction_id=p.get("transactionId"),
            min_charging_rate=s.get("minChargingRate"),
            raw=dict(p),
        )

    def with_transaction(self, transaction_id: int | None) -> ChargingProfile:
        """The same profile bound to a transaction (TxProfile without an id, RemoteStart)."""
        raw = dict(self.raw)
        if transaction_id is None:
            raw.pop("transactionId", None)
        else:
            raw["transactionId"] = transaction_id
        return ChargingProfile.from_ocpp(self.connector_id, raw)


def _ts(text: str | None) -> int | None:
    return None if text is None else math.floor(parse_iso(text))


@dataclass(frozen=True, slots=True)
class TxState:
    """What the composite needs to know about the connector's transaction."""

    start: float
    transaction_id: int | None = None
    had_tx_profile: bool = False  # once a TxProfile applied, TxDefault is ignored for good


@dataclass(frozen=True, slots=True)
class CompositeSchedule:
    start: int
    duration: int
    unit: str
    periods: tuple[Period, ...]
    min_charging_rate: float | None = None

    def to_ocpp(self) -> dict[str, Any]:
        """The chargingSchedule of GetCompositeSchedule.conf."""
        out: dict[str, Any] = {
            "duration": self.duration,
            "startSchedule": iso(self.start),
            "chargingRateUnit": self.unit,
            "chargingSchedulePeriod": [_period_json(p) for p in self.periods],
        }
        if self.min_charging_rate is not None:
            out["minChargingRate"] = self.min_charging_rate
        return out


def _period_json(p: Period) -> dict[str, Any]:
    out: dict[str, Any] = {"startPeriod": p.start, "limit": p.limit}
    if p.number_phases is not None:
        out["numberPhases"] = p.number_phases
    return out


# ------------------------------------------------------------------ segments

# (absolute start, absolute end, limit, unit, numberPhases)
Segment = tuple[int, int, float, str, int | None]


def segments(profile: ChargingProfile, start: int, end: int, relative_to: int) -> list[Segment]:
    """Where and what the profile limits within [start, end), in absolute seconds."""
    lo = max(start, profile.valid_from if profile.valid_from is not None else start)
    hi = min(end, profile.valid_to if profile.valid_to is not None else end)
    if lo >= hi:
        return []
    if profile.kind == "Relative":
        anchors: Iterable[int] = (relative_to,)
        cycle = None
    elif profile.kind == "Recurring":
        cycle = RECURRENCE_S[profile.recurrency or "Daily"]
        anchor = profile.start_schedule if profile.start_schedule is not None else 0
        first = max(0, (lo - anchor) // cycle)
        last = (hi - anchor) // cycle
        anchors = (anchor + k * cycle for k in range(first, last + 1))
    else:  # Absolute: without startSchedule it runs from the window start
        anchors = (profile.start_schedule if profile.start_schedule is not None else start,)
        cycle = None
    out: list[Segment] = []
    for anchor in anchors:
        stop = anchor + profile.duration if profile.duration is not None else None
        if cycle is not None:
            stop = anchor + cycle if stop is None else min(stop, anchor + cycle)
        periods = profile.periods
        for i, p in enumerate(periods):
            s = anchor + p.start
            e = anchor + periods[i + 1].start if i + 1 < len(periods) else None
            if stop is not None:
                e = stop if e is None else min(e, stop)
            s, e2 = max(s, lo), hi if e is None else min(e, hi)
            if s < e2:
                out.append((s, e2, p.limit, profile.unit, p.number_phases))
    return out


# ------------------------------------------------------------------ composite


def _amps(limit: float, unit: str, phases: int, voltage: float) -> float:
    return limit if unit == "A" else limit / (voltage * phases)


def _floor1(value: float) -> float:
    """Down to 0.1 (the schemas' multipleOf): a limit is never rounded up."""
    return math.floor(value * 10 + 1e-6) / 10


def _winner(segs: list[list[Segment]], idx: list[int], t: int) -> Segment | None:
    """The segment covering t of the first profile (by priority) that has one.

    `idx` keeps each profile's position: t only grows, so the sweep is linear.
    """
    for n in range(len(segs)):
        ss, i = segs[n], idx[n]
        while i < len(ss) and ss[i][1] <= t:
            i += 1
        idx[n] = i
        if i < len(ss) and ss[i][0] <= t:
            return ss[i]
    return None


def _by_priority(profiles: Iterable[ChargingProfile]) -> list[ChargingProfile]:
    """Highest stack level first; on a tie the connector's own profile beats connector 0's."""
    return sorted(profiles, key=lambda p: (-p.stack_level, p.connector_id == 0, p.id))


def applicable(
    profiles: Iterable[ChargingProfile],
    connector_id: int,
    transaction: TxState | None,
    *,
    station: bool = True,
    tx: bool = True,
) -> tuple[list[ChargingProfile], list[ChargingProfile]]:
    """(ChargePointMax layer, Tx layer) that apply to the connector, each by priority."""
    cp_max: list[ChargingProfile] = []
    tx_profiles: list[ChargingProfile] = []
    defaults: list[ChargingProfile] = []
    for p in profiles:
        if p.purpose == CP_MAX:
            if station and p.connector_id == 0:
                cp_max.append(p)
        elif not tx:
            continue
        elif p.purpose == TX_DEFAULT:
            if p.connector_id in (0, connector_id):
                defaults.append(p)
        elif (
            p.purpose == TX
            and transaction is not None
            and connector_id != 0
            and p.connector_id == connector_id
            and (p.transaction_id is None or p.transaction_id == transaction.transaction_id)
        ):
            tx_profiles.append(p)
    if transaction is not None and (tx_profiles or transaction.had_tx_profile):
        return _by_priority(cp_max), _by_priority(tx_profiles)
    return _by_priority(cp_max), _by_priority(defaults)


def composite_schedule(
    profiles: Sequence[ChargingProfile],
    connector_id: int,
    start: float,
    duration: int,
    *,
    transaction: TxState | None = None,
    unit: str = "A",
    phases: int = 3,
    default_limit_a: float | None = None,
    voltage: float = VOLTAGE,
    station: bool = True,
    tx: bool = True,
) -> CompositeSchedule:
    """The limit in force over [start, start + duration), in `unit`.

    Per purpose the highest stack level defining a period wins; the Tx layer (TxProfile for
    a transaction that has one, else TxDefaultProfile) is capped by ChargePointMaxProfile.
    Where nothing applies the limit is `default_limit_a` (no period when it is None).
    `station`/`tx` select the layers (the runtime claims them separately).
    """
    t0 = math.floor(start)
    t1 = t0 + max(0, int(duration))
    anchor = math.floor(transaction.start) if transaction is not None else t0
    cp_max, tx_layer = applicable(profiles, connector_id, transaction, station=station, tx=tx)
    layers = (tx_layer, cp_max)
    segs = [[segments(p, t0, t1, anchor) for p in layer] for layer in layers]
    cuts = {t0, t1}
    for layer_segs in segs:
        for ss in layer_segs:
            for s, e, *_ in ss:
                cuts.add(s)
                cuts.add(e)
    idx = [[0] * len(layer) for layer in layers]
    out: list[Period] = []
    ordered = sorted(cuts)
    for t, _next in zip(ordered, ordered[1:], strict=False):
        got_tx = _winner(segs[0], idx[0], t)
        got_cp = _winner(segs[1], idx[1], t)
        explicit = got_tx[4] if got_tx is not None else None
        if explicit is None and got_cp is not None:
            explicit = got_cp[4]
        n = explicit or phases
        amps = [_amps(g[2], g[3], n, voltage) for g in (got_tx, got_cp) if g is not None]
        if amps:
            value = min(amps)
        elif default_limit_a is not None:
            value = default_limit_a
        else:
            continue
        limit = _floor1(value if unit == "A" else value * voltage * n)
        if out and out[-1].limit == limit and out[-1].number_phases == explicit:
            continue
        out.append(Period(t - t0, limit, explicit))
    rates = [p.min_charging_rate for p in (*tx_layer, *cp_max) if p.min_charging_rate]
    min_rate = None
    if rates:
        rate_unit = next(p.unit for p in (*tx_layer, *cp_max) if p.min_charging_rate)
        a = _amps(max(rates), rate_unit, phases, voltage)
        min_rate = _floor1(a if unit == "A" else a * voltage * phases)
    return CompositeSchedule(t0, t1 - t0, unit, tuple(out), min_rate)


def limit_at(
    profiles: Sequence[ChargingProfile],
    connector_id: int,
    now: float,
    *,
    transaction: TxState | None = None,
    phases: int = 3,
    voltage: float = VOLTAGE,
    station: bool = True,
    tx: bool = True,
) -> float | None:
    """Amps per phase in force at `now`, or None when no profile limits the connector."""
    schedule = composite_schedule(
        profiles,
        connector_id,
        now,
        1,
        transaction=transaction,
        phases=phases,
        voltage=voltage,
        station=station,
        tx=tx,
    )
    return schedule.periods[0].limit if schedule.periods else None


# ------------------------------------------------------------------ installing


@dataclass(frozen=True, slots=True)
class Limits:
    """The Smart Charging configuration keys that bound what may be installed."""

    max_stack_level: int = 8
    max_periods: int = 48
    max_installed: int = 16
    allowed_units: frozenset[str] = frozenset({"Current", "Power"})


def check(profile: ChargingProfile, limits: Limits) -> None:
    """Raise ProfileError when a key forbids the profile (stack level, periods, unit)."""
    if profile.stack_level > limits.max_stack_level:
        raise ProfileError(f"stackLevel above ChargeProfileMaxStackLevel {limits.max_stack_level}")
    if len(profile.periods) > limits.max_periods:
        raise ProfileError(f"more than ChargingScheduleMaxPeriods {limits.max_periods}")
    if UNITS.get(profile.unit) not in limits.allowed_units:
        raise ProfileError(f"chargingRateUnit {profile.unit} not allowed")


def replaced_by(
    installed: Iterable[ChargingProfile], new: ChargingProfile
) -> list[ChargingProfile]:
    """Profiles a new one replaces: the same id, or the same stackLevel+purpose+connector."""
    return [
        p
        for p in installed
        if p.id == new.id
        or (
            p.connector_id == new.connector_id
            and p.purpose == new.purpose
            and p.stack_level == new.stack_level
        )
    ]


def matches_clear(
    p: ChargingProfile,
    *,
    profile_id: int | None = None,
    connector_id: int | None = None,
    purpose: str | None = None,
    stack_level: int | None = None,
) -> bool:
    """ClearChargingProfile: by id, else every given filter must match (none = all)."""
    if profile_id is not None:
        return p.id == profile_id
    return (
        (connector_id is None or p.connector_id == connector_id)
        and (purpose is None or p.purpose == purpose)
        and (stack_level is None or p.stack_level == stack_level)
    )
