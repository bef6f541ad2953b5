"""Station state -> register values: what an energy manager reads, by register name.

`snapshot()` is pure: it looks at the station (and the energy manager when one runs) and
returns the value of every register of `omcci.toml` for one connector, in physical units
the map's types encode (amps, mA, W, Wh, V, s, strings, hhmmss). The server calls it on
every read request, so an answer is never older than the request.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chargebox.core.limits import LimitSource
from chargebox.core.station import Station
from chargebox.core.types import Availability, ChargePointStatus, PilotState
from chargebox.modbus.registermap import RegisterMap

# OCPP 1.6 ChargePointStatus in the order of the specification's enumeration.
OCPP_STATUS_CODES = {
    ChargePointStatus.AVAILABLE: 0,
    ChargePointStatus.PREPARING: 1,
    ChargePointStatus.CHARGING: 2,
    ChargePointStatus.SUSPENDED_EVSE: 3,
    ChargePointStatus.SUSPENDED_EV: 4,
    ChargePointStatus.FINISHING: 5,
    ChargePointStatus.RESERVED: 6,
    ChargePointStatus.UNAVAILABLE: 7,
    ChargePointStatus.FAULTED: 8,
}
CP_STATE_CODES = {
    PilotState.A: 1,
    PilotState.B: 2,
    PilotState.C: 3,
    PilotState.D: 4,
    PilotState.E: 5,
    PilotState.F: 6,
}
DLM_OFF, DLM_MASTER_WITH_SLAVE = 0, 1


@dataclass
class SessionRecord:
    """The connector's current or last session, as far as the registers need it."""

    start: float
    meter_start_wh: int
    id_tag: str
    end: float | None = None
    meter_stop_wh: int | None = None


@dataclass(frozen=True, slots=True)
class EmsView:
    """What the Modbus server itself holds for a connector (131, 132, 1000)."""

    safe_current_a: int
    timeout_s: int
    limit_in_force: int | None  # None: no EMS limit


def hhmmss(t: float | None) -> int:
    """UTC time of day as the decimal number hhmmss (packed into BCD by the map)."""
    if t is None:
        return 0
    tm = time.gmtime(t)
    return tm.tm_hour * 10000 + tm.tm_min * 100 + tm.tm_sec


def _connector_phases(station: Station, cid: int) -> int:
    return station.connectors[cid].spec.phases


def station_limits(station: Station, energy: Any) -> tuple[list[float], list[float]]:
    """(sub-distribution limit, operator sub-distribution limit) per phase (610-615),
    before a Modbus write: from the site with an energy manager, else the connectors'."""
    if energy is not None:
        site = energy.site
        sub = site.subdistribution_limit_a or site.grid_limit_a
        op = site.operator_subdistribution_limit_a or sub
        sub_l = list(sub.as_tuple())
        return sub_l, [min(a, b) for a, b in zip(op.as_tuple(), sub_l, strict=True)]
    s = station.settings
    sub_l, op_l = [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]
    for c in station.connectors.values():
        hw = c.spec.max_current_a
        inst = min(hw, s.installation_limit_a) if s.installation_limit_a is not None else hw
        oper = min(inst, s.operator_limit_a) if s.operator_limit_a is not None else inst
        for p in range(min(3, c.spec.phases)):
            sub_l[p] += inst
            op_l[p] += oper
    return sub_l, op_l


