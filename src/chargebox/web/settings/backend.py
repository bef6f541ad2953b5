"""Backend page: where the station connects to (CSMS URL, identity, security profile) and
what it says about itself in BootNotification.

URL, identity and template live in `StateStore` `backend.*`, BootNotification fields in
`boot.*` (only where they differ from the station file); `Runtime.apply_backend()` applies
them live (the OCPP client reconnects and boots again). SecurityProfile and
AuthorizationKey are OCPP keys (`Configuration.change`).
"""

from __future__ import annotations

import re
from typing import Any

from chargebox.web.api import station_status
from chargebox.web.auth import audit_change
from chargebox.web.settings.forms import (
    Outcome,
    Posted,
    Section,
    Translator,
    ValueForm,
    field_maker,
    stripped,
)

_BOOT_FIELDS: list[tuple[str, str, int]] = [  # (OCPP field, catalogue key, CiString length)
    ("chargePointVendor", "backend.vendor", 20),
    ("chargePointModel", "backend.model", 20),
    ("chargePointSerialNumber", "backend.cp_serial", 25),
    ("chargeBoxSerialNumber", "backend.cb_serial", 25),
    ("firmwareVersion", "backend.firmware", 50),
    ("iccid", "backend.iccid", 20),
    ("imsi", "backend.imsi", 20),
    ("meterType", "backend.meter_type", 25),
    ("meterSerialNumber", "backend.meter_serial", 25),
]
_CONNECTION = ("csms_url", "identity", "identity_template")  # StateStore `backend.*`
_NAMES = (*_CONNECTION, "security_profile", *(name for name, _, _ in _BOOT_FIELDS))
_IDENTITY = re.compile(r"^[A-Za-z0-9_.:\-]{1,48}$")
_PROFILES = ("0", "1", "2", "3")


class BackendForm(ValueForm):
    """The CSMS connection and the BootNotification fields."""

    audit_action = "settings.backend"

    def values(self) -> dict[str, str]:
        rt = self.runtime
        boot = rt.boot_fields()
        values = {
            "csms_url": rt.csms_url or "",
            "identity": rt.identity,
            "identity_template": self.state.get("backend", "identity_template") or "",
            "security_profile": self.config.get("SecurityProfile"),
        }
        for name, _, _ in _BOOT_FIELDS:
            values[name] = boot.get(name, "")
        return values

    def sections(
        self, values: dict[str, str], errors: dict[str, str], t: Translator
    ) -> list[Section]:
        f = field_maker(values, errors, t, secret=frozenset({"authorization_key"}))
        key_set = bool(self.config.get("AuthorizationKey"))
        return [
            Section(
                "backend.connection",
                [
                    f("csms_url", "backend.csms_url", hint="backend.csms_url_hint"),
                    f("identity", "backend.identity", hint="backend.identity_hint"),
                    f(
                        "identity_template",
                        "backend.identity_template",
                        hint="backend.identity_template_hint",
                    ),
                    f(
                        "security_profile",
                        "backend.security_profile",
                        options=[(p, f"backend.profile{p}") for p in _PROFILES],
                        hint="backend.security_profile_hint",
                    ),
                    f(
                        "authorization_key",
                        "backend.authorization_key",
                        hint="backend.key_set" if key_set else "backend.key_unset",
                    ),
                ],
            ),
            Section(
                "backend.boot",
                [
                    f(name, label, hint="backend.boot_hint" if name == "chargePointVendor" else "")
                    for name, label, _ in _BOOT_FIELDS
                ],
                note="backend.boot_note",
            ),
        ]

    def validate(self, form: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        """The form's values (identity filled from the template) and the problems found.

        The AuthorizationKey is checked here but kept out of the values: it is write-only
        and audited on its own, masked.
        """
        errors: dict[str, str] = {}
        values = stripped(form, _NAMES)
        url = values["csms_url"]
        if url and (not url.startswith(("ws://", "wss://")) or len(url) < 7 or " " in url):
            errors["csms_url"] = "backend.bad_url"
        template = values["identity_template"]
        if template:
            try:
                identity = template.format(
                    serial=values["chargePointSerialNumber"],
                    model=values["chargePointModel"],
                    vendor=values["chargePointVendor"],
                )
            except (KeyError, IndexError, ValueError):
                errors["identity_template"] = "backend.bad_template"
            else:
                values["identity"] = identity
                if not _IDENTITY.match(identity):
                    errors["identity_template"] = "backend.bad_identity"
        if not _IDENTITY.match(values["identity"]) and "identity_template" not in errors:
            errors["identity"] = "backend.bad_identity"
        for name, _, length in _BOOT_FIELDS:
            if len(values[name]) > length:
                errors[name] = f"backend.too_long_{length}"
        for name in ("chargePointVendor", "chargePointModel"):
            if not values[name]:
                errors[name] = "form.required"
        if problem := self._profile_problem(values["security_profile"], url):
            errors["security_profile"] = problem
        key = form.get("authorization_key", "")
        if key:
            try:
                self.config.normalize("AuthorizationKey", key)
            except ValueError:
                errors["authorization_key"] = "backend.bad_key"
        return values, errors

    def _profile_problem(self, profile: str, url: str) -> str:
        """SecurityProfile may only go up, and only to what this station can do."""
        if profile not in _PROFILES:
            return "form.range"
        if int(profile) < self.config.get_int("SecurityProfile"):
            return "backend.profile_only_up"
        if profile == "3":
            return "backend.profile3_unsupported"
        if profile == "2" and url and not url.startswith("wss://"):
            return "backend.profile2_needs_wss"
        return ""

    def apply(self, posted: Posted) -> Outcome:
        """Reconnect with the new values; when that cannot happen live, offer the restart."""
        request, values, changed = posted.request, posted.values, posted.changed
        key = posted.form.get("authorization_key", "")
        if key:
            self.config.change("AuthorizationKey", key)
            audit_change(request, "settings.backend", "AuthorizationKey", "?", "?", secret=True)
        if "security_profile" in changed:
            self.config.change("SecurityProfile", values["security_profile"])
        for name in _CONNECTION:
            if name in changed:
                self.state.set("backend", name, values[name])
        file_boot = self.runtime.file.ocpp.boot.ocpp_fields()
        for name, _, _ in _BOOT_FIELDS:
            if name not in changed:
                continue
            if values[name] == file_boot.get(name, ""):
                self.state.delete("boot", name)
            else:
                self.state.set("boot", name, values[name])
        live = self.runtime.apply_backend() if changed or key else True
        return Outcome(self.view(posted.t), saved=True, restart_needed=not live, live_applied=live)

    def context(self) -> dict[str, Any]:
        """The connection status card above the form (refreshed by htmx)."""
        return {"extra": "_backend_status.html", "status": station_status(self.runtime)}
