"""OCPP 1.6 configuration keys: the registry (data/config_keys.toml) and runtime values.

The registry says what a key is (type, access, bounds, default); `Configuration` holds what it
currently is and applies the ChangeConfiguration / GetConfiguration rules. Values are kept as
the strings OCPP sends, normalised, so what GetConfiguration reports is what was validated.
Key names are CiString50 in OCPP, so look-ups ignore case; replies use the registry spelling.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

__all__ = [
    "VALUE_MAX_LENGTH",
    "Access",
    "ChangeStatus",
    "ConfigKey",
    "ConfigValueError",
    "Configuration",
    "KeyType",
    "KeyValue",
    "load_registry",
    "parse_registry",
]

#: ChangeConfiguration.req and GetConfiguration.conf carry values as CiString500Type.
VALUE_MAX_LENGTH = 500

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


class KeyType(StrEnum):
    """Value types of OCPP 1.6 chapter 9 (CSL = comma-separated list)."""

    BOOLEAN = "boolean"
    INTEGER = "integer"
    STRING = "string"
    CSL = "CSL"


class Access(StrEnum):
    """Accessibility as in OCPP 1.6 chapter 9; W (write-only) comes from the security whitepaper."""

    R = "R"
    RW = "RW"
    W = "W"


class Qualifier(StrEnum):
    """How a CSL member may be qualified beyond its `allowed` value."""

    PHASE = "phase"  # <allowed>[.<phase>], e.g. Voltage.L1
    CONNECTOR = "connector"  # <connectorId>.<allowed>, e.g. 1.RST


class ChangeStatus(StrEnum):
    """ConfigurationStatus of ChangeConfiguration.conf."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    REBOOT_REQUIRED = "RebootRequired"
    NOT_SUPPORTED = "NotSupported"


class ConfigValueError(ValueError):
    """A value (or a registry entry) is invalid; the message names the key and the problem."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


@dataclass(frozen=True, slots=True)
class ConfigKey:
    """One registry entry: everything needed to validate and report a key."""

    name: str
    type: KeyType
    default: str
    access: Access
    profile: str
    unit: str | None = None
    minimum: int | None = None
    maximum: int | None = None
    allowed: tuple[str, ...] | None = None
    max_items_key: str | None = None
    max_length: int | None = None
    reboot_required: bool = False
    secret: bool = False
    required: bool = False
    source: str = ""
    description: str = ""
    min_length: int | None = None
    qualifier: Qualifier | None = None
    only_increase: bool = False
    phases: tuple[str, ...] = ()

    @property
    def readonly(self) -> bool:
        """GetConfiguration's `readonly` flag."""
        return self.access is Access.R


@dataclass(frozen=True, slots=True)
class KeyValue:
    """One entry of GetConfiguration.conf's configurationKey list."""

    key: str
    readonly: bool
    value: str | None

    def to_ocpp(self) -> dict[str, Any]:
        """The JSON object OCPP expects; `value` is omitted when it must not be revealed."""
        out: dict[str, Any] = {"key": self.key, "readonly": self.readonly}
        if self.value is not None:
            out["value"] = self.value
        return out


# --------------------------------------------------------------------------- validation

Lookup = Callable[[str], str]
"""Returns the current value of another key (for CSL lengths and connector ids)."""

_TRUE_FALSE = {"true": "true", "false": "false"}


def _normalize_integer(key: ConfigKey, value: str) -> str:
    text = value.strip()
    digits = text[1:] if text[:1] in "+-" else text
    if not digits or not digits.isascii() or not digits.isdigit():
        raise ConfigValueError(key.name, f"not an integer: {value!r}")
    number = int(text)
    if key.minimum is not None and number < key.minimum:
        raise ConfigValueError(key.name, f"{number} is below the minimum {key.minimum}")
    if key.maximum is not None and number > key.maximum:
        raise ConfigValueError(key.name, f"{number} is above the maximum {key.maximum}")
    canonical = str(number)
    if key.allowed is not None and canonical not in key.allowed:
        raise ConfigValueError(key.name, f"{canonical} is not one of {', '.join(key.allowed)}")
    return canonical


def _normalize_string(key: ConfigKey, value: str) -> str:
    if key.min_length is not None and len(value) < key.min_length:
        raise ConfigValueError(key.name, f"shorter than {key.min_length} characters")
    if key.max_length is not None and len(value) > key.max_length:
        raise ConfigValueError(key.name, f"longer than {key.max_length} characters")
    if key.allowed is not None and value not in key.allowed:
        raise ConfigValueError(key.name, f"{value!r} is not one of {', '.join(key.allowed)}")
    return value


