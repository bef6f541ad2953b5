"""Settings pages of the web interface: backend, OCPP keys, authorization, whitelists,
installation and load management, network, date and time.

Every page has Reload (a fresh GET: unsaved edits are dropped, the station's values shown)
and Save (a form POST with the session's CSRF token). Save validates on the server; a bad
value is shown next to its field and nothing of the form is applied. Each applied change
goes into the audit log (`audit_change`, secrets masked). A field that only takes effect
after a restart carries the restart mark, and after saving one the page offers the restart.

Where a page's values live:

- Backend: `StateStore` `backend.*` (URL, identity, template) and `boot.*` (BootNotification
  fields) — applied live by `Runtime.apply_backend()` (the OCPP client reconnects and boots
  again); SecurityProfile and AuthorizationKey are OCPP keys (`Configuration.change`).
- OCPP keys: `Configuration.change`, persisted like a ChangeConfiguration.
- Authorization: OCPP keys plus `StateStore` `authorization.mode` / `tag_case`, live.
- Installation: `StateStore` `installation.station` (live), `installation.connectors` and
  `installation.site` (applied at the next start by `app.apply_stored_overrides`).
- Network, date and time: `StateStore` `network.settings` / `time.settings`, handed to the
  platform adapter (`chargebox.platform`; the simulated default only logs).
"""

from __future__ import annotations

import ipaddress
import re
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from chargebox.core.auth import TAG_CASES, AuthMode
from chargebox.core.config_keys import Access, ChangeStatus, ConfigKey, KeyType
from chargebox.store.users import SessionRecord
from chargebox.store.whitelist import WhitelistEntry
from chargebox.store.whitelist_csv import (
    MAX_ENTRIES,
    export_csv,
    parse_csv,
    parse_expiry,
    parse_uid,
)
from chargebox.web.api import station_status
from chargebox.web.auth import audit_change

if TYPE_CHECKING:
    from chargebox.web.ui import WebUI

__all__ = ["install_settings_pages"]

PAGE_SIZE = 10  # whitelist entries per page (seed-001 §4.3)
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
_IDENTITY = re.compile(r"^[A-Za-z0-9_.:\-]{1,48}$")
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
_ROTATIONS = ["RST", "RTS", "SRT", "STR", "TRS", "TSR"]


@dataclass
class Field:
    """One editor on a settings page."""

    name: str
    label: str  # catalogue key, or plain text with `raw_label`
    kind: str = "text"  # text number select checkbox password readonly
    value: Any = ""
    options: list[tuple[str, str]] = field(default_factory=list)  # (value, catalogue key)
    minimum: float | None = None
    maximum: float | None = None
    step: str = "any"
    restart: bool = False
    hint: str = ""  # catalogue key
    raw_hint: str = ""  # plain text (e.g. a key's description from the registry)
    raw_label: bool = False
    error: str = ""
    status: str = ""  # OCPP keys: Accepted / RebootRequired shown after saving


@dataclass
class Section:
    title: str  # catalogue key, or plain text with raw_title
    fields: list[Field]
    raw_title: bool = False
    note: str = ""  # catalogue key


# ------------------------------------------------------------------------ validation


def _float(
    form: dict[str, str], name: str, lo: float, hi: float, *, optional: bool = True
) -> tuple[float | None, str]:
    text = form.get(name, "").strip().replace(",", ".")
    if not text:
        return None, "" if optional else "form.required"
    try:
        value = float(text)
    except ValueError:
        return None, "form.not_a_number"
    if not lo <= value <= hi:
        return None, "form.range"
    return value, ""


def _addr(text: str, version: int, *, network: bool = False) -> str:
    """'' when valid, else the catalogue key of the problem."""
    try:
        if network:
            net = ipaddress.ip_interface(text)
            return "" if net.version == version else "network.wrong_family"
        return "" if ipaddress.ip_address(text).version == version else "network.wrong_family"
    except ValueError:
        return "network.bad_address"


