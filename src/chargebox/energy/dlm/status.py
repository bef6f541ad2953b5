"""What a DLM master shows: its Modbus figures (600-635) and its status snapshot."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chargebox.energy.dlm.master import DlmMaster

NO_LIMIT = 65535
DLM_MASTER, DLM_MASTER_STANDALONE = 1, 2  # register 600


def register_values(m: DlmMaster) -> dict[str, int | float]:
    """The same for every connector: they are the group's figures."""
    sub = m.subdistribution_limit()
    op = m.site.operator_subdistribution_limit_a or sub
    v: dict[str, int | float] = {
        "dlm_mode": DLM_MASTER if m.internal else DLM_MASTER_STANDALONE,
        "dlm_slaves": sum(1 for link in m.links if link.online),
        "dlm_network_id": m.network_id,
        "dlm_setpoint": NO_LIMIT,
        "dlm_external_meter": int(m.meter is not None),
    }
    for p in range(3):
        n = p + 1
        v[f"dlm_subdist_l{n}"] = sub[p]
        v[f"dlm_operator_subdist_l{n}"] = min(sub[p], op[p])
        v[f"dlm_applied_l{n}"] = m.allocated_a[p]
        v[f"dlm_available_l{n}"] = max(0.0, m.budget_a[p])
    return v


def warnings(m: DlmMaster) -> list[str]:
    """What the installer should fix: cut-off slaves could overload the group."""
    disconnected_sum = m.cfg.disconnected_limit_a * sum(len(link.connectors) for link in m.links)
    limit = (m.subdistribution_limit() - m.site.safety_margin_a).min()
    if disconnected_sum > limit:
        return [
            f"the slaves' disconnected limits add up to {disconnected_sum:g} A, "
            f"more than the group's limit of {limit:g} A"
        ]
    return []


def snapshot(m: DlmMaster) -> dict[str, Any]:
    now = m.clock()
    age = m.meter_info.get("age_s")
    return {
        "role": "master" if m.internal else "master_standalone",
        "network_id": m.network_id,
        "error": m.error,
        "cycles": m.cycles,
        "cycle_s": round(m.last_cycle_s, 4),
        "group_limit_a": list(m.group_limit.as_tuple()),
        "operator_limit_a": list(m.operator_limit.as_tuple()) if m.operator_limit else None,
        "budget_a": list(m.budget_a.as_tuple()),
        "allocated_a": list(m.allocated_a.as_tuple()),
        "reserved_a": list(m.reserved_a.as_tuple()),
        "external_load_a": list(m.external_a.as_tuple()),
        "binding": list(m.binding),
        "meter": {
            "state": m.meter_info.get("meter", "none"),
            "fallback": bool(m.meter_info.get("fallback")),
            "age_s": None if age is None else round(age, 2),
        },
        "limits": sorted(m.limits),
        "warnings": warnings(m),
        "known_slaves": m.known,
        "slaves": [
            {
                "address": link.key,
                "online": link.online,
                "discovered": link.discovered,
                "gone": (not link.online)
                and link.last_seen is not None
                and now - link.last_seen > m.cfg.timeout_s,
                "error": link.error,
                "network_id": link.network_id,
                "connectors": [
                    {
                        "id": c.cid,
                        "cp_state": c.cp_state,
                        "measured_a": list(c.currents_a.as_tuple()),
                        "setpoint_a": c.setpoint,
                        "allocated_a": link.last_alloc.get(c.cid),
                    }
                    for c in link.connectors.values()
                ],
            }
            for link in m.links
        ],
    }
