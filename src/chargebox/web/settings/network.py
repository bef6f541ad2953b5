"""Network page: Ethernet (IPv4/IPv6), DNS, the mobile modem and which uplink to use.

The values are `StateStore` `network.settings`, handed to the platform adapter
(`chargebox.platform`; the simulated default only logs). APN password and SIM PIN are
write-only: an empty field keeps the stored secret.
"""

from __future__ import annotations

import ipaddress
import re

from chargebox.web.settings.forms import (
    Field,
    Outcome,
    Posted,
    Section,
    Translator,
    ValueForm,
    applied,
    field_maker,
    stripped,
)

_DEFAULTS: dict[str, str] = {
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
_SECRET = frozenset({"apn_password", "sim_pin"})
_FAMILIES: dict[int, tuple[str, int, list[tuple[str, str]]]] = {
    # IP version: (mode field, longest prefix, the modes as (value, catalogue key))
    4: ("eth_mode", 32, [("dhcp", "network.dhcp"), ("static", "network.static")]),
    6: (
        "ipv6_mode",
        128,
        [("auto", "network.slaac"), ("static", "network.static"), ("off", "network.off")],
    ),
}


def _addr(text: str, version: int) -> str:
    """'' when `text` is an address of IP `version`, else the catalogue key of the problem."""
    try:
        return "" if ipaddress.ip_address(text).version == version else "network.wrong_family"
    except ValueError:
        return "network.bad_address"


def _prefix_ok(text: str, bits: int) -> bool:
    """A prefix length the address family allows (0..32 for IPv4, 0..128 for IPv6)."""
    return text.isdigit() and 0 <= int(text) <= bits


class NetworkForm(ValueForm):
    """Addresses are checked for their family and the gateway for its subnet."""

    audit_action = "settings.network"
    secret = _SECRET

    def values(self) -> dict[str, str]:
        return {**_DEFAULTS, **(self.state.get("network", "settings") or {})}

    def sections(
        self, values: dict[str, str], errors: dict[str, str], t: Translator
    ) -> list[Section]:
        f = field_maker(values, errors, t, secret=_SECRET)

        def family(version: int) -> list[Field]:
            """Mode, address, prefix and gateway of IPv4 or IPv6: the same four editors."""
            mode, bits, modes = _FAMILIES[version]
            ip = f"ipv{version}"
            return [
                f(mode, f"network.{ip}_mode", options=modes),
                f(f"{ip}_address", "network.address", hint=f"network.{ip}_hint"),
                f(
                    f"{ip}_prefix",
                    "network.prefix",
                    kind="number",
                    minimum=0,
                    maximum=bits,
                    step="1",
                ),
                f(f"{ip}_gateway", "network.gateway"),
            ]

        def secret_hint(name: str) -> str:
            return "network.secret_set" if values.get(name) else "network.secret_unset"

        return [
            Section(
                "network.ethernet",
                [*family(4), *family(6)],
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
                        options=[("ethernet", "network.ethernet"), ("mobile", "network.mobile")],
                        hint="network.uplink_hint",
                    ),
                ],
                note="network.platform_note",
            ),
        ]

    def validate(self, form: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        old = self.values()
        values = stripped(form, _DEFAULTS)
        for name in _SECRET:  # empty = keep the stored secret
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
            if not _prefix_ok(values["ipv4_prefix"], _FAMILIES[4][1]):
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
            if not _prefix_ok(values["ipv6_prefix"], _FAMILIES[6][1]):
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

    def apply(self, posted: Posted) -> Outcome:
        """Stored, and handed to the platform when something changed."""
        self.state.set("network", "settings", posted.values)
        if posted.changed:
            self.runtime.platform.apply_network(dict(posted.values))
        return applied(self.sections(posted.values, {}, posted.t))
