"""Date and time page: time zone, where the clock comes from, and setting it once from the
browser's clock.

The values are `StateStore` `time.settings`, handed to the platform adapter like the
network settings; setting the clock is a one-off action, audited but not stored.
"""

from __future__ import annotations

import re
import time
import zoneinfo
from typing import Any

from chargebox.web.auth import audit_change
from chargebox.web.settings.forms import (
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
    "timezone": "UTC",
    "source": "ntp",
    "ntp_server": "pool.ntp.org",
}
_SOURCES = ("ntp", "ocpp", "manual")
_EARLIEST, _LATEST = 1_577_836_800, 4_102_444_800  # 2020 .. 2100: a browser's sane clock
_ZONES: list[str] = []


def zones() -> list[str]:
    """The IANA zones, read once (the datalist of the zone field and the validation)."""
    if not _ZONES:
        _ZONES.extend(sorted(zoneinfo.available_timezones() | {"UTC"}))
    return _ZONES


def _browser_clock(form: dict[str, str]) -> float | None:
    """The browser's clock in seconds when the form asks to set it; ValueError if implausible."""
    if form.get("set_clock") != "1":
        return None
    epoch = float(form.get("browser_epoch_ms", "")) / 1000
    if not _EARLIEST <= epoch <= _LATEST:
        raise ValueError(epoch)
    return epoch


class ClockForm(ValueForm):
    """Time zone and source are settings; the browser's clock is a one-off."""

    audit_action = "settings.time"

    def values(self) -> dict[str, str]:
        return {**_DEFAULTS, **(self.state.get("time", "settings") or {})}

    def sections(
        self, values: dict[str, str], errors: dict[str, str], t: Translator
    ) -> list[Section]:
        f = field_maker(values, errors, t)
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
                        options=[(s, f"datetime.{s}") for s in _SOURCES],
                        hint="datetime.source_hint",
                    ),
                    f("ntp_server", "datetime.ntp_server"),
                    f(
                        "browser_time",
                        "datetime.browser_time",
                        kind="browser_time",
                        hint="datetime.browser_hint",
                    ),
                ],
                note="network.platform_note",
            ),
        ]

    def validate(self, form: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        values = stripped(form, _DEFAULTS)
        errors: dict[str, str] = {}
        if values["timezone"] not in zones():
            errors["timezone"] = "datetime.bad_zone"
        if values["source"] not in _SOURCES:
            errors["source"] = "form.range"
        server = values["ntp_server"]
        if values["source"] == "ntp" and not server:
            errors["ntp_server"] = "form.required"
        elif server and not re.fullmatch(r"[A-Za-z0-9.\-:\[\]]{1,253}", server):
            errors["ntp_server"] = "datetime.bad_server"
        try:
            _browser_clock(form)
        except ValueError:
            errors["browser_time"] = "datetime.bad_browser_time"
        return values, errors

    def apply(self, posted: Posted) -> Outcome:
        """Stored and handed to the platform; the clock set when the box was ticked."""
        values = posted.values
        self.state.set("time", "settings", values)
        if posted.changed:
            self.runtime.platform.apply_time(dict(values))
        epoch = _browser_clock(posted.form)
        if epoch is not None:
            self.runtime.platform.set_clock(epoch)
            audit_change(posted.request, "settings.time", "clock", None, f"{epoch:.0f} (browser)")
        return applied(self.sections(values, {}, posted.t))

    def context(self) -> dict[str, Any]:
        """The zone list for the field's datalist and the station's clock to compare with."""
        return {"zones": zones(), "now": time.time()}
