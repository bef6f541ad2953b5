"""The "Load management between stations" page (DLM master/slave, ``energy/dlm/``).

``install_dlm_page(ui, app)`` adds ``/dlm`` (installer): what the DLM object of the runtime
(``runtime.dlm``, a ``DlmMaster`` or ``DlmSlave``, None when ``[dlm] role = "off"``) reports
in its ``snapshot``, a live fragment (``/dlm/live``, htmx polls it every 2 s) and
``POST /dlm/clear`` (installer, CSRF), which forgets the master's known slaves that are not
online. The page only reads the snapshot, with ``.get`` everywhere: keys it does not know are
ignored, keys it expects and misses show as "–".
"""

from __future__ import annotations

import re
import time
import zoneinfo
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from chargebox.store.users import SessionRecord
from chargebox.web.auth import audit_change

if TYPE_CHECKING:
    from collections.abc import Callable

    from chargebox.web.ui import WebUI

__all__ = ["dlm_view", "install_dlm_page"]

DASH = "–"
# Per-phase rows of the group table; the optional ones only when the snapshot has them.
PHASE_ROWS = (
    "group_limit_a",
    "operator_limit_a",
    "external_load_a",
    "reserved_a",
    "budget_a",
    "allocated_a",
)
OPTIONAL_ROWS = frozenset({"operator_limit_a", "external_load_a"})
METER_STATES = ("ok", "silent", "none")  # energy_panel.meter_*
CP_STATES = {1: "A", 2: "B", 3: "C", 4: "D", 5: "E", 6: "F"}  # OMCCI register 122
# The master's warning texts are English; the ones the page knows are shown translated.
_DISCONNECTED_SUM = re.compile(
    r"disconnected limits add up to (?P<sum>[\d.]+) A, more than the group's limit of "
    r"(?P<limit>[\d.]+) A"
)


# ------------------------------------------------------------------------------ helpers


def amps(value: Any) -> str:
    if value is None:
        return DASH
    try:
        return f"{float(value):.1f}"
    except (TypeError, ValueError):
        return DASH


def phase_amps(values: Any) -> str:
    """``[l1, l2, l3]`` as ``"16.0 / 16.0 / 0.0"``."""
    if not isinstance(values, (list, tuple)) or not values:
        return DASH
    return " / ".join(amps(v) for v in values)


def phase_cells(values: Any) -> list[str]:
    values = list(values) if isinstance(values, (list, tuple)) else []
    return [amps(values[i]) if i < len(values) else DASH for i in range(3)]


def station_zone(runtime: Any) -> tuple[zoneinfo.ZoneInfo | None, str]:
    """The time zone of the date/time page (UTC by default); None: this machine's zone."""
    name = "UTC"
    try:
        stored = runtime.state.get("time", "settings") or {}
        name = str(stored.get("timezone") or "UTC")
        return zoneinfo.ZoneInfo(name), name
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, AttributeError, TypeError):
        return None, time.strftime("%Z") or name


def local_time(epoch: Any, zone: zoneinfo.ZoneInfo | None) -> str:
    if not isinstance(epoch, (int, float)) or isinstance(epoch, bool):
        return DASH
    try:
        moment = datetime.fromtimestamp(float(epoch), zone)
    except (OverflowError, OSError, ValueError):
        return DASH
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def translate_warning(warning: Any, t: Callable[..., str]) -> str:
    if isinstance(warning, dict):  # a structured warning: {"code": ..., values}
        code = str(warning.get("code", ""))
        key = f"dlm_page.warning_{code}"
        values = {k: v for k, v in warning.items() if k != "code"}
        try:
            text = t(key, **values)
        except (KeyError, IndexError, ValueError):
            text = key
        return str(warning.get("text") or warning) if text == key else text
    text = str(warning)
    match = _DISCONNECTED_SUM.search(text)
    if match:
        return t("dlm_page.warning_disconnected_sum", sum=match["sum"], limit=match["limit"])
    return text


