"""The Modbus TCP register server for energy managers (OMCCI, `omcci.toml`).

One pymodbus TCP server per connector: connector n on `base_port + n - 1`, any unit id,
several clients at once. Reads are answered from `snapshot()` at the moment of the request.
Writes are checked before anything changes: a register that is not writable or not there
answers exception 02 (ILLEGAL DATA ADDRESS), a value out of range exception 03 (ILLEGAL
DATA VALUE), and then nothing of the request is applied.

Register 1000 (HEMS current limit) is `Claim(LimitSource.EMS, amps)` on the connector.
The energy manager must write it again within the communication timeout (132); when it
does not, the safe current (131) replaces it (still an `ems` claim) until the next write.
Writing 65535 ("no limit") removes the claim and the timeout. Each connector keeps its own
limit, safe current, timeout and last write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from chargebox.core.events import EventBus, TransactionStarted, TransactionStopped
from chargebox.core.limits import Claim, LimitSource
from chargebox.core.station import Station
from chargebox.core.types import Availability
from chargebox.modbus.registermap import Register, RegisterMap, decode_string, load_map
from chargebox.modbus.snapshot import EmsView, SessionRecord, snapshot, station_limits

log = logging.getLogger(__name__)

WATCH_S = 0.1  # how often the communication timeout is checked
IDENTITY_TTL_S = 5.0  # model and firmware come from the database: not on every read
MAX_TIMEOUT_S = 3600
BIT_FUNCTIONS = (1, 2, 5, 15)  # coils and discrete inputs: not in the register set


class ModbusWriteError(Exception):
    """A refused write; `code` is the Modbus exception to answer."""

    def __init__(self, code: ExcCodes, reason: str) -> None:
        super().__init__(reason)
        self.code = code


@dataclass(frozen=True, slots=True)
class ModbusSettings:
    host: str = "127.0.0.1"
    base_port: int = 502
    allow_start_stop: bool = False
    allow_uid_transfer: bool = False
    safe_current_a: int = 6
    timeout_s: int = 60


@dataclass
class ConnectorEms:
    """The energy manager's side of one connector."""

    safe_current_a: int
    timeout_s: int
    limit_a: int | None = None  # last value written to 1000; None: no limit
    last_write: float | None = None
    fallback: bool = False  # the timeout passed: the safe current is in force
    writes: int = 0

    @property
    def in_force(self) -> int | None:
        if self.limit_a is None:
            return None
        return self.safe_current_a if self.fallback else self.limit_a


