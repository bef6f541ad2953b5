"""The EMS register set as data: `omcci.toml` loaded, checked, and encoded into words.

One loader for the server, the tests and `scripts/modbus_doc.py`. Values are encoded
big-endian (high word first); strings are ASCII, two characters per register, the first
in the high byte, NUL-padded; `bcd32` is packed BCD of six digits (hhmmss) in a uint32.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

TYPES = ("uint16", "uint32", "string", "bcd32")
ACCESS = ("R", "RW", "W")
WORDS = {"uint16": 1, "uint32": 2, "bcd32": 2}


class MapError(ValueError):
    """The register map file is inconsistent."""


@dataclass(frozen=True, slots=True)
class Register:
    address: int
    count: int
    name: str
    label: str
    type: str
    access: str
    unit: str = ""
    description: str = ""
    accepts: str = ""

    @property
    def end(self) -> int:
        """One past the last address."""
        return self.address + self.count

    @property
    def readable(self) -> bool:
        return "R" in self.access

    @property
    def writable(self) -> bool:
        return "W" in self.access


@dataclass(frozen=True, slots=True)
class RegisterMap:
    title: str
    protocol_version: str
    device_id: int
    not_available: int
    no_limit: int
    error_bits: tuple[str, ...]
    registers: tuple[Register, ...]

    def by_name(self, name: str) -> Register:
        for r in self.registers:
            if r.name == name:
                return r
        raise KeyError(name)

    def at(self, address: int) -> Register | None:
        """The register that contains `address` (any of its words)."""
        for r in self.registers:
            if r.address <= address < r.end:
                return r
        return None

    def encode(self, values: Mapping[str, int | float | str]) -> dict[int, int]:
        """Address -> word for every register; a name missing from `values` reads 0."""
        image: dict[int, int] = {}
        for r in self.registers:
            words = encode_value(values.get(r.name, 0), r.type, r.count)
            image.update(zip(range(r.address, r.end), words, strict=True))
        return image


def encode_value(value: int | float | str, type_: str, count: int) -> list[int]:
    if type_ == "string":
        data = str(value).encode("ascii", errors="replace")[: count * 2] if value else b""
        data = data.ljust(count * 2, b"\0")
        return [(data[i] << 8) | data[i + 1] for i in range(0, count * 2, 2)]
    if type_ == "bcd32":
        digits = f"{int(value):06d}"[-6:] if value else "000000"
        number = int(digits, 16)  # "143005" -> 0x143005: each decimal digit one nibble
        return [(number >> 16) & 0xFFFF, number & 0xFFFF]
    n = int(round(float(value))) if not isinstance(value, int) else value
    if type_ == "uint16":
        return [max(0, min(0xFFFF, n))]
    n = max(0, min(0xFFFFFFFF, n))
    return [(n >> 16) & 0xFFFF, n & 0xFFFF]


def decode_string(words: list[int]) -> str:
    """ASCII from registers (high byte first), NUL padding dropped; ValueError if not ASCII."""
    data = b"".join(bytes(((w >> 8) & 0xFF, w & 0xFF)) for w in words)
    return data.rstrip(b"\0").decode("ascii")


def _register(raw: Mapping[str, Any], n: int) -> Register:
    try:
        reg = Register(
            address=int(raw["address"]),
            count=int(raw["count"]),
            name=str(raw["name"]),
            label=str(raw["label"]),
            type=str(raw["type"]),
            access=str(raw["access"]),
            unit=str(raw.get("unit", "")),
            description=str(raw.get("description", "")),
            accepts=str(raw.get("accepts", "")),
        )
    except KeyError as exc:
        raise MapError(f"registers[{n}]: missing {exc.args[0]}") from None
    if reg.type not in TYPES:
        raise MapError(f"register {reg.address}: type {reg.type!r} is not one of {TYPES}")
    if reg.access not in ACCESS:
        raise MapError(f"register {reg.address}: access {reg.access!r} is not one of {ACCESS}")
    if reg.type in WORDS and reg.count != WORDS[reg.type]:
        raise MapError(f"register {reg.address}: {reg.type} takes {WORDS[reg.type]} registers")
    if reg.writable and not reg.accepts:
        raise MapError(f"register {reg.address}: a writable register says what it accepts")
    return reg


def parse_map(data: Mapping[str, Any]) -> RegisterMap:
    regs = tuple(_register(r, n) for n, r in enumerate(data.get("registers", [])))
    ordered = sorted(regs, key=lambda r: r.address)
    for a, b in zip(ordered, ordered[1:], strict=False):
        if b.address < a.end:
            raise MapError(f"registers {a.address} and {b.address} overlap")
    names = [r.name for r in regs]
    if len(set(names)) != len(names):
        raise MapError("register names must be unique")
    return RegisterMap(
        title=str(data["title"]),
        protocol_version=str(data["protocol_version"]),
        device_id=int(data["device_id"]),
        not_available=int(data["not_available"]),
        no_limit=int(data["no_limit"]),
        error_bits=tuple(str(x) for x in data.get("error_bits", [])),
        registers=tuple(ordered),
    )


@cache
def load_map() -> RegisterMap:
    """The packaged OMCCI map (`chargebox/modbus/omcci.toml`), parsed once."""
    text = resources.files("chargebox.modbus").joinpath("omcci.toml").read_text("utf-8")
    return parse_map(tomllib.loads(text))
