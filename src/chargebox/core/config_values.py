"""What an OCPP 1.6 configuration key is and which values it accepts.

Kept apart from the registry loader and the runtime `Configuration` because both need it:
the loader checks every default with the same rules ChangeConfiguration applies, so a bad
table fails at start-up. Values are validated and returned as the canonical strings OCPP
sends, so what GetConfiguration reports is exactly what was validated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "VALUE_MAX_LENGTH",
    "Access",
    "ConfigKey",
    "ConfigValueError",
    "KeyType",
    "Lookup",
    "Qualifier",
    "normalize_value",
]

#: ChangeConfiguration.req and GetConfiguration.conf carry values as CiString500Type.
VALUE_MAX_LENGTH = 500


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


def normalize_value(key: ConfigKey, value: str, lookup: Lookup) -> str:
    """Validate `value` for `key` and return its canonical OCPP string.

    `lookup` gives the current value of other keys, since a CSL is bounded by them.
    """
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
