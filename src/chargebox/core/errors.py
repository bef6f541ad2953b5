"""Error catalogue (data/errors.toml): what each station error reports over OCPP.

The hardware and control layers raise errors by our code name (e.g. "ground_failure"); the
catalogue decides the OCPP ChargePointErrorCode, whether the connector goes Faulted, and
whether a running transaction must stop, so that policy lives in one table.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

__all__ = [
    "INFO_MAX_LENGTH",
    "OCPP_ERROR_CODES",
    "ErrorDef",
    "Scope",
    "Severity",
    "load_catalogue",
    "most_severe",
    "parse_catalogue",
]

#: The ChargePointErrorCode enumeration of OCPP 1.6 (§7.6).
OCPP_ERROR_CODES: frozenset[str] = frozenset(
    {
        "ConnectorLockFailure",
        "EVCommunicationError",
        "GroundFailure",
        "HighTemperature",
        "InternalError",
        "LocalListConflict",
        "NoError",
        "OtherError",
        "OverCurrentFailure",
        "OverVoltage",
        "PowerMeterFailure",
        "PowerSwitchFailure",
        "ReaderFailure",
        "ResetFailure",
        "UnderVoltage",
        "WeakSignal",
    }
)

#: StatusNotification.req `info` is CiString50Type; vendorErrorCode is also CiString50Type.
INFO_MAX_LENGTH = 50

_DATA_FILE = "errors.toml"


class Severity(StrEnum):
    """fault: the connector/station goes Faulted; warning: reported with the current status."""

    FAULT = "fault"
    WARNING = "warning"


class Scope(StrEnum):
    """Where an error may be reported: connectorId > 0, connectorId 0, or either."""

    CONNECTOR = "connector"
    STATION = "station"
    BOTH = "both"


@dataclass(frozen=True, slots=True)
class ErrorDef:
    """One catalogue entry. `rank` is its position in the file: lower is reported first."""

    code: str
    ocpp_error_code: str
    vendor_error_code: str | None
    scope: Scope
    severity: Severity
    stops_transaction: bool
    description: str
    source: str
    info: str | None = None
    rank: int = 0

    @property
    def faults(self) -> bool:
        """Whether this error makes the connector (or station) Faulted."""
        return self.severity is Severity.FAULT

    def applies_to(self, connector_id: int) -> bool:
        """Whether the error may be reported on this connector (0 = the station)."""
        if self.scope is Scope.BOTH:
            return True
        return (connector_id == 0) == (self.scope is Scope.STATION)


_FIELDS: dict[str, type] = {
    "ocpp_error_code": str,
    "vendor_error_code": str,
    "scope": str,
    "severity": str,
    "stops_transaction": bool,
    "info": str,
    "description": str,
    "source": str,
}
_MANDATORY = ("ocpp_error_code", "scope", "severity", "stops_transaction", "description", "source")


def _parse_entry(code: str, table: Any, rank: int) -> ErrorDef:
    def fail(problem: str) -> ValueError:
        return ValueError(f"error catalogue: {code}: {problem}")

    if not code.isidentifier() or code != code.lower():
        raise fail("code must be a snake_case identifier")
    if not isinstance(table, Mapping):
        raise fail("entry is not a table")
    unknown = sorted(set(table) - set(_FIELDS))
    if unknown:
        raise fail(f"unknown field(s) {', '.join(unknown)}")
    missing = [field for field in _MANDATORY if field not in table]
    if missing:
        raise fail(f"missing field(s) {', '.join(missing)}")
    for field, raw in table.items():
        if not isinstance(raw, _FIELDS[field]):
            raise fail(f"field {field} has the wrong type: {raw!r}")
    ocpp_code = table["ocpp_error_code"]
    if ocpp_code not in OCPP_ERROR_CODES:
        raise fail(f"ocpp_error_code {ocpp_code!r} is not an OCPP 1.6 ChargePointErrorCode")
    if ocpp_code == "NoError":
        raise fail("NoError is the absence of an error, not a catalogue entry")
    for field in ("info", "vendor_error_code"):
        text = table.get(field)
        if text is not None and not 0 < len(text) <= INFO_MAX_LENGTH:
            raise fail(f"{field} must be 1 to {INFO_MAX_LENGTH} characters")
    try:
        scope = Scope(table["scope"])
        severity = Severity(table["severity"])
    except ValueError as exc:
        raise fail(str(exc)) from None
    return ErrorDef(
        code=code,
        ocpp_error_code=ocpp_code,
        vendor_error_code=table.get("vendor_error_code"),
        scope=scope,
        severity=severity,
        stops_transaction=table["stops_transaction"],
        description=table["description"],
        source=table["source"],
        info=table.get("info"),
        rank=rank,
    )


def parse_catalogue(data: Mapping[str, Any]) -> dict[str, ErrorDef]:
    """Build and validate a catalogue from the parsed TOML document (file order = rank)."""
    unknown = sorted(set(data) - {"errors"})
    if unknown:
        raise ValueError(f"error catalogue: unknown top-level table(s) {', '.join(unknown)}")
    tables = data.get("errors")
    if not isinstance(tables, Mapping) or not tables:
        raise ValueError("error catalogue: no [errors.*] tables")
    return {
        code: _parse_entry(code, table, rank) for rank, (code, table) in enumerate(tables.items())
    }


@cache
def load_catalogue() -> Mapping[str, ErrorDef]:
    """The packaged catalogue, parsed and validated once; read-only, in file order."""
    text = resources.files("chargebox.core").joinpath("data", _DATA_FILE).read_text("utf-8")
    return MappingProxyType(parse_catalogue(tomllib.loads(text)))


def most_severe(errors: Iterable[ErrorDef]) -> ErrorDef | None:
    """The active error a StatusNotification reports: faults before warnings, then file order.

    OCPP carries one errorCode per notification, so the others wait until this one clears.
    """
    return min(errors, key=lambda e: (e.severity is not Severity.FAULT, e.rank), default=None)