def _known_addresses(dlm: Any) -> list[str]:
    known = dlm.snapshot.get("known_slaves") or {}
    if isinstance(known, dict):
        return sorted(str(k) for k in known)
    return sorted(str(k.get("address", "")) for k in known if isinstance(k, dict))


def _slave_state(slave: dict[str, Any]) -> str:
    if slave.get("online"):
        return "online"
    return "gone" if slave.get("gone") else "missing"


def _master_view(
    snap: dict[str, Any], t: Callable[..., str], zone: zoneinfo.ZoneInfo | None
) -> dict[str, Any]:
    slaves = []
    online: set[str] = set()
    for s in snap.get("slaves") or []:
        if not isinstance(s, dict):
            continue
        state = _slave_state(s)
        if state == "online":
            online.add(str(s.get("address", "")))
        connectors = []
        for c in s.get("connectors") or []:
            if not isinstance(c, dict):
                continue
            cp = CP_STATES.get(c.get("cp_state") or 0)
            connectors.append(
                {
                    "id": c.get("id", DASH),
                    "cp": t(f"pilot.{cp}") if cp else DASH,
                    "cp_code": cp or "",
                    "measured": phase_amps(c.get("measured_a")),
                    "setpoint": amps(c.get("setpoint_a")),
                    "allocated": amps(c.get("allocated_a")),
                }
            )
        slaves.append(
            {
                "address": str(s.get("address", DASH)),
                "state": state,
                "error": str(s.get("error") or ""),
                "network_id": DASH if s.get("network_id") is None else s.get("network_id"),
                "discovered": bool(s.get("discovered")),
                "connectors": connectors or [{"id": DASH, "cp": DASH, "cp_code": "",
                                              "measured": DASH, "setpoint": DASH,
                                              "allocated": DASH}],
            }
        )  # fmt: skip
    known_raw = snap.get("known_slaves") or {}
    if isinstance(known_raw, list):  # tolerate a list of entries with an "address"
        known_raw = {str(k.get("address", i)): k for i, k in enumerate(known_raw)}
    known = []
    for address, entry in sorted(known_raw.items()):
        entry = entry if isinstance(entry, dict) else {}
        known.append(
            {
                "address": str(address),
                "connectors": entry.get("connectors", DASH),
                "network_id": DASH if entry.get("network_id") is None else entry["network_id"],
                "last_seen": local_time(entry.get("last_seen"), zone),
                "online": str(address) in online,
                "discovered": bool(entry.get("discovered")),
            }
        )
    cycle_s = snap.get("cycle_s")
    phases = [
        (key, phase_cells(snap.get(key)))
        for key in PHASE_ROWS
        if key not in OPTIONAL_ROWS or snap.get(key) is not None
    ]
    binding = snap.get("binding")
    if isinstance(binding, (list, tuple)) and any(binding):
        phases.append(("binding", [str(b) if b else DASH for b in list(binding)[:3]]))
    meter = snap.get("meter")
    meter_text = ""
    if isinstance(meter, dict):
        state = str(meter.get("state") or "none")
        meter_text = t(f"energy_panel.meter_{state}") if state in METER_STATES else state
        if state != "none" and meter.get("age_s") is not None:
            meter_text += ", " + t("dlm_page.seconds_ago", s=f"{float(meter['age_s']):.1f}")
    limits = snap.get("limits")
    return {
        "role": str(snap.get("role") or "master"),
        "network_id": snap.get("network_id", DASH),
        "error": str(snap.get("error") or ""),
        "cycles": snap.get("cycles", 0),
        "cycle_ms": DASH if cycle_s is None else f"{float(cycle_s) * 1000:.0f}",
        "phases": phases,
        "meter": meter_text,
        "limits": None
        if not isinstance(limits, (list, tuple))
        else ", ".join(str(x) for x in limits) or t("dlm_page.no_limits"),
        "warnings": [translate_warning(w, t) for w in snap.get("warnings") or []],
        "slaves": slaves,
        "known": known,
    }


