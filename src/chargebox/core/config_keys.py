"""OCPP 1.6 configuration keys: the runtime values and the Get/ChangeConfiguration rules.

The registry (`config_registry`, from data/config_keys.toml) says what a key is (type,
access, bounds, default); `Configuration` holds what it currently is and applies the
ChangeConfiguration / GetConfiguration rules. Values are kept as the strings OCPP sends,
normalised (`config_values`), so what GetConfiguration reports is what was validated.
Key names are CiString50 in OCPP, so look-ups ignore case; replies use the registry spelling.

This module is the public face: the key and registry names are re-exported from here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from chargebox.core.config_registry import PROFILES, load_registry, parse_registry
from chargebox.core.config_values import (
    VALUE_MAX_LENGTH,
    Access,
    ConfigKey,
    ConfigValueError,
    KeyType,
    Lookup,
    Qualifier,
    normalize_value,
)

__all__ = [
    "PROFILES",
    "VALUE_MAX_LENGTH",
    "Access",
    "ChangeStatus",
    "ConfigKey",
    "ConfigValueError",
    "Configuration",
    "KeyType",
    "KeyValue",
    "Lookup",
    "Qualifier",
    "load_registry",
    "parse_registry",
]


class ChangeStatus(StrEnum):
    """ConfigurationStatus of ChangeConfiguration.conf."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    REBOOT_REQUIRED = "RebootRequired"
    NOT_SUPPORTED = "NotSupported"


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
        return normalize_value(self.key(name), value, self.get)

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
