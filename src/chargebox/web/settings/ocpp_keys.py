"""OCPP keys page: every key of the registry, grouped by feature profile.

Saving goes through `Configuration.change`, so it is persisted and checked exactly like a
ChangeConfiguration from the backend; the page shows each key's resulting status.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from chargebox.core.config_keys import Access, ChangeStatus, ConfigKey, KeyType
from chargebox.web.auth import audit_change
from chargebox.web.settings.forms import (
    Field,
    Outcome,
    Section,
    SettingsForm,
    Translator,
    checked,
    rejected,
)

_PROFILE_ORDER = [
    "Core",
    "LocalAuthListManagement",
    "SmartCharging",
    "FirmwareManagement",
    "Reservation",
    "RemoteTrigger",
    "Security",
    "Vendor",
]


class OcppKeysForm(SettingsForm):
    """Errors here are already translated: they carry the registry's reason."""

    def key_field(
        self, key: ConfigKey, error: str = "", status: str = "", value: str | None = None
    ) -> Field:
        """The editor that fits the key's access and type (checkbox, select, number...)."""
        current = self.config.get(key.name) if value is None else value
        hint = key.description
        if key.unit:
            hint = f"[{key.unit}] {hint}"
        common: dict[str, Any] = {
            "raw_label": True,
            "raw_hint": hint,
            "restart": key.reboot_required,
            "error": error,
            "status": status,
        }
        if key.access is Access.W:
            return Field(key.name, key.name, kind="password", **common)
        if key.readonly:
            return Field(key.name, key.name, kind="readonly", value=current, **common)
        if key.type is KeyType.BOOLEAN:
            return Field(key.name, key.name, kind="checkbox", value=current == "true", **common)
        if key.allowed and key.type in (KeyType.INTEGER, KeyType.STRING):
            options = [(a, a) for a in key.allowed]
            return Field(
                key.name, key.name, kind="select", value=current, options=options, **common
            )
        if key.type is KeyType.INTEGER:
            return Field(
                key.name,
                key.name,
                kind="number",
                value=current,
                minimum=key.minimum,
                maximum=key.maximum,
                step="1",
                **common,
            )
        if key.type is KeyType.CSL:
            allowed = ", ".join(key.allowed or ())
            common["raw_hint"] = f"{hint} ({allowed})" if allowed else hint
        return Field(key.name, key.name, value=current, **common)

    def sections(
        self,
        errors: dict[str, str] | None = None,
        statuses: dict[str, str] | None = None,
        values: dict[str, str] | None = None,
    ) -> list[Section]:
        errors, statuses, values = errors or {}, statuses or {}, values or {}
        groups: dict[str, list[Field]] = {}
        for key in self.config.registry.values():
            groups.setdefault(key.profile, []).append(
                self.key_field(
                    key, errors.get(key.name, ""), statuses.get(key.name, ""), values.get(key.name)
                )
            )
        return [Section(f"ocpp_keys.profile_{p}", groups[p]) for p in _PROFILE_ORDER if p in groups]

    def wanted(self, form: dict[str, str]) -> dict[str, str]:
        """The keys the form changes: write-only ones when typed, the rest when different."""
        wanted: dict[str, str] = {}
        for key in self.config.registry.values():
            if key.readonly:
                continue
            if key.access is Access.W:
                if form.get(key.name):
                    wanted[key.name] = form[key.name]
                continue
            if key.type is KeyType.BOOLEAN:
                value = checked(form, key.name)
            elif key.name not in form:
                continue
            else:
                value = form[key.name].strip() if key.type is not KeyType.STRING else form[key.name]
            if value != self.config.get(key.name):
                wanted[key.name] = value
        return wanted

    def problems(self, wanted: dict[str, str], t: Translator) -> dict[str, str]:
        """What the registry would reject, checked before anything is changed."""
        errors: dict[str, str] = {}
        for name, value in wanted.items():
            key = self.config.key(name)
            try:
                canonical = self.config.normalize(name, value)
            except ValueError as exc:
                problem = getattr(exc, "problem", str(exc))
                errors[name] = t("ocpp_keys.rejected", reason=problem)
                continue
            if key.only_increase and int(canonical) < self.config.get_int(name):
                errors[name] = t("ocpp_keys.rejected", reason=t("ocpp_keys.only_increase"))
        return errors

    def view(self, t: Translator) -> list[Section]:
        return self.sections()

    def save(self, request: Request, form: dict[str, str], t: Translator) -> Outcome:
        wanted = self.wanted(form)
        # Validate everything first: one Rejected value changes nothing of the form.
        errors = self.problems(wanted, t)
        if errors:
            return rejected(self.sections(errors=errors, values=wanted))
        statuses: dict[str, str] = {}
        reboot = False
        for name, value in wanted.items():
            key = self.config.key(name)
            old = self.config.get(name)
            status = self.config.change(name, value)
            if status is ChangeStatus.REJECTED:  # a dependency moved under it (CSL lengths)
                errors[name] = t("ocpp_keys.rejected", reason=status.value)
                continue
            statuses[name] = status.value
            reboot = reboot or status is ChangeStatus.REBOOT_REQUIRED
            audit_change(
                request,
                "settings.ocpp_key",
                name,
                old,
                self.config.get(name),
                secret=key.secret or key.access is Access.W,
            )
        return Outcome(
            self.sections(errors, statuses),
            status_code=400 if errors else 200,
            saved=not errors,
            restart_needed=reboot,
        )
