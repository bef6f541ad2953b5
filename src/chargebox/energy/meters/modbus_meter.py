"""The grid meter over Modbus TCP: a pymodbus client behind the `GridMeterSource` interface.

`run()` polls the meter every `poll_s`; `latest()` returns the newest good reading with
the time it was taken (the energy manager applies its own timeout to that timestamp), or
None before the first one. A timeout, a refused connection or a Modbus exception counts as
a failed poll; after `fail_after` failures in a row the meter is reported failed through
`on_status` (the app turns that into the station warning `external_meter_failure`,
OCPP PowerMeterFailure, which does not stop transactions), and reported healthy again at
the next good reading. pymodbus is used only here and in the simulated server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from pymodbus.client import AsyncModbusTcpClient

from chargebox.energy.meters.registermap import RegisterMap, read_values, to_grid_reading
from chargebox.energy.model import GridReading

log = logging.getLogger(__name__)

StatusCallback = Callable[[str, bool, str | None], None]  # (meter name, ok, error)


class MeterError(Exception):
    """A poll that did not produce a reading."""


class ModbusGridMeter:
    def __init__(
        self,
        regmap: RegisterMap,
        host: str,
        port: int | None = None,
        *,
        name: str = "grid",
        unit: int | None = None,
        poll_s: float = 1.0,
        timeout_s: float = 1.0,
        fail_after: int = 3,
        clock: Callable[[], float] = time.time,
        on_status: StatusCallback | None = None,
    ) -> None:
        self.map = regmap
        self.name = name
        self.host = host
        self.port = port if port is not None else regmap.default_port
        self.unit = unit if unit is not None else regmap.unit_id
        self.poll_s = poll_s
        self.timeout_s = timeout_s
        self.fail_after = max(1, fail_after)
        self.clock = clock
        self.on_status = on_status
        self.failures = 0  # consecutive failed polls
        self.failed = False  # reported as failed
        self.last_error: str | None = None
        self.polls = 0
        self._latest: GridReading | None = None
        self._client: AsyncModbusTcpClient | None = None

    # ------------------------------------------------------------ GridMeterSource

    def latest(self) -> GridReading | None:
        return self._latest

    # ------------------------------------------------------------------- polling

    async def read_once(self) -> GridReading:
        """One complete reading of the map's registers, or MeterError."""
        client = await self._connected()
        reader = (
            client.read_holding_registers
            if self.map.function == "holding"
            else client.read_input_registers
        )
        image: dict[int, int] = {}
        for address, count in self.map.blocks():
            try:
                rr = await asyncio.wait_for(
                    reader(address, count=count, device_id=self.unit), self.timeout_s
                )
            except TimeoutError:
                await self._drop()
                raise MeterError(f"no answer within {self.timeout_s:g} s") from None
            except Exception as exc:  # pymodbus raises ModbusException and OSError subclasses
                await self._drop()
                raise MeterError(f"{type(exc).__name__}: {exc}") from None
            if rr.isError():
                raise MeterError(
                    f"Modbus exception {getattr(rr, 'exception_code', '?')} "
                    f"reading {count} registers at {address}"
                )
            if len(rr.registers) < count:
                raise MeterError(f"short answer at {address}: {len(rr.registers)}/{count}")
            image.update({address + i: w for i, w in enumerate(rr.registers[:count])})
        try:
            return to_grid_reading(self.map, read_values(self.map, image), self.clock())
        except ValueError as exc:
            raise MeterError(str(exc)) from None

    async def poll(self) -> GridReading | None:
        """Read once and keep the result; failures are counted and reported, never raised."""
        self.polls += 1
        try:
            reading = await self.read_once()
        except MeterError as exc:
            self.failures += 1
            self.last_error = str(exc)
            if self.failures == 1:
                log.warning("meter %s (%s:%s): %s", self.name, self.host, self.port, exc)
            if self.failures >= self.fail_after and not self.failed:
                self.failed = True
                self._report(False, self.last_error)
            return None
        self._latest = reading
        if self.failures:
            log.info("meter %s answers again", self.name)
        self.failures, self.last_error = 0, None
        if self.failed:
            self.failed = False
            self._report(True, None)
        return reading

    async def run(self) -> None:
        """Poll forever at `poll_s` (the caller cancels the task to stop)."""
        try:
            while True:
                started = time.monotonic()
                await self.poll()
                await asyncio.sleep(max(0.0, self.poll_s - (time.monotonic() - started)))
        finally:
            await self.close()

    async def close(self) -> None:
        await self._drop()

    def status(self) -> dict[str, object]:
        r = self._latest
        return {
            "name": self.name,
            "map": self.map.name,
            "host": self.host,
            "port": self.port,
            "unit": self.unit,
            "ok": not self.failed,
            "error": self.last_error,
            "currents_a": list(r.currents_a.as_tuple()) if r else None,
            "power_w": r.power_w if r else None,
            "timestamp": r.timestamp if r else None,
        }

    # ----------------------------------------------------------------- internals

    def _report(self, ok: bool, error: str | None) -> None:
        if self.on_status is not None:
            try:
                self.on_status(self.name, ok, error)
            except Exception:  # a failing listener must not stop the meter
                log.exception("meter %s: status listener failed", self.name)

    async def _connected(self) -> AsyncModbusTcpClient:
        client = self._client
        if client is not None and client.connected:
            return client
        await self._drop()
        client = AsyncModbusTcpClient(
            self.host, port=self.port, timeout=self.timeout_s, retries=0, reconnect_delay=0
        )
        self._client = client
        try:
            ok = await asyncio.wait_for(client.connect(), self.timeout_s + 0.5)
        except (TimeoutError, OSError) as exc:
            ok = False
            self.last_error = str(exc)
        if not ok:
            await self._drop()
            raise MeterError(f"cannot connect to {self.host}:{self.port}")
        return client

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
