"""A simulated grid meter: a real pymodbus Modbus TCP server that speaks any register map.

It plays a building's load profile (signed per-phase currents over time: import positive,
PV export negative) and answers reads exactly where the map says the meter keeps each
value, with the map's function, data types, word order, scaling and sign convention.
`extra` adds currents measured elsewhere (the station's own charging load when the meter
sits in front of the charging sub-distribution), so the loop from setpoint to meter closes.

Used by the tests, by `chargebox sim-meter`, and by a station whose `[[meters]]` entry says
`simulate = true`.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pymodbus.client.mixin import ModbusClientMixin
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from chargebox.energy.meters.registermap import (
    CURRENTS,
    PHASE_POWERS,
    TYPES,
    VOLTAGES,
    RegisterMap,
)

Currents = tuple[float, float, float]
_INT_RANGE = {
    "int16": (-0x8000, 0x7FFF),
    "uint16": (0, 0xFFFF),
    "int32": (-0x80000000, 0x7FFFFFFF),
    "uint32": (0, 0xFFFFFFFF),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
}


class Profile(Protocol):
    def currents(self, t: float) -> Currents:
        """Signed per-phase grid currents (import positive) at time t (epoch seconds)."""


@dataclass
class ConstantProfile:
    l1: float = 0.0
    l2: float = 0.0
    l3: float = 0.0

    def currents(self, t: float) -> Currents:
        return (self.l1, self.l2, self.l3)


@dataclass
class HouseProfile:
    """A deterministic household: base load, morning and evening peaks, optional PV export.

    `speed` > 1 plays the day faster (e.g. 60: one simulated minute per second).
    """

    pv_kwp: float = 0.0
    speed: float = 1.0
    start: float | None = None
    voltage_v: float = 230.0

    def time_of_day(self, t: float) -> float:
        if self.start is None:
            self.start = t
        lt = time.localtime(self.start)
        start_tod = lt.tm_hour * 3600 + lt.tm_min * 60 + lt.tm_sec
        return (start_tod + (t - self.start) * self.speed) % 86400.0

    def currents(self, t: float) -> Currents:
        return house_currents(self.time_of_day(t), self.pv_kwp, self.voltage_v)


def house_currents(tod_s: float, pv_kwp: float = 0.0, voltage_v: float = 230.0) -> Currents:
    """House load minus PV feed-in per phase at a time of day (seconds after midnight)."""
    h = tod_s / 3600.0

    def bump(center: float, width: float) -> float:
        return math.exp(-(((h - center) / width) ** 2))

    base = (0.9, 1.3, 0.7)
    morning, noon, evening = bump(7.5, 1.0), bump(12.5, 0.8), bump(19.0, 1.6)
    ripple = 0.3 * math.sin(h * 5.1) + 0.2 * math.sin(h * 13.7)
    load = (
        base[0] + 5.0 * morning + 4.0 * noon + 3.0 * evening + ripple,
        base[1] + 2.0 * morning + 1.0 * noon + 6.0 * evening - ripple,
        base[2] + 1.0 * morning + 6.0 * noon + 2.0 * evening + 0.5 * ripple,
    )
    pv_w = pv_kwp * 1000.0 * pv_shape(h)
    pv_a = pv_w / (3 * voltage_v)  # a three-phase inverter feeds every phase equally
    return (
        round(load[0] - pv_a, 2),
        round(load[1] - pv_a, 2),
        round(load[2] - pv_a, 2),
    )


def pv_shape(hour: float) -> float:
    """Clear-sky PV output as a fraction of peak: sunrise 6:00, sunset 20:00."""
    if not 6.0 < hour < 20.0:
        return 0.0
    return math.sin(math.pi * (hour - 6.0) / 14.0) ** 1.5


@dataclass
class CsvProfile:
    """Rows `t_s,l1,l2,l3` (seconds from the start, amps); held until the next row, looped."""

    rows: Sequence[tuple[float, float, float, float]]
    start: float | None = None

    @classmethod
    def load(cls, path: Path) -> CsvProfile:
        rows: list[tuple[float, float, float, float]] = []
        with path.open(newline="", encoding="utf-8") as f:
            for n, row in enumerate(csv.reader(f), 1):
                if not row or row[0].strip().startswith("#"):
                    continue
                try:
                    t, a, b, c = (float(x) for x in row[:4])
                except ValueError:
                    if n == 1:
                        continue  # a header line
                    raise ValueError(f"{path}:{n}: expected t_s,l1,l2,l3") from None
                rows.append((t, a, b, c))
        if not rows:
            raise ValueError(f"{path}: no rows")
        rows.sort()
        return cls(rows)

    def currents(self, t: float) -> Currents:
        if self.start is None:
            self.start = t
        period = self.rows[-1][0] + (self.rows[1][0] - self.rows[0][0] if len(self.rows) > 1 else 1)
        x = (t - self.start) % period if period > 0 else 0.0
        current = self.rows[0]
        for row in self.rows:
            if row[0] <= x:
                current = row
            else:
                break
        return (current[1], current[2], current[3])


def parse_profile(spec: str, *, speed: float = 1.0) -> Profile:
    """`house`, `house+pv[:kWp]`, `constant:l1,l2,l3` or a CSV file path."""
    if spec == "house":
        return HouseProfile(speed=speed)
    if spec.startswith("house+pv"):
        kwp = float(spec.split(":", 1)[1]) if ":" in spec else 8.0
        return HouseProfile(pv_kwp=kwp, speed=speed)
    if spec.startswith("constant:"):
        parts = [float(x) for x in spec.removeprefix("constant:").split(",")]
        if len(parts) == 1:
            parts *= 3
        if len(parts) != 3:
            raise ValueError("constant: give one value or three (l1,l2,l3)")
        return ConstantProfile(*parts)
    path = Path(spec)
    if path.suffix.lower() == ".csv":
        if not path.exists():
            raise ValueError(f"{spec}: file not found")
        return CsvProfile.load(path)
    raise ValueError(f"profile {spec!r}: use house, house+pv[:kWp], constant:l1,l2,l3 or a .csv")


# --------------------------------------------------------------------------- encoding


def _to_raw(value: float, type_: str) -> int | float:
    if type_.startswith("float"):
        return float(value)
    lo, hi = _INT_RANGE[type_]
    return max(lo, min(hi, round(value)))


def _scale_factor_for(values: list[float], type_: str) -> int:
    """The smallest power-of-ten exponent (from -3) at which every value fits the type."""
    lo, hi = _INT_RANGE.get(type_, (-0x8000, 0x7FFF))
    biggest = max((abs(v) for v in values), default=0.0)
    sf = -3
    while sf < 6 and biggest / 10.0**sf > min(hi, -lo):
        sf += 1
    return sf


def encode_image(
    regmap: RegisterMap,
    currents: Currents,
    voltages: Currents = (230.0, 230.0, 230.0),
) -> dict[int, int]:
    """Address -> register word, as this meter would present the given grid state."""
    flip = -1.0 if regmap.power_sign == "export_positive" else 1.0
    powers = [v * a for v, a in zip(voltages, currents, strict=True)]  # import positive
    physical: dict[str, float] = {}
    for i in range(3):
        cur = currents[i] * flip if regmap.current_sign == "signed" else abs(currents[i])
        physical[CURRENTS[i]] = cur
        physical[VOLTAGES[i]] = voltages[i]
        physical[PHASE_POWERS[i]] = flip * powers[i]
    physical["power_total"] = flip * sum(powers)
    for q, net in [*zip(PHASE_POWERS, powers, strict=True), ("power_total", sum(powers))]:
        physical[f"{q}_import"] = max(0.0, net)
        physical[f"{q}_export"] = max(0.0, -net)
    regs = regmap.registers
    factors: dict[str, int] = {}
    for name in regs:
        users = [r for r in regs.values() if r.scale_factor == name]
        if users:
            factors[name] = _scale_factor_for(
                [physical.get(u.name, 0.0) / u.scale for u in users], users[0].type
            )
    image: dict[int, int] = {}
    for name, reg in regs.items():
        if name in factors:
            raw: int | float = factors[name]
        else:
            value = physical.get(name, 0.0) / reg.scale
            if reg.scale_factor is not None:
                value /= 10.0 ** factors[reg.scale_factor]
            raw = _to_raw(value, reg.type)
        datatype = ModbusClientMixin.DATATYPE[reg.type.upper()]
        words = ModbusClientMixin.convert_to_registers(raw, datatype, regmap.word_order)
        assert len(words) == TYPES[reg.type][1]
        image.update({reg.address + i: w for i, w in enumerate(words)})
    return image


# ----------------------------------------------------------------------------- server


class SimMeterServer:
    def __init__(
        self,
        regmap: RegisterMap,
        profile: Profile | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 5020,
        unit: int | None = None,
        voltages: Currents = (230.0, 230.0, 230.0),
        extra: Callable[[], Currents] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.map = regmap
        self.profile: Profile = profile or ConstantProfile()
        self.host = host
        self.port = port
        self.unit = unit if unit is not None else regmap.unit_id
        self.voltages = voltages
        self.extra = extra
        self.clock = clock
        self.failing = False  # answer every read with exception 4 (device failure)
        self.reads = 0
        self._server: ModbusTcpServer | None = None

    def currents(self) -> Currents:
        base = self.profile.currents(self.clock())
        if self.extra is None:
            return base
        add = self.extra()
        return (base[0] + add[0], base[1] + add[1], base[2] + add[2])

    def set_currents(self, l1: float, l2: float, l3: float) -> None:
        self.profile = ConstantProfile(l1, l2, l3)

    def registers(self, address: int, count: int) -> list[int]:
        """The register words a read of `count` registers at `address` answers now.

        The network server answers from this too; an accelerated test calls it directly.
        """
        image = encode_image(self.map, self.currents(), self.voltages)
        return [image.get(a, 0) for a in range(address, address + count)]

    def _device(self) -> SimDevice:
        addresses = [
            a for r in self.map.registers.values() for a in range(r.address, r.address + r.count)
        ]
        first, last = min(addresses), max(addresses)
        block = [SimData(first, count=last - first + 1, values=0, datatype=DataType.REGISTERS)]
        unused = [SimData(0, datatype=DataType.INVALID)]
        bits = [SimData(0, count=16, values=False, datatype=DataType.BITS)]
        used_fc = 3 if self.map.function == "holding" else 4
        regs = (block, unused) if used_fc == 3 else (unused, block)

        async def action(
            fc: int,
            start: int,
            address: int,
            count: int,
            registers: list[int],
            values: list[int] | list[bool] | None,
        ) -> ExcCodes | None:
            if values is not None:
                return ExcCodes.ILLEGAL_FUNCTION  # a meter's measured values are read-only
            if fc != used_fc:
                return ExcCodes.ILLEGAL_ADDRESS
            if self.failing:
                return ExcCodes.DEVICE_FAILURE
            self.reads += 1
            for i, word in enumerate(self.registers(address, count)):
                registers[address - start + i] = word
            return None

        return SimDevice(self.unit, simdata=(bits, list(bits), regs[0], regs[1]), action=action)

    async def start(self) -> int:
        """Listen on host:port (port 0: any free port); returns the port."""
        server = ModbusTcpServer(self._device(), address=(self.host, self.port))
        await server.serve_forever(background=True)
        self._server = server
        sockets = getattr(server.transport, "sockets", None)
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.shutdown()

    async def __aenter__(self) -> SimMeterServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