def snapshot(
    station: Station,
    connector_id: int,
    regmap: RegisterMap,
    ems: EmsView,
    *,
    energy: Any = None,
    session: SessionRecord | None = None,
    model: str = "",
    firmware: str = "",
    allow_uid_transfer: bool = False,
    operator_subdist: tuple[float, float, float] | None = None,
    now: float | None = None,
) -> dict[str, int | float | str]:
    """Every register's value for `connector_id` (names of `omcci.toml`)."""
    now = station.clock.time() if now is None else now
    c = station.connectors[connector_id]
    status, _ = station.status_of(connector_id)
    v: dict[str, int | float | str] = {}
    na = regmap.not_available

    # identity and state
    v["firmware_version"] = ".".join(firmware.split(".")[:2])[:4]  # "0.1.0" -> "0.1"
    v["ocpp_status"] = OCPP_STATUS_CODES[status]
    v["error_codes_1"] = _bits(regmap, c.fault_codes)
    station_codes = set(station.station_hw_faults)
    v["error_codes_2"] = _bits(regmap, station_codes)
    v["protocol_version"] = regmap.protocol_version
    v["cp_state"] = CP_STATE_CODES[c.pilot]
    v["cp_state_hex"] = 0x09 + CP_STATE_CODES[c.pilot]
    v["availability"] = int(
        c.availability is Availability.OPERATIVE and station.availability is Availability.OPERATIVE
    )
    v["safe_current"] = ems.safe_current_a
    v["comm_timeout"] = ems.timeout_s
    hardware = c.spec.max_current_a
    v["hardware_limit"] = hardware
    v["operator_limit"] = _operator_limit(station, connector_id, energy)
    closed = c.contactor_commanded
    phases = _phases_in_use(c, _connector_phases(station, connector_id))
    v["relay_state"] = 0 if not closed else (5 if phases == 1 else 1)
    v["device_id"] = regmap.device_id
    v["model"] = model
    v["plug_lock"] = int(not c.hw.lock.fixed_cable and c.hw.lock.is_locked())

    # meter
    m = c.measurement
    if m is None:
        for name in ("energy_l1", "energy_l2", "energy_l3", "energy_total"):
            v[name] = na
    else:
        for p in range(3):
            n = p + 1
            per_phase = m.extra.get(f"energy_l{n}_wh")
            v[f"energy_l{n}"] = na if per_phase is None else per_phase
            v[f"power_l{n}"] = max(0.0, m.voltage_v[p] * m.current_a[p])
            v[f"current_l{n}"] = max(0.0, m.current_a[p] * 1000.0)
            v[f"voltage_l{n}"] = m.voltage_v[p]
        v["energy_total"] = m.energy_wh
        v["power_total"] = max(0.0, m.power_w)

    # DLM figures
    sub, op = station_limits(station, energy)
    if operator_subdist is not None:
        op = [min(a, b) for a, b in zip(op, operator_subdist, strict=True)]
    snap: Mapping[str, Any] = getattr(energy, "snapshot", None) or {}
    phases_info = snap.get("phases") or []
    v["dlm_mode"] = DLM_MASTER_WITH_SLAVE if energy is not None else DLM_OFF
    v["dlm_external_meter"] = int(energy is not None and getattr(energy, "meter", None) is not None)
    v["dlm_slaves"] = 0
    applied = _applied(station) if not phases_info else [ph["allocated_a"] for ph in phases_info]
    available = list(op) if not phases_info else [ph["budget_a"] for ph in phases_info]
    for p in range(3):
        n = p + 1
        v[f"dlm_subdist_l{n}"] = sub[p]
        v[f"dlm_operator_subdist_l{n}"] = op[p]
        v[f"dlm_applied_l{n}"] = applied[p]
        v[f"dlm_available_l{n}"] = max(0.0, available[p])

    # session
    v["signalled_current"] = c.offered_a
    v["min_current"] = station.settings.min_current_a
    v["ev_max_current"] = _ev_max(c, hardware)
    tx = c.transaction
    if tx is not None:
        meter_now = m.energy_wh if m is not None else tx.meter_start_wh
        v["start_time"] = hhmmss(tx.start_time)
        v["session_energy"] = max(0.0, meter_now - tx.meter_start_wh)
        v["session_duration"] = max(0.0, now - tx.start_time)
        user_id = tx.id_tag
    elif session is not None and session.end is not None:
        v["start_time"] = hhmmss(session.start)
        v["end_time"] = hhmmss(session.end)
        stop = session.meter_stop_wh if session.meter_stop_wh is not None else 0
        v["session_energy"] = max(0, stop - session.meter_start_wh)
        v["session_duration"] = max(0.0, session.end - session.start)
        user_id = session.id_tag
    else:
        user_id = ""
    v["user_id"] = user_id if allow_uid_transfer else ""

    # control
    v["ems_current_limit"] = regmap.no_limit if ems.limit_in_force is None else ems.limit_in_force
    return v


def _bits(regmap: RegisterMap, codes: set[str] | frozenset[str]) -> int:
    return sum(1 << n for n, code in enumerate(regmap.error_bits) if code in codes)


def _phases_in_use(c: Any, wired: int) -> int:
    m = c.measurement
    if m is not None and any(a > 0.5 for a in m.current_a):
        return sum(1 for a in m.current_a if a > 0.5)
    return wired


def _operator_limit(station: Station, cid: int, energy: Any) -> float:
    hw = station.connectors[cid].spec.max_current_a
    site_c = energy.site.connector(cid) if energy is not None else None
    if site_c is not None and site_c.operator_limit_a is not None:
        return min(hw, site_c.operator_limit_a)
    op = station.settings.operator_limit_a
    return hw if op is None else min(hw, op)


def _ev_max(c: Any, hardware: float) -> float:
    if not c.pilot.plugged:
        return 0.0
    values = [hardware]
    cable = c.hw.controller.cable_rating_a()
    if cable is not None:
        values.append(cable)
    ev = c.claims.get(LimitSource.EV)
    if ev is not None:
        values.append(max(ev.amps))
    return min(values)


def _applied(station: Station) -> list[float]:
    out = [0.0, 0.0, 0.0]
    for c in station.connectors.values():
        for p in range(min(3, c.spec.phases)):
            out[p] += c.offered_a
    return out
