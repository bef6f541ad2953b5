"""Installation page: the current limits of the station, the site and each connector.

Station limits are `StateStore` `installation.station`, applied live; site and connector
wiring are `installation.site` / `installation.connectors`, applied at the next start by
`app.apply_stored_overrides` (their fields carry the restart mark).
"""

from __future__ import annotations

from typing import Any

from chargebox.web.settings.forms import (
    Outcome,
    Posted,
    Section,
    Translator,
    ValueForm,
    applied,
    field_maker,
    parse_float,
    stripped,
)

_LIVE = ("min_current_a", "installation_limit_a", "operator_limit_a")
_PHASES = ("l1", "l2", "l3")
_ROTATIONS = ["RST", "RTS", "SRT", "STR", "TRS", "TSR"]
_SITE = [  # (field prefix, site attribute, catalogue key): one field per phase each
    ("grid", "grid_limit_a", "installation.grid"),
    ("line", "supply_line_limit_a", "installation.supply_line"),
    ("sub", "subdistribution_limit_a", "installation.subdistribution"),
    ("opsub", "operator_subdistribution_limit_a", "installation.operator_subdistribution"),
]
_OPTIONAL = "installation.optional"
_CONNECTOR: list[tuple[str, str, dict[str, Any]]] = [  # (field suffix, label, editor options)
    ("hardware", "installation.hardware", {"minimum": 6, "maximum": 80}),
    (
        "installation",
        "installation.installation_limit",
        {"minimum": 0, "maximum": 80, "hint": _OPTIONAL},
    ),
    ("operator", "installation.operator_limit", {"minimum": 0, "maximum": 80, "hint": _OPTIONAL}),
    (
        "phases",
        "installation.phases",
        {"options": [("1", "installation.phases1"), ("3", "installation.phases3")]},
    ),
    (
        "rotation",
        "installation.rotation",
        {
            "options": [(r, f"installation.rot_{r}") for r in _ROTATIONS],
            "hint": "installation.rotation_hint",
        },
    ),
]


def _num(v: float | None) -> str:
    return "" if v is None else f"{v:g}"