def _slave_view(snap: dict[str, Any], t: Callable[..., str]) -> dict[str, Any]:
    connected = bool(snap.get("connected"))
    age = snap.get("last_write_age_s")
    limit = snap.get("disconnected_limit_a")
    master = snap.get("master")
    if master:
        master_text = str(master)
    elif connected or age is not None or snap.get("discovered"):  # a master has written
        master_text = t("dlm_page.master_discovered")
    else:
        master_text = t("dlm_page.master_unknown")
    setpoints = []
    raw = snap.get("setpoints") or {}
    for cid, value in sorted(raw.items(), key=lambda kv: (len(str(kv[0])), str(kv[0]))):
        if age is None:
            written = DASH  # nothing written yet
        elif value is None:
            written = t("dlm_page.no_limit")
        else:
            written = f"{amps(value)} A"
        if not connected:
            applied = t("dlm_page.applied_disconnected", limit=amps(limit))
        else:
            applied = written
        setpoints.append({"id": cid, "written": written, "applied": applied})
    return {
        "role": "slave",
        "network_id": snap.get("network_id", DASH),
        "master": master_text,
        "master_configured": bool(master),
        "connected": connected,
        "age": DASH if age is None else f"{float(age):.1f}",
        "never_written": age is None,
        "disconnected_limit": amps(limit),
        "setpoints": setpoints,
    }


def dlm_view(runtime: Any, t: Callable[..., str]) -> dict[str, Any]:
    """What the page shows: ``{"kind": "off" | "master" | "slave", ...}``."""
    dlm = getattr(runtime, "dlm", None)
    if dlm is None:
        return {"kind": "off"}
    status = getattr(runtime, "dlm_status", None)  # with what discovery found
    snap = status() if callable(status) else dlm.snapshot
    snap = snap if isinstance(snap, dict) else {}
    if snap.get("role") == "slave":
        return {"kind": "slave", **_slave_view(snap, t)}
    zone, zone_name = station_zone(runtime)
    return {
        "kind": "master",
        "zone": zone_name,
        "can_clear": hasattr(dlm, "clear_table"),
        **_master_view(snap, t, zone),
    }


# --------------------------------------------------------------------------- the page


def install_dlm_page(ui: WebUI, app: FastAPI) -> None:
    runtime = ui.runtime
    installer = Depends(ui.auth.require("installer"))

    def translator(request: Request) -> Callable[..., str]:
        lang = ui.lang(request)

        def t(key: str, **values: Any) -> str:
            return ui.i18n.get(lang, key, **values)

        return t

    def page(
        request: Request,
        session: SessionRecord,
        template: str = "dlm.html",
        status_code: int = 200,
        message: str = "",
        error: str = "",
    ) -> HTMLResponse:
        return ui.render(
            request,
            template,
            session,
            status_code,
            dlm=dlm_view(runtime, translator(request)),
            message=message,
            error=error,
        )

    @app.get("/dlm", include_in_schema=False)
    async def dlm_page(request: Request, session: SessionRecord = installer) -> HTMLResponse:
        return page(request, session)

    @app.get("/dlm/live", include_in_schema=False)
    async def dlm_live(request: Request, session: SessionRecord = installer) -> HTMLResponse:
        return page(request, session, "_dlm_live.html")

    @app.post("/dlm/clear", include_in_schema=False)
    async def dlm_clear(request: Request, session: SessionRecord = installer) -> Response:
        t = translator(request)
        dlm = getattr(runtime, "dlm", None)
        if dlm is None or not hasattr(dlm, "clear_table"):
            return page(request, session, status_code=400, error=t("dlm_page.clear_no_master"))
        before = _known_addresses(dlm)
        removed = int(dlm.clear_table())
        after = _known_addresses(dlm)
        audit_change(
            request,
            "dlm.clear_table",
            "known slaves",
            ", ".join(before) or None,
            ", ".join(after) or "",
        )
        if removed == 0:
            message = t("dlm_page.cleared_none")
        elif removed == 1:
            message = t("dlm_page.cleared_one")
        else:
            message = t("dlm_page.cleared", n=removed)
        return page(request, session, message=message)
