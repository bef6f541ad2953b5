"""Meter register maps: data files describing where a meter keeps its values, and the decoder.

A map (``maps/<name>.toml``) names the Modbus function, unit id, word order and, per
quantity, the register address, data type and scaling. Quantities are the per-phase
currents ``current_l1..3`` (required), voltages ``voltage_l1..3``, active powers
``power_l1..3`` and ``power_total``. A power may instead be given as an unsigned
``<power>_import`` / ``<power>_export`` pair (net = import - export). Any other entry is a
helper register, e.g. a SunSpec scale factor referenced by ``scale_factor = "<entry>"``
(value = raw * 10 ** sf); ``scale`` multiplies the raw value.

Direction: ``power_sign`` says whether the meter counts import positive (consumer
counting system) or export positive, and ``current_sign`` where the sign of a current
comes from (most meters report RMS magnitudes): ``signed`` (the register is signed),
``phase_power`` (sign of that phase's active power) or ``total_power``.

Decoding is plain ``struct`` work on 16-bit register words, no Modbus library involved:
the simulated meter server encodes with pymodbus, so a round trip checks both sides.
"""

from __future__ import annotations

import math
import struct
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from chargebox.energy.model import GridReading, PhaseCurrents

PHASES = ("l1", "l2", "l3")
CURRENTS = tuple(f"current_{p}" for p in PHASES)
VOLTAGES = tuple(f"voltage_{p}" for p in PHASES)
PHASE_POWERS = tuple(f"power_{p}" for p in PHASES)
POWERS = (*PHASE_POWERS, "power_total")
QUANTITIES = (*CURRENTS, *VOLTAGES, *POWERS)

# type name -> (struct format, registers)
TYPES: dict[str, tuple[str, int]] = {
    "int16": ("h", 1),
    "uint16": ("H", 1),
    "int32": ("i", 2),
    "uint32": ("I", 2),
    "float32": ("f", 2),
    "int64": ("q", 4),
    "uint64": ("Q", 4),
    "float64": ("d", 4),
}
# SunSpec marks a point it does not implement with these raw values.
NOT_IMPLEMENTED = {"int16": -0x8000, "uint16": 0xFFFF, "int32": -0x80000000, "uint32": 0xFFFFFFFF}

Function = Literal["holding", "input"]
WordOrder = Literal["big", "little"]


class MapError(ValueError):
    """A register map file is not valid; the message names the file and the field."""


@dataclass(frozen=True, slots=True)
class Register:
    name: str
    address: int
    type: str
    scale: float = 1.0
    scale_factor: str | None = None  # name of the register holding a power-of-ten exponent

    @property
    def count(self) -> int:
        return TYPES[self.type][1]


@dataclass(frozen=True, slots=True)
class RegisterMap:
    name: str
    title: str
    unit_id: int
    function: Function
    word_order: WordOrder
    power_sign: Literal["import_positive", "export_positive"]
    current_sign: Literal["signed", "phase_power", "total_power"]
    registers: Mapping[str, Register]
    max_gap: int = 8  # unused registers a single read may span
    default_port: int = 502
    notes: str = ""
    source: str = ""

    def has(self, quantity: str) -> bool:
        return quantity in self.registers or f"{quantity}_import" in self.registers

    def blocks(self, max_count: int = 120) -> list[tuple[int, int]]:
        """(address, count) reads covering every register, merged across small gaps."""
        spans = sorted((r.address, r.address + r.count) for r in self.registers.values())
        out: list[list[int]] = []
        for start, end in spans:
            if out and start - out[-1][1] <= self.max_gap and end - out[-1][0] <= max_count:
                out[-1][1] = max(out[-1][1], end)
            else:
                out.append([start, end])
        return [(s, e - s) for s, e in out]


@dataclass(frozen=True, slots=True)
class MeterValues:
    """Decoded values, physical units, direction as the meter reports it."""

    values: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------------------- decoding


def decode(words: Sequence[int], type_: str, word_order: WordOrder = "big") -> int | float:
    """Registers (16-bit words, each big-endian on the wire) to a number."""
    fmt, count = TYPES[type_]
    if len(words) != count:
        raise ValueError(f"{type_} needs {count} registers, got {len(words)}")
    ordered = list(words) if word_order == "big" else list(reversed(words))
    raw = b"".join(int(w & 0xFFFF).to_bytes(2, "big") for w in ordered)
    number: int | float = struct.unpack(">" + fmt, raw)[0]
    return number


def read_values(regmap: RegisterMap, image: Mapping[int, int]) -> MeterValues:
    """Decode every register of the map from an address -> word image."""
    raw: dict[str, int | float | None] = {}
    for reg in regmap.registers.values():
        words = [image[reg.address + i] for i in range(reg.count)]
        value = decode(words, reg.type, regmap.word_order)
        if NOT_IMPLEMENTED.get(reg.type) == value or (
            isinstance(value, float) and not math.isfinite(value)
        ):
            raw[reg.name] = None
        else:
            raw[reg.name] = value
    out: dict[str, float] = {}
    for reg in regmap.registers.values():
        got = raw[reg.name]
        if got is None:
            continue
        scaled = float(got) * reg.scale
        if reg.scale_factor is not None:
            sf = raw.get(reg.scale_factor)
            if sf is None:
                continue
            scaled *= 10.0 ** float(sf)
        out[reg.name] = scaled
    for q in POWERS:
        imp, exp = out.pop(f"{q}_import", None), out.pop(f"{q}_export", None)
        if imp is not None and exp is not None:  # direction explicit: in the map's convention
            out[q] = imp - exp if regmap.power_sign == "import_positive" else exp - imp
    return MeterValues(out)