class SettingsPages:
    def __init__(self, ui: WebUI, app: FastAPI) -> None:
        self.ui = ui
        self.runtime = ui.runtime
        self.state = ui.runtime.state
        self.config = ui.runtime.config
        self._routes(app)

    # -------------------------------------------------------------- helpers

    def t(self, request: Request) -> Callable[..., str]:
        lang = self.ui.lang(request)
        return lambda key, **values: self.ui.i18n.get(lang, key, **values)

    def form_page(
        self,
        request: Request,
        session: SessionRecord,
        title: str,
        sections: list[Section],
        *,
        status_code: int = 200,
        saved: bool = False,
        restart_needed: bool = False,
        live_applied: bool = False,
        extra: str = "",
        **context: Any,
    ) -> HTMLResponse:
        return self.ui.render(
            request,
            "settings_form.html",
            session,
            status_code,
            title=title,
            sections=sections,
            saved=saved,
            failed=status_code == 400,
            restart_needed=restart_needed,
            live_applied=live_applied,
            extra=extra,
            **context,
        )

    @staticmethod
    async def form(request: Request) -> dict[str, str]:
        data = await request.form()
        return {k: v for k, v in data.items() if isinstance(v, str)}

    def audit_many(
        self,
        request: Request,
        action: str,
        old: dict[str, Any],
        new: dict[str, Any],
        secret: frozenset[str] = frozenset(),
    ) -> list[str]:
        """One audit entry per changed value; returns the changed names."""
        changed = []
        for name in sorted(set(old) | set(new)):
            if old.get(name) != new.get(name):
                changed.append(name)
                audit_change(
                    request, action, name, old.get(name), new.get(name), secret=name in secret
                )
        return changed

    # ------------------------------------------------------------------ backend

    def backend_values(self) -> dict[str, str]:
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

    def backend_sections(
        self, values: dict[str, str], errors: dict[str, str], t: Callable[..., str]
    ) -> list[Section]:
        def f(name: str, label: str, **kw: Any) -> Field:
            return Field(
                name,
                label,
                value=values.get(name, ""),
                error=t(errors[name]) if name in errors else "",
                **kw,
            )

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
                        kind="select",
                        options=[
                            ("0", "backend.profile0"),
                            ("1", "backend.profile1"),
                            ("2", "backend.profile2"),
                            ("3", "backend.profile3"),
                        ],
                        hint="backend.security_profile_hint",
                    ),
                    Field(
                        "authorization_key",
                        "backend.authorization_key",
                        kind="password",
                        hint="backend.key_set" if key_set else "backend.key_unset",
                        error=t(errors["authorization_key"])
                        if "authorization_key" in errors
                        else "",
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

    def validate_backend(self, form: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        errors: dict[str, str] = {}
        values = {k: form.get(k, "").strip() for k in self.backend_values()}
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
        profile = values["security_profile"]
        if profile not in ("0", "1", "2", "3"):
            errors["security_profile"] = "form.range"
        elif int(profile) < self.config.get_int("SecurityProfile"):
            errors["security_profile"] = "backend.profile_only_up"
        elif profile == "3":
            errors["security_profile"] = "backend.profile3_unsupported"
        elif profile == "2" and url and not url.startswith("wss://"):
            errors["security_profile"] = "backend.profile2_needs_wss"
        key = form.get("authorization_key", "")
        if key:
            try:
                self.config.normalize("AuthorizationKey", key)
            except ValueError:
                errors["authorization_key"] = "backend.bad_key"
        values["authorization_key"] = key
        return values, errors

    async def backend_get(
        self, request: Request, session: SessionRecord, **kw: Any
    ) -> HTMLResponse:
        t = self.t(request)
        values = kw.pop("values", None) or self.backend_values()
        errors = kw.pop("errors", {})
        return self.form_page(
            request,
            session,
            "backend.title",
            self.backend_sections(values, errors, t),
            extra="_backend_status.html",
            status=station_status(self.runtime),
            **kw,
        )

    async def backend_post(self, request: Request, session: SessionRecord) -> HTMLResponse:
        form = await self.form(request)
        values, errors = self.validate_backend(form)
        if errors:
            return await self.backend_get(
                request, session, values=values, errors=errors, status_code=400
            )
        old = self.backend_values()
        key = values.pop("authorization_key")
        new = dict(values)
        changed = self.audit_many(request, "settings.backend", old, new)
        if key:
            self.config.change("AuthorizationKey", key)
            audit_change(request, "settings.backend", "AuthorizationKey", "?", "?", secret=True)
        if "security_profile" in changed:
            self.config.change("SecurityProfile", values["security_profile"])
        rt = self.runtime
        for name in ("csms_url", "identity", "identity_template"):
            if name in changed:
                self.state.set("backend", name, values[name])
        file_boot = rt.file.ocpp.boot.ocpp_fields()
        for name, _, _ in _BOOT_FIELDS:
            if name not in changed:
                continue
            if values[name] == file_boot.get(name, ""):
                self.state.delete("boot", name)
            else:
                self.state.set("boot", name, values[name])
        live = True
        if changed or key:
            live = rt.apply_backend()
        return await self.backend_get(
            request, session, saved=True, restart_needed=not live, live_applied=live
        )

    # ----------------------------------------------------------------- OCPP keys

    def key_field(
        self, key: ConfigKey, error: str = "", status: str = "", value: str | None = None
    ) -> Field:
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
        if key.type is KeyType.INTEGER:
            if key.allowed:
                opts = [(a, a) for a in key.allowed]
                return Field(
                    key.name, key.name, kind="select", value=current, options=opts, **common
                )
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
        if key.type is KeyType.STRING and key.allowed:
            return Field(
                key.name,
                key.name,
                kind="select",
                value=current,
                options=[(a, a) for a in key.allowed],
                **common,
            )
        if key.type is KeyType.CSL:
            allowed = ", ".join(key.allowed or ())
            common["raw_hint"] = f"{hint} ({allowed})" if allowed else hint
        return Field(key.name, key.name, value=current, **common)

    def key_sections(
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

    async def keys_post(self, request: Request, session: SessionRecord) -> HTMLResponse:
        form = await self.form(request)
        t = self.t(request)
        wanted: dict[str, str] = {}
        for key in self.config.registry.values():
            if key.readonly:
                continue
            if key.access is Access.W:
                if form.get(key.name):
                    wanted[key.name] = form[key.name]
                continue
            if key.type is KeyType.BOOLEAN:
                value = "true" if form.get(key.name) in ("true", "on") else "false"
            elif key.name not in form:
                continue
            else:
                value = form[key.name].strip() if key.type is not KeyType.STRING else form[key.name]
            if value != self.config.get(key.name):
                wanted[key.name] = value
        # Validate everything first: one Rejected value changes nothing of the form.
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
        if errors:
            return self.form_page(
                request,
                session,
                "ocpp_keys.title",
                self.key_sections(errors=errors, values=wanted),
                status_code=400,
            )
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
        return self.form_page(
            request,
            session,
            "ocpp_keys.title",
            self.key_sections(errors, statuses),
            status_code=400 if errors else 200,
            saved=not errors,
            restart_needed=reboot,
        )

    # -------------------------------------------------------------- authorization

    _AUTH_KEYS = (
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

    def auth_values(self) -> dict[str, str]:
        s = self.runtime.station.settings
        values = {k: self.config.get(k) for k in self._AUTH_KEYS}
        values["mode"] = s.auth_mode.value
        values["tag_case"] = s.tag_case
        return values

    def auth_sections(
        self, values: dict[str, str], errors: dict[str, str], t: Callable[..., str]
    ) -> list[Section]:
        def err(name: str) -> str:
            return t(errors[name]) if name in errors else ""

        def check(name: str, label: str, hint: str = "") -> Field:
            return Field(
                name,
                label,
                kind="checkbox",
                value=values[name] == "true",
                hint=hint,
                error=err(name),
            )

        return [
            Section(
                "authz.who",
                [
                    Field(
                        "mode",
                        "authz.mode",
                        kind="select",
                        value=values["mode"],
                        options=[
                            ("auto", "authz.mode_auto"),
                            ("free", "authz.mode_free"),
                            ("rfid", "authz.mode_rfid"),
                        ],
                        hint="authz.mode_hint",
                        error=err("mode"),
                    ),
                    check("FreeChargingEnabled", "authz.free", "authz.free_hint"),
                    Field(
                        "FreeChargingIdTag",
                        "authz.free_tag",
                        value=values["FreeChargingIdTag"],
                        hint="authz.free_tag_hint",
                        error=err("FreeChargingIdTag"),
                    ),
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
                    Field(
                        "tag_case",
                        "authz.tag_case",
                        kind="select",
                        value=values["tag_case"],
                        options=[(c, f"authz.case_{c}") for c in TAG_CASES],
                        hint="authz.tag_case_hint",
                        error=err("tag_case"),
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

    async def auth_post(self, request: Request, session: SessionRecord) -> HTMLResponse:
        form = await self.form(request)
        t = self.t(request)
        old = self.auth_values()
        new = dict(old)
        errors: dict[str, str] = {}
        for name in self._AUTH_KEYS:
            if self.config.key(name).type is KeyType.BOOLEAN:
                new[name] = "true" if form.get(name) in ("true", "on") else "false"
            else:
                new[name] = form.get(name, "").strip()
                try:
                    self.config.normalize(name, new[name])
                except ValueError:
                    errors[name] = "authz.bad_tag"
        new["mode"] = form.get("mode", "")
        if new["mode"] not in [m.value for m in AuthMode]:
            errors["mode"] = "form.range"
        new["tag_case"] = form.get("tag_case", "")
        if new["tag_case"] not in TAG_CASES:
            errors["tag_case"] = "form.range"
        if errors:
            return self.form_page(
                request, session, "authz.title", self.auth_sections(new, errors, t), status_code=400
            )
        self.audit_many(request, "settings.authorization", old, new)
        for name in self._AUTH_KEYS:
            if new[name] != old[name]:
                self.config.change(name, new[name])
        self.state.set("authorization", "mode", new["mode"])
        self.state.set("authorization", "tag_case", new["tag_case"])
        self.runtime.apply_station_settings(
            auth_mode=AuthMode(new["mode"]), tag_case=new["tag_case"]
        )
        return self.form_page(
            request,
            session,
            "authz.title",
            self.auth_sections(self.auth_values(), {}, t),
            saved=True,
            live_applied=True,
        )

    # ----------------------------------------------------------------- whitelists

    def whitelist_page(
        self, request: Request, session: SessionRecord, status_code: int = 200, **kw: Any
    ) -> HTMLResponse:
        rt = self.runtime
        try:
            page = max(1, int(request.query_params.get("page", "1")))
        except ValueError:
            page = 1
        show_deleted = request.query_params.get("deleted") == "1"
        entries = rt.whitelist.all(include_deleted=show_deleted)
        pages = max(1, -(-len(entries) // PAGE_SIZE))
        page = min(page, pages)
        return self.ui.render(
            request,
            "whitelists.html",
            session,
            status_code,
            entries=entries[(page - 1) * PAGE_SIZE : page * PAGE_SIZE],
            total=len(rt.whitelist),
            page=page,
            pages=pages,
            show_deleted=show_deleted,
            max_entries=MAX_ENTRIES,
            connectors=list(rt.station.connectors),
            local_list=rt.local_list.all(),
            local_list_version=rt.local_list.version(),
            local_list_enabled=self.config.get_bool("LocalAuthListEnabled"),
            cache=rt.auth_cache.all(),
            **kw,
        )

    async def whitelist_post(self, request: Request, session: SessionRecord) -> Response:
        form = await self.form(request)
        action = form.get("action", "")
        wl = self.runtime.whitelist
        uid = form.get("uid", "").strip()
        where = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if action == "add":
            errors: dict[str, str] = {}
            parsed = parse_uid(uid)
            connector: int | None = None
            if parsed is None or "_" in uid:
                errors["uid"] = "whitelists.bad_uid"
            text = form.get("connector_id", "").strip()
            if text:
                if not text.isdigit() or int(text) not in self.runtime.station.connectors:
                    errors["connector_id"] = "whitelists.bad_connector"
                else:
                    connector = int(text)
            typed = form.get("expiry", "").strip().replace(" ", "T")
            if len(typed) == 16:  # a browser's datetime-local without seconds
                typed += ":00"
            try:
                expiry = parse_expiry(typed)
            except ValueError:
                errors["expiry"] = "whitelists.bad_expiry"
                expiry = None
            gid = form.get("gid", "").strip()
            if len(gid) > 20:
                errors["gid"] = "whitelists.bad_gid"
            authorization = form.get("authorization", "Accepted")
            if authorization not in ("Accepted", "Blocked"):
                errors["authorization"] = "form.range"
            existing = wl.get(uid, include_deleted=True) if not errors else None
            if not errors and existing is None and len(wl) >= MAX_ENTRIES:
                errors["uid"] = "whitelists.full"
            if errors:
                return self.whitelist_page(request, session, 400, errors=errors, add=form)
            entry = WhitelistEntry(uid, authorization, gid or None, expiry, connector)
            wl.upsert(entry)
            audit_change(request, "whitelist.add", uid, _describe(existing), _describe(entry))
            return self.whitelist_page(request, session, message="whitelists.saved")
        if action in ("accept", "block", "delete", "restore"):
            found = wl.get(uid, include_deleted=True)
            if found is None:
                return self.whitelist_page(request, session, 404, message="whitelists.no_such")
            entry = found
            if action in ("accept", "block"):
                status = "Accepted" if action == "accept" else "Blocked"
                wl.upsert(
                    WhitelistEntry(
                        entry.uid,
                        status,
                        entry.gid,
                        entry.expiry,
                        entry.connector_id,
                        entry.deleted,
                    )
                )
                audit_change(request, "whitelist." + action, uid, entry.authorization, status)
            elif action == "delete":
                wl.delete(entry.uid)
                audit_change(request, "whitelist.delete", uid, _describe(entry), "deleted")
            else:
                if not entry.deleted or len(wl) >= MAX_ENTRIES:
                    return self.whitelist_page(request, session, 409, message="whitelists.full")
                wl.restore(entry.uid)
                audit_change(request, "whitelist.restore", uid, "deleted", _describe(entry))
            return RedirectResponse(where, status_code=303)
        if action == "clear_cache":
            count = len(self.runtime.auth_cache.all())
            self.runtime.auth_cache.clear()
            audit_change(request, "whitelist.clear_cache", "authorization cache", count, 0)
            return self.whitelist_page(request, session, message="whitelists.cache_cleared")
        return self.whitelist_page(request, session, 400, message="whitelists.unknown_action")

    async def whitelist_import(self, request: Request, session: SessionRecord) -> HTMLResponse:
        form = await request.form()
        mode = str(form.get("mode") or "")
        upload = form.get("file")
        t = self.t(request)
        if mode not in ("update", "replace") or upload is None or isinstance(upload, str):
            return self.whitelist_page(request, session, 400, message="whitelists.no_file")
        data = await upload.read()
        parsed = parse_csv(data, max(self.runtime.station.connectors))
        wl = self.runtime.whitelist
        problems = [(p.line, p.reason) for p in parsed.problems]
        if not problems and mode == "update":
            known = {e.uid.casefold() for e in wl.all()}
            total = len(known | {e.uid.casefold() for e in parsed.entries})
            if total > MAX_ENTRIES:
                problems.append((parsed.lines, t("whitelists.too_many", n=total, max=MAX_ENTRIES)))
        if problems:
            return self.whitelist_page(
                request,
                session,
                400,
                import_problems=problems,
                import_name=getattr(upload, "filename", ""),
            )
        before = len(wl)
        if mode == "replace":
            wl.replace_all(parsed.entries)
        else:
            wl.update_many(parsed.entries)
        audit_change(
            request,
            f"whitelist.import_{mode}",
            getattr(upload, "filename", "") or "csv",
            f"{before} cards",
            f"{len(wl)} cards ({len(parsed.entries)} imported)",
        )
        return self.whitelist_page(
            request,
            session,
            message="whitelists.imported",
            imported=len(parsed.entries),
            processed=parsed.lines,
        )

    # ------------------------------------------------------------- installation

    def install_values(self) -> dict[str, str]:
        rt = self.runtime
        s = rt.station.settings
        file = rt.file
        site = file.site

        def num(v: float | None) -> str:
            return "" if v is None else f"{v:g}"

        values = {
            "min_current_a": num(s.min_current_a),
            "installation_limit_a": num(s.installation_limit_a),
            "operator_limit_a": num(s.operator_limit_a),
        }
        saved_site = self.state.get("installation", "site") or {}
        for name, key in (
            ("grid_limit_a", "grid"),
            ("supply_line_limit_a", "line"),
            ("subdistribution_limit_a", "sub"),
            ("operator_subdistribution_limit_a", "opsub"),
        ):
            value = saved_site.get(name) if name in saved_site else None
            if value is None and site is not None and name != "supply_line_limit_a":
                value = getattr(site, name)
            if value is None and site is not None and name == "supply_line_limit_a":
                line = next((g for g in site.groups if g.name == "supply_line"), None)
                value = line.limit_a if line else None
            for i, phase in enumerate(("l1", "l2", "l3")):
                values[f"{key}_{phase}"] = "" if value is None else num(value[i])
        wiring = {c.id: c for c in site.connectors} if site is not None else {}
        for c in file.connector_list():
            w = wiring.get(c.id)
            values[f"c{c.id}_hardware"] = num(c.max_current_a)
            values[f"c{c.id}_installation"] = num(w.installation_limit_a if w else None)
            values[f"c{c.id}_operator"] = num(w.operator_limit_a if w else None)
            values[f"c{c.id}_phases"] = str((w.phases if w else None) or c.phases)
            values[f"c{c.id}_rotation"] = w.rotation if w else "RST"
        return values

    def install_sections(
        self, values: dict[str, str], errors: dict[str, str], t: Callable[..., str]
    ) -> list[Section]:
        def f(name: str, label: str, **kw: Any) -> Field:
            return Field(
                name,
                label,
                kind=kw.pop("kind", "number"),
                value=values.get(name, ""),
                error=t(errors[name]) if name in errors else "",
                **kw,
            )

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
                        hint="installation.optional",
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
        site_fields = []
        for key, label in (
            ("grid", "installation.grid"),
            ("line", "installation.supply_line"),
            ("sub", "installation.subdistribution"),
            ("opsub", "installation.operator_subdistribution"),
        ):
            for phase in ("l1", "l2", "l3"):
                site_fields.append(
                    f(
                        f"{key}_{phase}",
                        label,
                        restart=True,
                        minimum=0,
                        maximum=10000,
                        hint=f"installation.{phase}",
                    )
                )
        sections.append(Section("installation.site", site_fields, note="installation.site_note"))
        for cid in self.runtime.station.connectors:
            sections.append(
                Section(
                    t("installation.connector", id=cid),
                    [
                        f(
                            f"c{cid}_hardware",
                            "installation.hardware",
                            restart=True,
                            minimum=6,
                            maximum=80,
                        ),
                        f(
                            f"c{cid}_installation",
                            "installation.installation_limit",
                            restart=True,
                            minimum=0,
                            maximum=80,
                            hint="installation.optional",
                        ),
                        f(
                            f"c{cid}_operator",
                            "installation.operator_limit",
                            restart=True,
                            minimum=0,
                            maximum=80,
                            hint="installation.optional",
                        ),
                        f(
                            f"c{cid}_phases",
                            "installation.phases",
                            kind="select",
                            restart=True,
                            options=[("1", "installation.phases1"), ("3", "installation.phases3")],
                        ),
                        f(
                            f"c{cid}_rotation",
                            "installation.rotation",
                            kind="select",
                            restart=True,
                            options=[(r, f"installation.rot_{r}") for r in _ROTATIONS],
                            hint="installation.rotation_hint",
                        ),
                    ],
                    raw_title=True,
                )
            )
        return sections

    def validate_install(
        self, form: dict[str, str]
    ) -> tuple[dict[str, str], dict[str, str], dict[str, Any]]:
        values = {k: form.get(k, "").strip() for k in self.install_values()}
        errors: dict[str, str] = {}
        parsed: dict[str, Any] = {}

        def num(name: str, lo: float, hi: float, optional: bool = True) -> float | None:
            value, problem = _float(values, name, lo, hi, optional=optional)
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
        for key, name in (
            ("grid", "grid_limit_a"),
            ("line", "supply_line_limit_a"),
            ("sub", "subdistribution_limit_a"),
            ("opsub", "operator_subdistribution_limit_a"),
        ):
            triple = [num(f"{key}_{p}", 0, 10000) for p in ("l1", "l2", "l3")]
            given = [v for v in triple if v is not None]
            if given and len(given) != 3:
                for p, v in zip(("l1", "l2", "l3"), triple, strict=True):
                    if v is None:
                        errors.setdefault(f"{key}_{p}", "installation.all_phases")
            site[name] = triple if len(given) == 3 else None
        if site["operator_subdistribution_limit_a"] and site["subdistribution_limit_a"]:
            for i, p in enumerate(("l1", "l2", "l3")):
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
        return values, errors, {**parsed, "connectors": connectors, "site": site}

    async def install_post(self, request: Request, session: SessionRecord) -> HTMLResponse:
        form = await self.form(request)
        t = self.t(request)
        old = self.install_values()
        values, errors, parsed = self.validate_install(form)
        if errors:
            return self.form_page(
                request,
                session,
                "installation.title",
                self.install_sections(values, errors, t),
                status_code=400,
            )
        changed = self.audit_many(request, "settings.installation", old, values)
        live = {k: parsed[k] for k in ("min_current_a", "installation_limit_a", "operator_limit_a")}
        self.state.set("installation", "station", live)
        self.runtime.apply_station_settings(**live)
        restart = [n for n in changed if n not in live]
        if restart:
            self.state.set("installation", "connectors", parsed["connectors"])
            site = {k: v for k, v in parsed["site"].items() if v is not None}
            self.state.set("installation", "site", site)
        return self.form_page(
            request,
            session,
            "installation.title",
            self.install_sections(values, {}, t),
            saved=True,
            restart_needed=bool(restart),
            live_applied=True,
        )

    # ------------------------------------------------------------------ network

    _NET_DEFAULTS: dict[str, str] = {
        "eth_mode": "dhcp",
        "ipv4_address": "",
        "ipv4_prefix": "24",
        "ipv4_gateway": "",
        "ipv6_mode": "auto",
        "ipv6_address": "",
        "ipv6_prefix": "64",
        "ipv6_gateway": "",
        "dns_primary": "",
        "dns_secondary": "",
        "apn": "",
        "apn_username": "",
        "apn_password": "",
        "sim_pin": "",
        "uplink": "ethernet",
    }
    _NET_SECRET = frozenset({"apn_password", "sim_pin"})

    def net_values(self) -> dict[str, str]:
        return {**self._NET_DEFAULTS, **(self.state.get("network", "settings") or {})}

    def net_sections(
        self, values: dict[str, str], errors: dict[str, str], t: Callable[..., str]
    ) -> list[Section]:
        def f(name: str, label: str, **kw: Any) -> Field:
            secret = name in self._NET_SECRET
            return Field(
                name,
                label,
                kind=kw.pop("kind", "password" if secret else "text"),
                value="" if secret else values.get(name, ""),
                error=t(errors[name]) if name in errors else "",
                **kw,
            )

        def secret_hint(name: str) -> str:
            return "network.secret_set" if values.get(name) else "network.secret_unset"

        return [
            Section(
                "network.ethernet",
                [
                    f(
                        "eth_mode",
                        "network.ipv4_mode",
                        kind="select",
                        options=[("dhcp", "network.dhcp"), ("static", "network.static")],
                    ),
                    f("ipv4_address", "network.address", hint="network.ipv4_hint"),
                    f(
                        "ipv4_prefix",
                        "network.prefix",
                        kind="number",
                        minimum=0,
                        maximum=32,
                        step="1",
                    ),
                    f("ipv4_gateway", "network.gateway"),
                    f(
                        "ipv6_mode",
                        "network.ipv6_mode",
                        kind="select",
                        options=[
                            ("auto", "network.slaac"),
                            ("static", "network.static"),
                            ("off", "network.off"),
                        ],
                    ),
                    f("ipv6_address", "network.address", hint="network.ipv6_hint"),
                    f(
                        "ipv6_prefix",
                        "network.prefix",
                        kind="number",
                        minimum=0,
                        maximum=128,
                        step="1",
                    ),
                    f("ipv6_gateway", "network.gateway"),
                ],
            ),
            Section(
                "network.dns",
                [
                    f("dns_primary", "network.dns_primary", hint="network.dns_hint"),
                    f("dns_secondary", "network.dns_secondary"),
                ],
            ),
            Section(
                "network.mobile",
                [
                    f("apn", "network.apn"),
                    f("apn_username", "network.apn_username"),
                    f("apn_password", "network.apn_password", hint=secret_hint("apn_password")),
                    f("sim_pin", "network.sim_pin", hint=secret_hint("sim_pin")),
                ],
            ),
            Section(
                "network.uplink_title",
                [
                    f(
                        "uplink",
                        "network.uplink",
                        kind="select",
                        options=[("ethernet", "network.ethernet"), ("mobile", "network.mobile")],
                        hint="network.uplink_hint",
                    ),
                ],
                note="network.platform_note",
            ),
        ]

    def validate_net(self, form: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        old = self.net_values()
        values = {k: form.get(k, "").strip() for k in self._NET_DEFAULTS}
        for name in self._NET_SECRET:  # empty = keep the stored secret
            if not values[name]:
                values[name] = old.get(name, "")
        errors: dict[str, str] = {}
        if values["eth_mode"] not in ("dhcp", "static"):
            errors["eth_mode"] = "form.range"
        if values["eth_mode"] == "static":
            for name in ("ipv4_address", "ipv4_gateway"):
                if not values[name]:
                    errors[name] = "form.required"
                elif problem := _addr(values[name], 4):
                    errors[name] = problem
            if not values["ipv4_prefix"].isdigit() or not 0 <= int(values["ipv4_prefix"]) <= 32:
                errors["ipv4_prefix"] = "form.range"
            elif "ipv4_address" not in errors and "ipv4_gateway" not in errors:
                net = ipaddress.ip_interface(f"{values['ipv4_address']}/{values['ipv4_prefix']}")
                if ipaddress.ip_address(values["ipv4_gateway"]) not in net.network:
                    errors["ipv4_gateway"] = "network.gateway_outside"
        if values["ipv6_mode"] not in ("auto", "static", "off"):
            errors["ipv6_mode"] = "form.range"
        if values["ipv6_mode"] == "static":
            if not values["ipv6_address"]:
                errors["ipv6_address"] = "form.required"
            elif problem := _addr(values["ipv6_address"], 6):
                errors["ipv6_address"] = problem
            if values["ipv6_gateway"] and (problem := _addr(values["ipv6_gateway"], 6)):
                errors["ipv6_gateway"] = problem
            if not values["ipv6_prefix"].isdigit() or not 0 <= int(values["ipv6_prefix"]) <= 128:
                errors["ipv6_prefix"] = "form.range"
        for name in ("dns_primary", "dns_secondary"):
            if values[name]:
                try:
                    ipaddress.ip_address(values[name])
                except ValueError:
                    errors[name] = "network.bad_address"
        if len(values["apn"]) > 100 or any(c.isspace() for c in values["apn"]):
            errors["apn"] = "network.bad_apn"
        if values["sim_pin"] and not re.fullmatch(r"\d{4,8}", values["sim_pin"]):
            errors["sim_pin"] = "network.bad_pin"
        for name in ("apn_username", "apn_password"):
            if len(values[name]) > 64:
                errors[name] = "form.range"
        if values["uplink"] not in ("ethernet", "mobile"):
            errors["uplink"] = "form.range"
        elif values["uplink"] == "mobile" and not values["apn"]:
            errors["apn"] = "network.apn_needed"
        return values, errors

    async def net_post(self, request: Request, session: SessionRecord) -> HTMLResponse:
        form = await self.form(request)
        t = self.t(request)
        values, errors = self.validate_net(form)
        if errors:
            return self.form_page(
                request,
                session,
                "network.title",
                self.net_sections(values, errors, t),
                status_code=400,
            )
        old = self.net_values()
        changed = self.audit_many(request, "settings.network", old, values, self._NET_SECRET)
        self.state.set("network", "settings", values)
        if changed:
            self.runtime.platform.apply_network(dict(values))
        return self.form_page(
            request,
            session,
            "network.title",
            self.net_sections(values, {}, t),
            saved=True,
            live_applied=True,
        )

    # ---------------------------------------------------------------- date/time

    _TIME_DEFAULTS: dict[str, str] = {
        "timezone": "UTC",
        "source": "ntp",
        "ntp_server": "pool.ntp.org",
    }

    def time_values(self) -> dict[str, str]:
        return {**self._TIME_DEFAULTS, **(self.state.get("time", "settings") or {})}

    def time_sections(
        self, values: dict[str, str], errors: dict[str, str], t: Callable[..., str]
    ) -> list[Section]:
        def f(name: str, label: str, **kw: Any) -> Field:
            return Field(
                name,
                label,
                kind=kw.pop("kind", "text"),
                value=values.get(name, ""),
                error=t(errors[name]) if name in errors else "",
                **kw,
            )

        return [
            Section(
                "datetime.zone",
                [
                    f("timezone", "datetime.timezone", hint="datetime.timezone_hint"),
                ],
            ),
            Section(
                "datetime.source_title",
                [
                    f(
                        "source",
                        "datetime.source",
                        kind="select",
                        options=[
                            ("ntp", "datetime.ntp"),
                            ("ocpp", "datetime.ocpp"),
                            ("manual", "datetime.manual"),
                        ],
                        hint="datetime.source_hint",
                    ),
                    f("ntp_server", "datetime.ntp_server"),
                    Field(
                        "browser_time",
                        "datetime.browser_time",
                        kind="browser_time",
                        hint="datetime.browser_hint",
                        error=t(errors["browser_time"]) if "browser_time" in errors else "",
                    ),
                ],
                note="network.platform_note",
            ),
        ]

    async def time_post(self, request: Request, session: SessionRecord) -> HTMLResponse:
        form = await self.form(request)
        t = self.t(request)
        values = {k: form.get(k, "").strip() for k in self._TIME_DEFAULTS}
        errors: dict[str, str] = {}
        if values["timezone"] not in _zones():
            errors["timezone"] = "datetime.bad_zone"
        if values["source"] not in ("ntp", "ocpp", "manual"):
            errors["source"] = "form.range"
        server = values["ntp_server"]
        if values["source"] == "ntp" and not server:
            errors["ntp_server"] = "form.required"
        elif server and not re.fullmatch(r"[A-Za-z0-9.\-:\[\]]{1,253}", server):
            errors["ntp_server"] = "datetime.bad_server"
        epoch: float | None = None
        if form.get("set_clock") == "1":
            try:
                epoch = float(form.get("browser_epoch_ms", "")) / 1000
                if not 1_577_836_800 <= epoch <= 4_102_444_800:  # 2020 .. 2100
                    raise ValueError
            except ValueError:
                errors["browser_time"] = "datetime.bad_browser_time"
        if errors:
            return self.form_page(
                request,
                session,
                "datetime.title",
                self.time_sections(values, errors, t),
                status_code=400,
                zones=_zones(),
                now=time.time(),
            )
        old = self.time_values()
        changed = self.audit_many(request, "settings.time", old, values)
        self.state.set("time", "settings", values)
        if changed:
            self.runtime.platform.apply_time(dict(values))
        if epoch is not None:
            self.runtime.platform.set_clock(epoch)
            audit_change(request, "settings.time", "clock", None, f"{epoch:.0f} (browser)")
        return self.form_page(
            request,
            session,
            "datetime.title",
            self.time_sections(values, {}, t),
            saved=True,
            live_applied=True,
            zones=_zones(),
            now=time.time(),
        )

    # ------------------------------------------------------------------- routes

    def _routes(self, app: FastAPI) -> None:
        auth = self.ui.auth
        operator = Depends(auth.require("operator"))
        installer = Depends(auth.require("installer"))

        @app.get("/settings/backend", include_in_schema=False)
        async def backend(request: Request, session: SessionRecord = installer) -> HTMLResponse:
            return await self.backend_get(request, session)

        @app.post("/settings/backend", include_in_schema=False)
        async def backend_save(
            request: Request, session: SessionRecord = installer
        ) -> HTMLResponse:
            return await self.backend_post(request, session)

        @app.get("/settings/backend/status", include_in_schema=False)
        async def backend_status(
            request: Request, session: SessionRecord = installer
        ) -> HTMLResponse:
            return self.ui.render(
                request, "_backend_status.html", session, status=station_status(self.runtime)
            )

        @app.get("/settings/ocpp-keys", include_in_schema=False)
        async def keys(request: Request, session: SessionRecord = installer) -> HTMLResponse:
            return self.form_page(request, session, "ocpp_keys.title", self.key_sections())

        @app.post("/settings/ocpp-keys", include_in_schema=False)
        async def keys_save(request: Request, session: SessionRecord = installer) -> HTMLResponse:
            return await self.keys_post(request, session)

        @app.get("/settings/authorization", include_in_schema=False)
        async def authz(request: Request, session: SessionRecord = installer) -> HTMLResponse:
            return self.form_page(
                request,
                session,
                "authz.title",
                self.auth_sections(self.auth_values(), {}, self.t(request)),
            )

        @app.post("/settings/authorization", include_in_schema=False)
        async def authz_save(request: Request, session: SessionRecord = installer) -> HTMLResponse:
            return await self.auth_post(request, session)

        @app.get("/whitelists", include_in_schema=False)
        async def whitelists(request: Request, session: SessionRecord = operator) -> HTMLResponse:
            return self.whitelist_page(request, session)

        @app.post("/whitelists", include_in_schema=False, response_model=None)
        async def whitelists_change(
            request: Request, session: SessionRecord = operator
        ) -> Response:
            return await self.whitelist_post(request, session)

        @app.post("/whitelists/import", include_in_schema=False)
        async def whitelists_import(
            request: Request, session: SessionRecord = operator
        ) -> HTMLResponse:
            return await self.whitelist_import(request, session)

        @app.get("/whitelists/export.csv", include_in_schema=False)
        async def whitelists_export(
            request: Request, session: SessionRecord = operator
        ) -> Response:
            body = export_csv(self.runtime.whitelist.all())
            return Response(
                body,
                media_type="text/csv; charset=utf-8",
                headers={
                    "Content-Disposition": 'attachment; filename="whitelist.csv"',
                    "Cache-Control": "no-store",
                },
            )

        @app.get("/settings/installation", include_in_schema=False)
        async def install(request: Request, session: SessionRecord = installer) -> HTMLResponse:
            return self.form_page(
                request,
                session,
                "installation.title",
                self.install_sections(self.install_values(), {}, self.t(request)),
            )

        @app.post("/settings/installation", include_in_schema=False)
        async def install_save(
            request: Request, session: SessionRecord = installer
        ) -> HTMLResponse:
            return await self.install_post(request, session)

        @app.get("/settings/network", include_in_schema=False)
        async def network(request: Request, session: SessionRecord = installer) -> HTMLResponse:
            return self.form_page(
                request,
                session,
                "network.title",
                self.net_sections(self.net_values(), {}, self.t(request)),
            )

        @app.post("/settings/network", include_in_schema=False)
        async def network_save(
            request: Request, session: SessionRecord = installer
        ) -> HTMLResponse:
            return await self.net_post(request, session)

        @app.get("/settings/time", include_in_schema=False)
        async def time_page(request: Request, session: SessionRecord = installer) -> HTMLResponse:
            return self.form_page(
                request,
                session,
                "datetime.title",
                self.time_sections(self.time_values(), {}, self.t(request)),
                zones=_zones(),
                now=time.time(),
            )

        @app.post("/settings/time", include_in_schema=False)
        async def time_save(request: Request, session: SessionRecord = installer) -> HTMLResponse:
            return await self.time_post(request, session)

        @app.post("/settings/restart", include_in_schema=False)
        async def restart(request: Request, session: SessionRecord = installer) -> HTMLResponse:
            audit_change(request, "station.restart", "settings", None, "Soft")
            self.runtime.station.reset("Soft")
            return self.ui.render(request, "restarting.html", session)


def _describe(entry: WhitelistEntry | None) -> str | None:
    if entry is None:
        return None
    parts = [entry.authorization]
    if entry.gid:
        parts.append(f"gid={entry.gid}")
    if entry.expiry:
        parts.append(f"expiry={entry.expiry}")
    if entry.connector_id is not None:
        parts.append(f"connector={entry.connector_id}")
    return " ".join(parts)


_ZONES: list[str] = []


def _zones() -> list[str]:
    if not _ZONES:
        _ZONES.extend(sorted(zoneinfo.available_timezones() | {"UTC"}))
    return _ZONES


def install_settings_pages(ui: WebUI, app: FastAPI) -> SettingsPages:
    return SettingsPages(ui, app)
