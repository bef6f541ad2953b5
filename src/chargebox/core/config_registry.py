"""The OCPP 1.6 configuration-key registry: data/config_keys.toml, parsed and validated.

Declarative and strict on purpose: the table is the single source of what a key is, so an
unknown field, a wrong type or an invalid default fails at start-up, never at the first
ChangeConfiguration. Reading the packaged data file is this module's only I/O.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from enum import StrEnum
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from chargebox.core.config_values import (
    Access,
    ConfigKey,
    ConfigValueError,
    KeyType,
    Qualifier,
    normalize_value,
)

__all__ = ["PROFILES", "load_registry", "parse_registry"]

#: Profiles a key may belong to: the six OCPP 1.6 feature profiles, the security
#: whitepaper and vendor-specific keys from the manuals.
PROFILES = frozenset(
    {
        "Core",
        "FirmwareManagement",
        "LocalAuthListManagement",
        "Reservation",
        "SmartCharging",
        "RemoteTrigger",
        "Security",
        "Vendor",
    }
)

_DATA_FILE = "config_keys.toml"

# TOML field -> (ConfigKey attribute, accepted Python type(s)).
_FIELDS: dict[str, tuple[str, type | tuple[type, ...]]] = {
    "type": ("type", str),
    "default": ("default", str),
    "access": ("access", str),
    "profile": ("profile", str),
    "unit": ("unit", str),
    "min": ("minimum", int),
    "max": ("maximum", int),
    "allowed": ("allowed", list),
    "qualifier": ("qualifier", str),
    "max_items_key": ("max_items_key", str),
    "min_length": ("min_length", int),
    "max_length": ("max_length", int),
    "only_increase": ("only_increase", bool),
    "reboot_required": ("reboot_required", bool),
    "secret": ("secret", bool),
    "required": ("required", bool),
    "source": ("source", str),
    "description": ("description", str),
}
_MANDATORY = ("type", "default", "access", "profile", "source", "description")
# Fields that only make sense for some types.
_FIELD_TYPES: dict[str, frozenset[KeyType]] = {
    "unit": frozenset({KeyType.INTEGER}),
    "min": frozenset({KeyType.INTEGER}),
    "max": frozenset({KeyType.INTEGER}),
    "only_increase": frozenset({KeyType.INTEGER}),
    "allowed": frozenset({KeyType.INTEGER, KeyType.STRING, KeyType.CSL}),
    "qualifier": frozenset({KeyType.CSL}),
    "max_items_key": frozenset({KeyType.CSL}),
    "min_length": frozenset({KeyType.STRING}),
    "max_length": frozenset({KeyType.STRING}),
}


def _enum(enum: type[StrEnum], name: str, field: str, raw: str) -> Any:
    try:
        return enum(raw)
    except ValueError:
        choices = ", ".join(member.value for member in enum)
        raise ConfigValueError(name, f"{field} {raw!r} is not one of {choices}") from None


def _parse_key(name: str, table: Any, phases: tuple[str, ...]) -> ConfigKey:
    if not isinstance(table, Mapping):
        raise ConfigValueError(name, "entry is not a table")
    unknown = sorted(set(table) - set(_FIELDS))
    if unknown:
        raise ConfigValueError(name, f"unknown field(s) {', '.join(unknown)}")
    missing = [field for field in _MANDATORY if field not in table]
    if missing:
        raise ConfigValueError(name, f"missing field(s) {', '.join(missing)}")
    values: dict[str, Any] = {}
    for field, raw in table.items():
        attribute, expected = _FIELDS[field]
        # bool is an int in Python; a flag must not pass as a bound and vice versa.
        if not isinstance(raw, expected) or (expected is int and isinstance(raw, bool)):
            raise ConfigValueError(name, f"field {field} has the wrong type: {raw!r}")
        values[attribute] = raw
    key_type: KeyType = _enum(KeyType, name, "type", values["type"])
    for field in table:
        types = _FIELD_TYPES.get(field)
        if types is not None and key_type not in types:
            raise ConfigValueError(name, f"field {field} does not apply to type {key_type}")
    values["type"] = key_type
    values["access"] = _enum(Access, name, "access", values["access"])
    if values["profile"] not in PROFILES:
        raise ConfigValueError(name, f"profile {values['profile']!r} is unknown")
    if "allowed" in values:
        allowed = values["allowed"]
        if not allowed or not all(isinstance(item, str) and item for item in allowed):
            raise ConfigValueError(name, "allowed must be a non-empty list of strings")
        values["allowed"] = tuple(allowed)
    if "qualifier" in values:
        values["qualifier"] = _enum(Qualifier, name, "qualifier", values["qualifier"])
        values["phases"] = phases
    for low, high in (("minimum", "maximum"), ("min_length", "max_length")):
        bounds = values.get(low), values.get(high)
        if bounds[0] is not None and bounds[1] is not None and bounds[0] > bounds[1]:
            raise ConfigValueError(name, f"{low} {bounds[0]} exceeds {high} {bounds[1]}")
    if values.get("secret") and values["access"] is not Access.W:
        raise ConfigValueError(name, "a secret key must be write-only (access W)")
    return ConfigKey(name=name, **values)


def parse_registry(data: Mapping[str, Any]) -> dict[str, ConfigKey]:
    """Build and validate a registry from the parsed TOML document.

    Checks every entry (fields, types, cross-references) and that every default is a valid
    value, so a bad table fails at start-up rather than at the first ChangeConfiguration.
    """
    unknown = sorted(set(data) - {"keys", "vocabulary"})
    if unknown:
        raise ValueError(f"config registry: unknown top-level table(s) {', '.join(unknown)}")
    vocabulary = data.get("vocabulary", {})
    raw_phases = vocabulary.get("phases", []) if isinstance(vocabulary, Mapping) else None
    if not isinstance(raw_phases, list) or not all(isinstance(p, str) for p in raw_phases):
        raise ValueError("config registry: vocabulary.phases must be a list of strings")
    phases = tuple(raw_phases)
    tables = data.get("keys")
    if not isinstance(tables, Mapping) or not tables:
        raise ValueError("config registry: no [keys.*] tables")

    registry: dict[str, ConfigKey] = {}
    folded: dict[str, str] = {}
    for name, table in tables.items():
        twin = folded.get(name.casefold())
        if twin is not None:
            raise ConfigValueError(name, f"duplicates {twin} (key names ignore case)")
        folded[name.casefold()] = name
        registry[name] = _parse_key(name, table, phases)

    for key in registry.values():
        _check_references(key, registry)

    def default_of(other: str) -> str:
        return registry[other].default

    for key in registry.values():
        if key.type is KeyType.STRING and key.default == "":
            continue  # an empty string default means "not set" (e.g. AuthorizationKey)
        try:
            canonical = normalize_value(key, key.default, default_of)
        except ConfigValueError as exc:
            raise ConfigValueError(key.name, f"invalid default: {exc.problem}") from None
        if canonical != key.default:
            raise ConfigValueError(key.name, f"default {key.default!r} is not canonical")
    return registry


def _check_references(key: ConfigKey, registry: Mapping[str, ConfigKey]) -> None:
    """Cross-entry rules: what a CSL key refers to must exist and be an integer key."""
    referenced = [key.max_items_key] if key.max_items_key else []
    if key.qualifier is Qualifier.CONNECTOR:
        referenced.append("NumberOfConnectors")
    if key.qualifier is Qualifier.PHASE and not key.phases:
        raise ConfigValueError(key.name, "qualifier phase needs vocabulary.phases")
    if key.qualifier is not None and key.allowed is None:
        raise ConfigValueError(key.name, "a qualifier needs an allowed list")
    for other in referenced:
        target = registry.get(other)
        if target is None or target.type is not KeyType.INTEGER:
            raise ConfigValueError(key.name, f"refers to {other!r}, which is not an integer key")


@cache
def load_registry() -> Mapping[str, ConfigKey]:
    """The packaged registry, parsed and validated once; read-only, in file order."""
    text = resources.files("chargebox.core").joinpath("data", _DATA_FILE).read_text("utf-8")
    return MappingProxyType(parse_registry(tomllib.loads(text)))