def to_grid_reading(regmap: RegisterMap, values: MeterValues, timestamp: float) -> GridReading:
    """Signed per-phase currents (import positive) and the total power of a reading."""
    v = values.values
    missing = [q for q in CURRENTS if q not in v]
    if missing:
        raise ValueError(f"meter map {regmap.name}: no value for {', '.join(missing)}")
    flip = -1.0 if regmap.power_sign == "export_positive" else 1.0
    phase_power = [v.get(p) for p in PHASE_POWERS]
    total = v.get("power_total")
    if total is None and all(p is not None for p in phase_power):
        total = sum(p for p in phase_power if p is not None)
    total_w = flip * total if total is not None else None
    currents: list[float] = []
    for i, q in enumerate(CURRENTS):
        amps = v[q]
        if regmap.current_sign == "signed":
            currents.append(flip * amps)
            continue
        ref = phase_power[i] if regmap.current_sign == "phase_power" else total
        sign = -1.0 if ref is not None and flip * ref < 0 else 1.0
        currents.append(sign * abs(amps))
    if total_w is None:
        volts = [v.get(q, 230.0) for q in VOLTAGES]
        total_w = sum(a * u for a, u in zip(currents, volts, strict=True))
    return GridReading(PhaseCurrents.from_tuple(currents), round(total_w, 1), timestamp)


# ----------------------------------------------------------------------------- loading

_MAP_KEYS = {
    "title",
    "unit_id",
    "function",
    "word_order",
    "power_sign",
    "current_sign",
    "registers",
    "max_gap",
    "default_port",
    "notes",
    "source",
}
_REG_KEYS = {"address", "type", "scale", "scale_factor", "note"}


def _choice(data: dict[str, Any], key: str, options: tuple[str, ...], where: str) -> str:
    value = data.get(key, options[0])
    if value not in options:
        raise MapError(f"{where}: {key}: must be one of {', '.join(options)}")
    return str(value)


def parse_map(name: str, data: dict[str, Any], where: str | None = None) -> RegisterMap:
    where = where or f"meter map {name}"
    unknown = set(data) - _MAP_KEYS
    if unknown:
        raise MapError(f"{where}: unknown field {sorted(unknown)[0]}")
    regs: dict[str, Register] = {}
    for reg_name, spec in dict(data.get("registers", {})).items():
        at = f"{where}: registers.{reg_name}"
        if not isinstance(spec, dict) or set(spec) - _REG_KEYS:
            raise MapError(f"{at}: expected address, type, scale, scale_factor")
        address = spec.get("address")
        if not isinstance(address, int) or not 0 <= address <= 65535:
            raise MapError(f"{at}: address must be 0..65535")
        type_ = spec.get("type", "float32")
        if type_ not in TYPES:
            raise MapError(f"{at}: type must be one of {', '.join(TYPES)}")
        regs[reg_name] = Register(
            reg_name, address, type_, float(spec.get("scale", 1.0)), spec.get("scale_factor")
        )
    for reg in regs.values():
        if reg.scale_factor is not None and reg.scale_factor not in regs:
            raise MapError(f"{where}: registers.{reg.name}: no register {reg.scale_factor!r}")
    for q in CURRENTS:
        if q not in regs:
            raise MapError(f"{where}: registers.{q} is required")
    for q in POWERS:
        pair = (f"{q}_import" in regs, f"{q}_export" in regs)
        if any(pair) and not all(pair):
            raise MapError(f"{where}: registers.{q}: give both _import and _export")
    current_sign = _choice(data, "current_sign", ("phase_power", "signed", "total_power"), where)
    rmap = RegisterMap(
        name=name,
        title=str(data.get("title", name)),
        unit_id=int(data.get("unit_id", 1)),
        function=_choice(data, "function", ("holding", "input"), where),  # type: ignore[arg-type]
        word_order=_choice(data, "word_order", ("big", "little"), where),  # type: ignore[arg-type]
        power_sign=_choice(  # type: ignore[arg-type]
            data, "power_sign", ("import_positive", "export_positive"), where
        ),
        current_sign=current_sign,  # type: ignore[arg-type]
        registers=regs,
        max_gap=int(data.get("max_gap", 8)),
        default_port=int(data.get("default_port", 502)),
        notes=str(data.get("notes", "")),
        source=str(data.get("source", "")),
    )
    if current_sign == "phase_power" and not all(rmap.has(p) for p in PHASE_POWERS):
        raise MapError(f"{where}: current_sign phase_power needs power_l1..3")
    if current_sign == "total_power" and not rmap.has("power_total"):
        raise MapError(f"{where}: current_sign total_power needs power_total")
    if not 0 <= rmap.unit_id <= 255:
        raise MapError(f"{where}: unit_id must be 0..255")
    return rmap


def _maps_dir() -> Any:
    return resources.files("chargebox.energy.meters").joinpath("maps")


def available_maps() -> list[str]:
    return sorted(
        p.name.removesuffix(".toml") for p in _maps_dir().iterdir() if p.name.endswith(".toml")
    )


def load_map(name_or_path: str | Path) -> RegisterMap:
    """A built-in map by name (``siemens_pac2200``) or a map file by path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        text, name, where = path.read_text(encoding="utf-8"), path.stem, str(path)
    else:
        name = str(name_or_path)
        entry = _maps_dir().joinpath(f"{name}.toml")
        if not entry.is_file():
            known = ", ".join(available_maps())
            raise MapError(f"meter map {name!r}: unknown; known maps: {known}")
        text, where = entry.read_text(encoding="utf-8"), f"meter map {name}"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MapError(f"{where}: not valid TOML: {exc}") from None
    return parse_map(name, data, where)
