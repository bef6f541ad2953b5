"""Authorization page: who may charge (mode, free charging, offline rules) and how tags are
compared, plus which lists the station consults.

The OCPP keys go through `Configuration.change`; mode and tag case are `StateStore`
`authorization.mode` / `tag_case`, applied live by `Runtime.apply_station_settings`.
"""

from __future__ import annotations

from chargebox.core.auth import TAG_CASES, AuthMode
from chargebox.core.config_keys import KeyType
from chargebox.web.settings.forms import (
    Field,
    Outcome,
    Posted,
    Section,
    Translator,
    ValueForm,
    applied,
    checked,
    field_maker,
)

_KEYS = (
    "FreeChargingEnabled",
    "FreeChargingIdTag",
    "FreeChargingWhenOffline",
    "AllowOfflineTxForUnknownId",
    "LocalAuthListEnabled",
    "AuthorizationCacheEnabled",
    "LocalPreAuthorize",
    "LocalAuthorizeOffline",
    "AuthorizeRemoteTxRequests",
)
_MODES = [m.value for m in AuthMode]


class AuthorizationForm(ValueForm):
    """OCPP authorization keys and the station's own mode and tag case."""

    audit_action = "settings.authorization"

    def values(self) -> dict[str, str]:
        s = self.runtime.station.settings
        values = {k: self.config.get(k) for k in _KEYS}
        values["mode"] = s.auth_mode.value
        values["tag_case"] = s.tag_case
        return values

    def sections(
        self, values: dict[str, str], errors: dict[str, str], t: Translator
    ) -> list[Section]:
        f = field_maker(values, errors, t)

        def check(name: str, label: str, hint: str = "") -> Field:
            return f(name, label, kind="checkbox", hint=hint)

        return [
            Section(
                "authz.who",
                [
                    f(
                        "mode",
                        "authz.mode",
                        options=[
                            ("auto", "authz.mode_auto"),
                            ("free", "authz.mode_free"),
                            ("rfid", "authz.mode_rfid"),
                        ],
                        hint="authz.mode_hint",
                    ),
                    check("FreeChargingEnabled", "authz.free", "authz.free_hint"),
                    f("FreeChargingIdTag", "authz.free_tag", hint="authz.free_tag_hint"),
                    check("FreeChargingWhenOffline", "authz.free_offline"),
                    check(
                        "AllowOfflineTxForUnknownId",
                        "authz.unknown_offline",
                        "authz.unknown_offline_hint",
                    ),
                    check("AuthorizeRemoteTxRequests", "authz.remote_authorize"),
                ],
            ),
            Section(
                "authz.tags",
                [
                    f(
                        "tag_case",
                        "authz.tag_case",
                        options=[(c, f"authz.case_{c}") for c in TAG_CASES],
                        hint="authz.tag_case_hint",
                    ),
                ],
            ),
            Section(
                "authz.lists",
                [
                    check("LocalAuthListEnabled", "authz.local_list", "authz.local_list_hint"),
                    check("AuthorizationCacheEnabled", "authz.cache"),
                    check("LocalPreAuthorize", "authz.pre_authorize"),
                    check("LocalAuthorizeOffline", "authz.authorize_offline"),
                ],
                note="authz.lists_note",
            ),
        ]

    def validate(self, form: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        new = self.values()
        errors: dict[str, str] = {}
        for name in _KEYS:
            if self.config.key(name).type is KeyType.BOOLEAN:
                new[name] = checked(form, name)
            else:
                new[name] = form.get(name, "").strip()
                try:
                    self.config.normalize(name, new[name])
                except ValueError:
                    errors[name] = "authz.bad_tag"
        new["mode"] = form.get("mode", "")
        if new["mode"] not in _MODES:
            errors["mode"] = "form.range"
        new["tag_case"] = form.get("tag_case", "")
        if new["tag_case"] not in TAG_CASES:
            errors["tag_case"] = "form.range"
        return new, errors

    def apply(self, posted: Posted) -> Outcome:
        """OCPP keys that changed, then mode and tag case, all live."""
        new = posted.values
        for name in _KEYS:
            if name in posted.changed:
                self.config.change(name, new[name])
        self.state.set("authorization", "mode", new["mode"])
        self.state.set("authorization", "tag_case", new["tag_case"])
        self.runtime.apply_station_settings(
            auth_mode=AuthMode(new["mode"]), tag_case=new["tag_case"]
        )
        return applied(self.view(posted.t))