def _check_member(key: ConfigKey, member: str, lookup: Lookup) -> str:
    """Validate one CSL member; return what must be unique (the connector id for rotations)."""
    allowed = key.allowed
    if key.qualifier is Qualifier.CONNECTOR:
        connector, dot, rest = member.partition(".")
        if not dot or not connector.isascii() or not connector.isdigit():
            raise ConfigValueError(key.name, f"{member!r} is not <connectorId>.<value>")
        limit = int(lookup("NumberOfConnectors"))
        if int(connector) > limit:
            raise ConfigValueError(key.name, f"connector {int(connector)} does not exist")
        if allowed is not None and rest not in allowed:
            raise ConfigValueError(key.name, f"{rest!r} is not one of {', '.join(allowed)}")
        return str(int(connector))
    if allowed is None or member in allowed:
        return member
    if key.qualifier is Qualifier.PHASE:
        base, dot, phase = member.rpartition(".")
        if dot and base in allowed and phase in key.phases:
            return member
    raise ConfigValueError(key.name, f"{member!r} is not a permitted value")


def _normalize_csl(key: ConfigKey, value: str, lookup: Lookup) -> str:
    if not value.strip():
        return ""
    members = [member.strip() for member in value.split(",")]
    if any(not member for member in members):
        raise ConfigValueError(key.name, f"empty item in list {value!r}")
    identities = [_check_member(key, member, lookup) for member in members]
    if len(set(identities)) != len(identities):
        raise ConfigValueError(key.name, f"duplicate item in list {value!r}")
    if key.max_items_key is not None:
        limit = int(lookup(key.max_items_key))
        if len(members) > limit:
            raise ConfigValueError(
                key.name, f"{len(members)} items, more than {key.max_items_key}={limit}"
            )
    return ",".join(members)


def _normalize(key: ConfigKey, value: str, lookup: Lookup) -> str:
    """Validate `value` for `key` and return its canonical OCPP string."""
    if not isinstance(value, str):
        raise ConfigValueError(key.name, f"value must be a string, not {type(value).__name__}")
    if len(value) > VALUE_MAX_LENGTH:
        raise ConfigValueError(key.name, f"longer than {VALUE_MAX_LENGTH} characters")
    if key.type is KeyType.BOOLEAN:
        canonical = _TRUE_FALSE.get(value.strip().lower())
        if canonical is None:
            raise ConfigValueError(key.name, f"not a boolean (true/false): {value!r}")
        return canonical
    if key.type is KeyType.INTEGER:
        return _normalize_integer(key, value)
    if key.type is KeyType.CSL:
        return _normalize_csl(key, value, lookup)
    return _normalize_string(key, value)


# ---------------------------------------------------------------------------- registry

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
            canonical = _normalize(key, key.default, default_of)
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


# ------------------------------------------------------------------------ runtime values


