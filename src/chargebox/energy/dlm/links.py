"""The master's view of one slave station: its connectors' Modbus registers.

Every poll reads, per connector, the OMCCI registers the allocator needs (control-pilot
state 122, hardware limit 133, per-phase currents 212-217, signalled current 706, car
maximum 715, network id 1011); setpoints go to register 1010.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from pymodbus.client import AsyncModbusTcpClient

from chargebox.energy.model import ROTATIONS, PhaseCurrents

ACTIVE_CP = (2, 3, 4)  # B, C, D: a car is there
SETPOINT_REGISTER = 1010


@dataclass
class SlaveConnector:
    cid: int
    host: str
    port: int
    _client: AsyncModbusTcpClient | None = None
    cp_state: int = 0
    hardware_a: float = 32.0
    currents_a: PhaseCurrents = field(default_factory=PhaseCurrents)
    signalled_a: float = 0.0
    ev_max_a: float = 0.0
    setpoint: float | None = None  # last written
    setpoint_since: float = 0.0
    active_since: float = 0.0

    @property
    def client(self) -> AsyncModbusTcpClient:
        """Made on first use: pymodbus clients need the running event loop."""
        if self._client is None:
            self._client = AsyncModbusTcpClient(self.host, port=self.port, timeout=0.5, retries=0)
        return self._client

    async def _read(self, address: int, count: int) -> list[int]:
        rr = await self.client.read_holding_registers(address, count=count, device_id=1)
        if rr.isError():
            raise OSError(f"exception {rr}")
        return list(rr.registers)

    async def poll(self) -> int:
        """Read the connector's figures; returns the slave's network id (1011)."""
        if not self.client.connected:
            await self.client.connect()
            if not self.client.connected:
                raise OSError("no connection")
        cp = await self._read(122, 1)
        hw = await self._read(133, 1)
        cur = await self._read(212, 6)
        sig = await self._read(706, 1)
        evmax = await self._read(715, 1)
        nid = await self._read(1011, 1)
        self.cp_state = cp[0]
        self.hardware_a = float(hw[0])
        self.currents_a = PhaseCurrents(
            ((cur[0] << 16) | cur[1]) / 1000,
            ((cur[2] << 16) | cur[3]) / 1000,
            ((cur[4] << 16) | cur[5]) / 1000,
        )
        self.signalled_a = float(sig[0])
        self.ev_max_a = float(evmax[0])
        return nid[0]

    async def write_setpoint(self, amps: float, now: float) -> None:
        value = int(amps)  # floored: never more than allocated
        rr = await self.client.write_register(SETPOINT_REGISTER, value, device_id=1)
        if rr.isError():
            raise OSError(str(rr))
        if self.setpoint is None or abs(self.setpoint - value) > 0.05:
            self.setpoint_since = now
        self.setpoint = float(value)

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()


@dataclass
class SlaveLink:
    index: int
    host: str
    port: int
    phases: int
    rotation: str
    connectors: dict[int, SlaveConnector]
    network_id: int | None = None
    online: bool = False
    last_seen: float | None = None  # station clock
    last_alloc: dict[int, float] = field(default_factory=dict)
    last_phases: dict[int, tuple[int, ...]] = field(default_factory=dict)
    error: str = ""
    discovered: bool = False  # found by DNS-SD rather than listed in station.toml

    @classmethod
    def make(
        cls,
        index: int,
        host: str,
        port: int,
        connectors: int,
        phases: int = 3,
        rotation: str = "RST",
        *,
        discovered: bool = False,
    ) -> SlaveLink:
        conns = {c: SlaveConnector(c, host, port + c - 1) for c in range(1, connectors + 1)}
        return cls(index, host, port, phases, rotation, conns, discovered=discovered)

    @property
    def key(self) -> str:
        return f"{self.host}:{self.port}"

    def group_id(self, cid: int, stride: int) -> int:
        """The connector's id in the group's site (unique over all stations)."""
        return stride * (self.index + 1) + cid

    def wired_phases(self) -> tuple[int, ...]:
        """Grid phases the slave's connectors are wired to (all cars' worst case)."""
        return tuple(sorted({ROTATIONS[self.rotation][p] for p in range(self.phases)}))

    async def poll(self, network_id: int, now: float) -> bool:
        """Poll every connector; True when the slave answered with our network id."""
        try:
            ids = await asyncio.gather(*(c.poll() for c in self.connectors.values()))
        except Exception as exc:  # noqa: BLE001 - any failure: the slave is missing
            self.online = False
            self.error = str(exc) or type(exc).__name__
            self.close()
            return False
        self.network_id = ids[0]
        if ids[0] != network_id:
            self.online = False
            self.error = f"network id {ids[0]}, not {network_id}"
            return False
        self.online, self.error = True, ""
        self.last_seen = now
        return True

    def close(self) -> None:
        for c in self.connectors.values():
            c.close()