class InstallationForm(ValueForm):
    """Limits in amperes: station (live), site and connectors (after a restart)."""

    audit_action = "settings.installation"

    def values(self) -> dict[str, str]:
        rt = self.runtime
        s = rt.station.settings
        file = rt.file
        site = file.site
        values = {name: _num(getattr(s, name)) for name in _LIVE}
        saved_site = self.state.get("installation", "site") or {}
        for key, name, _ in _SITE:
            value = saved_site.get(name) if name in saved_site else None
            if value is None and site is not None and name != "supply_line_limit_a":
                value = getattr(site, name)
            if value is None and site is not None and name == "supply_line_limit_a":
                line = next((g for g in site.groups if g.name == "supply_line"), None)
                value = line.limit_a if line else None
            for i, phase in enumerate(_PHASES):
                values[f"{key}_{phase}"] = "" if value is None else _num(value[i])
        wiring = {c.id: c for c in site.connectors} if site is not None else {}
        for c in file.connector_list():
            w = wiring.get(c.id)
            values[f"c{c.id}_hardware"] = _num(c.max_current_a)
            values[f"c{c.id}_installation"] = _num(w.installation_limit_a if w else None)
            values[f"c{c.id}_operator"] = _num(w.operator_limit_a if w else None)
            values[f"c{c.id}_phases"] = str((w.phases if w else None) or c.phases)
            values[f"c{c.id}_rotation"] = w.rotation if w else "RST"
        return values

    def sections(
        self, values: dict[str, str], errors: dict[str, str], t: Translator
    ) -> list[Section]:
        f = field_maker(values, errors, t, kind="number")
        sections = [
            Section(
                "installation.station",
                [
                    f(
                        "min_current_a",
                        "installation.min_current",
                        minimum=6,
                        maximum=80,
                        hint="installation.min_current_hint",
                    ),
                    f(
                        "installation_limit_a",
                        "installation.installation_limit",
                        minimum=0,
                        maximum=1000,
                        hint=_OPTIONAL,
                    ),
                    f(
                        "operator_limit_a",
                        "installation.operator_limit",
                        minimum=0,
                        maximum=1000,
                        hint="installation.operator_hint",
                    ),
                ],
                note="installation.live_note",
            ),
        ]
        site_fields = [
            f(
                f"{key}_{phase}",
                label,
                restart=True,
                minimum=0,
                maximum=10000,
                hint=f"installation.{phase}",
            )
            for key, _, label in _SITE
            for phase in _PHASES
        ]
        sections.append(Section("installation.site", site_fields, note="installation.site_note"))
        for cid in self.runtime.station.connectors:
            fields = [
                f(f"c{cid}_{suffix}", label, restart=True, **options)
                for suffix, label, options in _CONNECTOR
            ]
            sections.append(Section(t("installation.connector", id=cid), fields, raw_title=True))
        return sections

    def parse(self, values: dict[str, str]) -> tuple[dict[str, str], dict[str, Any]]:
        """The problems of the values, and their numbers as the StateStore keeps them."""
        errors: dict[str, str] = {}
        parsed: dict[str, Any] = {}

        def num(name: str, lo: float, hi: float, optional: bool = True) -> float | None:
            value, problem = parse_float(values, name, lo, hi, optional=optional)
            if problem:
                errors[name] = problem
            parsed[name] = value
            return value

        num("min_current_a", 6, 80, optional=False)
        inst = num("installation_limit_a", 0.1, 1000)
        op = num("operator_limit_a", 0.1, 1000)
        if inst is not None and op is not None and op > inst:
            errors["operator_limit_a"] = "installation.op_above_inst"
        site: dict[str, Any] = {}
        for key, name, _ in _SITE:
            triple = [num(f"{key}_{p}", 0, 10000) for p in _PHASES]
            given = [v for v in triple if v is not None]
            if given and len(given) != 3:
                for p, v in zip(_PHASES, triple, strict=True):
                    if v is None:
                        errors.setdefault(f"{key}_{p}", "installation.all_phases")
            site[name] = triple if len(given) == 3 else None
        if site["operator_subdistribution_limit_a"] and site["subdistribution_limit_a"]:
            for i, p in enumerate(_PHASES):
                if site["operator_subdistribution_limit_a"][i] > site["subdistribution_limit_a"][i]:
                    errors[f"opsub_{p}"] = "installation.opsub_above_sub"
        if site["grid_limit_a"] is None and any(site.values()):
            errors["grid_l1"] = "installation.grid_needed"
        connectors: dict[str, dict[str, Any]] = {}
        for c in self.runtime.file.connector_list():
            hw = num(f"c{c.id}_hardware", 6, 80, optional=False)
            ci = num(f"c{c.id}_installation", 0.1, 80)
            co = num(f"c{c.id}_operator", 0.1, 80)
            if hw is not None and ci is not None and ci > hw:
                errors[f"c{c.id}_installation"] = "installation.inst_above_hw"
            if ci is not None and co is not None and co > ci:
                errors[f"c{c.id}_operator"] = "installation.op_above_inst"
            elif hw is not None and co is not None and co > hw:
                errors[f"c{c.id}_operator"] = "installation.op_above_hw"
            phases = values[f"c{c.id}_phases"]
            if phases not in ("1", "3") or int(phases) > c.phases:
                errors[f"c{c.id}_phases"] = "installation.phases_above_hw"
            rotation = values[f"c{c.id}_rotation"]
            if rotation not in _ROTATIONS:
                errors[f"c{c.id}_rotation"] = "form.range"
            connectors[str(c.id)] = {
                "max_current_a": hw,
                "installation_limit_a": ci,
                "operator_limit_a": co,
                "phases": int(phases) if phases in ("1", "3") else None,
                "rotation": rotation,
            }
        return errors, {**parsed, "connectors": connectors, "site": site}

    def validate(self, form: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        values = stripped(form, self.values())
        return values, self.parse(values)[0]

    def apply(self, posted: Posted) -> Outcome:
        """Station limits at once; site and connectors stored for the next start."""
        parsed = self.parse(posted.values)[1]
        live = {k: parsed[k] for k in _LIVE}
        self.state.set("installation", "station", live)
        self.runtime.apply_station_settings(**live)
        restart = [n for n in posted.changed if n not in live]
        if restart:
            self.state.set("installation", "connectors", parsed["connectors"])
            site = {k: v for k, v in parsed["site"].items() if v is not None}
            self.state.set("installation", "site", site)
        return applied(self.sections(posted.values, {}, posted.t), restart_needed=bool(restart))