@dataclass
class EmsServer:
    station: Station
    settings: ModbusSettings = field(default_factory=ModbusSettings)
    bus: EventBus | None = None
    energy: Any = None  # the EnergyManager when load management runs
    model: Callable[[], str] = lambda: ""  # BootNotification chargePointModel
    firmware: Callable[[], str] = lambda: ""
    regmap: RegisterMap = field(default_factory=load_map)
    dlm: Any = None  # energy.dlm: DlmSlave / DlmMaster (registers 600, 621, 1010, 1011)

    def __post_init__(self) -> None:
        s = self.settings
        self.connectors: dict[int, ConnectorEms] = {
            cid: ConnectorEms(s.safe_current_a, s.timeout_s) for cid in self.station.connectors
        }
        self.sessions: dict[int, SessionRecord] = {}
        self.operator_subdist: tuple[float, float, float] | None = None
        self.ports: dict[int, int] = {}
        self._servers: list[ModbusTcpServer] = []
        self._identity: tuple[float, str, str] | None = None
        if self.bus is not None:
            self.bus.subscribe(TransactionStarted, self._started)
            self.bus.subscribe(TransactionStopped, self._stopped)

    # ------------------------------------------------------------ sessions

    def _started(self, e: TransactionStarted) -> None:
        self.sessions[e.connector_id] = SessionRecord(e.timestamp, e.meter_start_wh, e.id_tag)

    def _stopped(self, e: TransactionStopped) -> None:
        rec = self.sessions.get(e.connector_id)
        if rec is not None and not e.recovered:
            rec.end, rec.meter_stop_wh = e.timestamp, e.meter_stop_wh

    # --------------------------------------------------------------- reads

    def identity(self) -> tuple[str, str]:
        """(model, firmware version), looked up at most every IDENTITY_TTL_S."""
        now = time.monotonic()
        if self._identity is None or now - self._identity[0] > IDENTITY_TTL_S:
            self._identity = (now, self.model(), self.firmware())
        return self._identity[1], self._identity[2]

    def values(self, connector_id: int) -> dict[str, int | float | str]:
        ems = self.connectors[connector_id]
        model, firmware = self.identity()
        return snapshot(
            self.station,
            connector_id,
            self.regmap,
            EmsView(ems.safe_current_a, ems.timeout_s, ems.in_force),
            energy=self.energy,
            session=self.sessions.get(connector_id),
            model=model,
            firmware=firmware,
            allow_uid_transfer=self.settings.allow_uid_transfer,
            operator_subdist=self.operator_subdist,
        ) | (self.dlm.register_values(connector_id) if self.dlm is not None else {})

    def read(self, connector_id: int, address: int, count: int) -> list[int]:
        """The words a read of `count` registers at `address` answers now."""
        image = self.regmap.encode(self.values(connector_id))
        return [image.get(a, 0) for a in range(address, address + count)]

    # -------------------------------------------------------------- writes

    def write(self, connector_id: int, address: int, words: Sequence[int]) -> None:
        """Check the whole request, then apply it; ModbusWriteError changes nothing."""
        changes = self._check(connector_id, address, list(words))
        for reg, value in changes:
            self._apply(connector_id, reg, value)

    def _check(self, cid: int, address: int, words: list[int]) -> list[tuple[Register, Any]]:
        if not words:
            raise ModbusWriteError(ExcCodes.ILLEGAL_VALUE, "nothing to write")
        changes: list[tuple[Register, Any]] = []
        a, end = address, address + len(words)
        while a < end:
            reg = self.regmap.at(a)
            if reg is None or not reg.writable:
                raise ModbusWriteError(ExcCodes.ILLEGAL_ADDRESS, f"{a}: not writable")
            if reg.name == "user_id_write":
                if a != reg.address or end > reg.end:
                    raise ModbusWriteError(
                        ExcCodes.ILLEGAL_ADDRESS, "the user ID is written at 1110, 1-10 registers"
                    )
                changes.append((reg, self._check_uid(cid, words[: end - a])))
                break
            if a != reg.address or a + reg.count > end:
                raise ModbusWriteError(ExcCodes.ILLEGAL_ADDRESS, f"{a}: part of a value")
            changes.append((reg, self._check_value(cid, reg, words[a - address])))
            a = reg.end
        return changes

    def _check_value(self, cid: int, reg: Register, value: int) -> int:
        station = self.station
        c = station.connectors[cid]
        min_a = station.settings.min_current_a
        hw = c.spec.max_current_a

        def refuse(why: str) -> ModbusWriteError:
            return ModbusWriteError(ExcCodes.ILLEGAL_VALUE, f"{reg.address} = {value}: {why}")

        if reg.name == "ems_current_limit":
            if value == self.regmap.no_limit:
                return value
            if value == 0:
                if not self.settings.allow_start_stop:
                    raise refuse("pausing is not allowed (allow_start_stop = false)")
                return value
            if not min_a <= value <= hw:
                raise refuse(f"0, {min_a:g}-{hw:g} or 65535")
            return value
        if reg.name == "dlm_setpoint":
            why = (
                self.dlm.check_setpoint(cid, value)
                if hasattr(self.dlm, "check_setpoint")
                else "this station is not a DLM slave"
            )
            if why:
                raise refuse(why)
            return value
        if reg.name == "safe_current":
            if value != 0 and not min_a <= value <= hw:
                raise refuse(f"0 or {min_a:g}-{hw:g}")
            return value
        if reg.name == "comm_timeout":
            if not 1 <= value <= MAX_TIMEOUT_S:
                raise refuse(f"1-{MAX_TIMEOUT_S}")
            return value
        if reg.name == "availability":
            if value not in (0, 1):
                raise refuse("0 or 1")
            return value
        if reg.name.startswith("dlm_operator_subdist_l"):
            phase = int(reg.name[-1]) - 1
            sub, _ = self._subdist_limits()
            if value > sub[phase]:
                raise refuse(f"0-{sub[phase]:g} (the sub-distribution limit)")
            return value
        raise ModbusWriteError(ExcCodes.ILLEGAL_ADDRESS, f"{reg.address}: not writable")

    def _check_uid(self, cid: int, words: list[int]) -> str:
        if not self.settings.allow_uid_transfer:
            raise ModbusWriteError(
                ExcCodes.ILLEGAL_ADDRESS, "UID transfer is off (allow_uid_transfer = false)"
            )
        try:
            uid = decode_string(words).strip()
        except UnicodeDecodeError:
            raise ModbusWriteError(ExcCodes.ILLEGAL_VALUE, "the user ID is not ASCII") from None
        if not uid or not uid.isprintable() or "\0" in uid:
            raise ModbusWriteError(ExcCodes.ILLEGAL_VALUE, "1-20 printable ASCII characters")
        if self.station.connectors[cid].transaction is not None:
            raise ModbusWriteError(ExcCodes.ILLEGAL_VALUE, "a transaction runs on this connector")
        return uid

    def _apply(self, cid: int, reg: Register, value: Any) -> None:
        ems = self.connectors[cid]
        now = self.station.clock.time()
        if reg.name == "ems_current_limit":
            ems.writes += 1
            if value == self.regmap.no_limit:
                ems.limit_a, ems.last_write, ems.fallback = None, None, False
                log.info("connector %s: energy manager removed its current limit", cid)
            else:
                if ems.fallback:
                    log.info("connector %s: energy manager writes again: %s A", cid, value)
                ems.limit_a, ems.last_write, ems.fallback = int(value), now, False
            self._claim(cid)
        elif reg.name == "dlm_setpoint":
            self.dlm.write_setpoint(cid, int(value))
        elif reg.name == "safe_current":
            ems.safe_current_a = int(value)
            if ems.fallback:
                self._claim(cid)
        elif reg.name == "comm_timeout":
            ems.timeout_s = int(value)
        elif reg.name == "availability":
            wanted = Availability.OPERATIVE if value == 1 else Availability.INOPERATIVE
            self.station.change_availability(cid, wanted)
        elif reg.name.startswith("dlm_operator_subdist_l"):
            self._operator_subdist(int(reg.name[-1]) - 1, float(value))
        elif reg.name == "user_id_write":
            log.info("connector %s: energy manager presents user ID %s", cid, value)
            self.station.present_token(str(value), cid)
            self.station.tick()

    def _claim(self, cid: int) -> None:
        amps = self.connectors[cid].in_force
        if amps is None:
            self.station.set_claims({cid: []}, clear=[LimitSource.EMS])
        else:
            self.station.set_claims({cid: [Claim.uniform(LimitSource.EMS, float(amps))]})
        self._notify_energy()

    def _group_master(self) -> Any:
        """The DLM master when this station runs one: 610-615 are then the group's."""
        return self.dlm if hasattr(self.dlm, "set_operator_limit") else None

    def _subdist_limits(self) -> tuple[list[float], list[float]]:
        master = self._group_master()
        if master is not None:
            sub = list(master.subdistribution_limit().as_tuple())
            op = master.register_values(1)
            return sub, [float(op[f"dlm_operator_subdist_l{n}"]) for n in (1, 2, 3)]
        return station_limits(self.station, self.energy)

    def _operator_subdist(self, phase: int, amps: float) -> None:
        sub, op = self._subdist_limits()
        current = list(self.operator_subdist or op)
        current[phase] = amps
        values = (
            None
            if all(current[p] >= sub[p] for p in range(3))
            else (
                current[0],
                current[1],
                current[2],
            )
        )
        self.operator_subdist = values
        master = self._group_master()
        if master is not None:  # caps the whole group, not only this station
            master.set_operator_limit(values)
            return
        if values is None:
            self.station.set_claims({0: []}, clear=[LimitSource.EMS])
        else:
            self.station.set_claims({0: [Claim(LimitSource.EMS, values)]})
        self._notify_energy()

    def _notify_energy(self) -> None:
        notify = getattr(self.energy, "notify", None)
        if notify is not None:
            notify()

    # ------------------------------------------------------------- timeout

    def check_timeouts(self, now: float | None = None) -> None:
        """The safe current for every connector whose energy manager fell silent."""
        now = self.station.clock.time() if now is None else now
        for cid, ems in self.connectors.items():
            if ems.limit_a is None or ems.fallback or ems.last_write is None:
                continue
            if now - ems.last_write > ems.timeout_s:
                ems.fallback = True
                log.warning(
                    "connector %s: no write of register 1000 for %s s: safe current %s A",
                    cid,
                    ems.timeout_s,
                    ems.safe_current_a,
                )
                self._claim(cid)

    async def run(self) -> None:
        while True:
            try:
                self.check_timeouts()
            except Exception:  # the watchdog must keep watching
                log.exception("Modbus communication timeout check failed")
            await asyncio.sleep(WATCH_S)

    # ------------------------------------------------------------- network

    def port_of(self, connector_id: int) -> int:
        return self.settings.base_port + connector_id - 1

    def _device(self, cid: int) -> SimDevice:
        holding = [
            SimData(r.address, count=r.count, values=0, datatype=DataType.REGISTERS, readonly=False)
            for r in self.regmap.registers
        ]
        unused = [SimData(0, datatype=DataType.INVALID)]
        bits = [SimData(0, count=16, values=False, datatype=DataType.BITS)]

        async def action(
            fc: int,
            start: int,
            address: int,
            count: int,
            registers: list[int],
            values: list[int] | list[bool] | None,
        ) -> ExcCodes | None:
            if fc in BIT_FUNCTIONS:
                return ExcCodes.ILLEGAL_FUNCTION  # holding registers only
            try:
                if values is not None:
                    self.write(cid, address, [int(w) for w in values])
                    return None
                for i, word in enumerate(self.read(cid, address, count)):
                    registers[address - start + i] = word
            except ModbusWriteError as exc:
                log.info("connector %s: Modbus write refused: %s", cid, exc)
                return exc.code
            except Exception:
                log.exception("connector %s: Modbus request failed", cid)
                return ExcCodes.DEVICE_FAILURE
            return None

        # Unit id 0 is pymodbus's fallback device: every unit id reaches it.
        return SimDevice(0, simdata=(bits, list(bits), holding, unused), action=action)

    async def start(self) -> dict[int, int]:
        """Listen on every connector's port; returns {connector id: port}."""
        try:
            for cid in sorted(self.station.connectors):
                port = self.port_of(cid)
                server = ModbusTcpServer(self._device(cid), address=(self.settings.host, port))
                await server.serve_forever(background=True)
                self._servers.append(server)
                sockets = getattr(server.transport, "sockets", None)
                self.ports[cid] = int(sockets[0].getsockname()[1]) if sockets else port
        except BaseException:
            await self.stop()
            raise
        log.info(
            "Modbus TCP server (OMCCI) on %s: %s",
            self.settings.host,
            ", ".join(f"connector {cid} port {p}" for cid, p in self.ports.items()),
        )
        return dict(self.ports)

    async def stop(self) -> None:
        servers, self._servers = self._servers, []
        for server in servers:
            with contextlib.suppress(Exception):
                await server.shutdown()