class Configuration:
    """Runtime values: registry defaults < station file overrides < runtime (database) overrides.

    `on_change(name, value)` is called after a value really changed, so the caller can persist
    runtime overrides. The object is not thread-safe; the runtime owns it from one task.
    """

    def __init__(
        self,
        registry: Mapping[str, ConfigKey] | None = None,
        overrides: Mapping[str, str] | None = None,
        on_change: Callable[[str, str], None] | None = None,
    ) -> None:
        """Strict construction: an unknown or invalid override raises ConfigValueError."""
        self._registry: Mapping[str, ConfigKey] = load_registry() if registry is None else registry
        self._folded = {name.casefold(): name for name in self._registry}
        self._values: dict[str, str] = {name: k.default for name, k in self._registry.items()}
        self._on_change: Callable[[str, str], None] | None = None
        self._apply_layer(overrides or {}, strict=True)
        self._on_change = on_change

    @classmethod
    def load(
        cls,
        *layers: Mapping[str, str] | None,
        registry: Mapping[str, ConfigKey] | None = None,
        on_change: Callable[[str, str], None] | None = None,
        strict: bool = False,
    ) -> tuple[Configuration, list[str]]:
        """Build from override layers (later layers win), e.g. station file then database.

        With strict=False an unknown or invalid stored value is skipped (the lower layer or the
        default stays) and its key is returned, so one corrupt database row cannot stop the
        station. Pass NumberOfConnectors in a layer, since ConnectorPhaseRotation is checked
        against it.
        """
        config = cls(registry)
        skipped: list[str] = []
        for layer in layers:
            skipped += config._apply_layer(layer or {}, strict=strict)
        config._on_change = on_change
        return config, skipped

    def _apply_layer(self, layer: Mapping[str, str], *, strict: bool) -> list[str]:
        # CSL members are checked against other keys (MaxLength, NumberOfConnectors): set the
        # scalar keys of the layer first.
        ordered = sorted(layer.items(), key=lambda item: self._is_csl(item[0]))
        skipped: list[str] = []
        for name, value in ordered:
            try:
                self.set_internal(name, value)
            except KeyError:
                if strict:
                    raise ConfigValueError(name, "unknown configuration key") from None
                skipped.append(name)
            except ConfigValueError:
                if strict:
                    raise
                skipped.append(name)
        return skipped

    def _is_csl(self, name: str) -> bool:
        canonical = self._folded.get(name.casefold())
        return canonical is not None and self._registry[canonical].type is KeyType.CSL

    # -- lookup

    def key(self, name: str) -> ConfigKey:
        """The registry entry for `name` (case-insensitive); KeyError if unknown."""
        canonical = self._folded.get(name.casefold())
        if canonical is None:
            raise KeyError(name)
        return self._registry[canonical]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.casefold() in self._folded

    @property
    def registry(self) -> Mapping[str, ConfigKey]:
        """The registry this configuration validates against."""
        return self._registry

    def get(self, name: str) -> str:
        """Current value as sent over OCPP (secrets included; this is the internal view)."""
        return self._values[self.key(name).name]

    def get_int(self, name: str) -> int:
        """Current value of an integer key."""
        return int(self._typed(name, KeyType.INTEGER))

    def get_bool(self, name: str) -> bool:
        """Current value of a boolean key."""
        return self._typed(name, KeyType.BOOLEAN) == "true"

    def get_csl(self, name: str) -> list[str]:
        """Members of a CSL key; [] when empty."""
        value = self._typed(name, KeyType.CSL)
        return value.split(",") if value else []

    def _typed(self, name: str, expected: KeyType) -> str:
        key = self.key(name)
        if key.type is not expected:
            raise TypeError(f"{key.name} is of type {key.type}, not {expected}")
        return self._values[key.name]

    # -- validation and changes

    def normalize(self, name: str, value: str) -> str:
        """Validate `value` against the key and the current configuration; return it canonical.

        Raises KeyError for an unknown key and ConfigValueError for a bad value.
        """
        return _normalize(self.key(name), value, self.get)

    def change(self, name: str, value: str) -> ChangeStatus:
        """Apply a ChangeConfiguration.req and return its status (never raises on bad input)."""
        try:
            key = self.key(name)
        except KeyError:
            return ChangeStatus.NOT_SUPPORTED
        if key.readonly:
            return ChangeStatus.REJECTED
        try:
            canonical = self.normalize(key.name, value)
        except ConfigValueError:
            return ChangeStatus.REJECTED
        if key.only_increase and int(canonical) < int(self._values[key.name]):
            return ChangeStatus.REJECTED
        self._store(key.name, canonical)
        return ChangeStatus.REBOOT_REQUIRED if key.reboot_required else ChangeStatus.ACCEPTED

    def set_internal(self, name: str, value: str) -> None:
        """Set a value on behalf of the station itself (read-only keys too); validated.

        No access or only-increase check. Keys that depend on this one (CSL lengths,
        ConnectorPhaseRotation) are not re-checked: they are validated when they are written.
        """
        key = self.key(name)
        self._store(key.name, self.normalize(key.name, value))

    def _store(self, name: str, value: str) -> None:
        if self._values[name] == value:
            return
        self._values[name] = value
        if self._on_change is not None:
            self._on_change(name, value)

    # -- reporting

    def get_configuration(
        self, keys: Sequence[str] | None = None
    ) -> tuple[list[KeyValue], list[str]]:
        """Answer a GetConfiguration.req: (configurationKey, unknownKey).

        No keys (None or empty) means all keys, in registry order. Write-only keys are listed
        without a value, as the security whitepaper forbids revealing them. Each key is
        reported once; unknown names are returned as requested. Enforcing
        GetConfigurationMaxKeys is the caller's decision.
        """
        if not keys:
            return [self._key_value(key) for key in self._registry.values()], []
        found: list[KeyValue] = []
        unknown: list[str] = []
        seen: set[str] = set()
        for name in keys:
            try:
                key = self.key(name)
            except KeyError:
                if name not in unknown:
                    unknown.append(name)
                continue
            if key.name not in seen:
                seen.add(key.name)
                found.append(self._key_value(key))
        return found, unknown

    def _key_value(self, key: ConfigKey) -> KeyValue:
        value = None if key.secret or key.access is Access.W else self._values[key.name]
        return KeyValue(key=key.name, readonly=key.readonly, value=value)

    def snapshot(self) -> dict[str, str]:
        """All current values, secrets included (internal use only: never send it out)."""
        return dict(self._values)
