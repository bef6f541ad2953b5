"""Composition root: read the configuration, build the station, wire the adapters, run them.

The only place that knows every part; each adapter gets just what it needs. Runs the
hardware loop, the OCPP client and the web server as tasks in one asyncio loop, shuts
down cleanly on SIGTERM, and restarts the process in place for an OCPP Reset.

:class:`Runtime` lists the parts in the order they are built; how each is built from the
settings is in the ``wiring_*`` modules, which belong to this root and to no adapter:
``wiring_station`` (connectors, simulated hardware), ``wiring_store`` (what the data
directory keeps), ``wiring_energy`` (energy manager, Modbus, SEMP, DLM) and
``wiring_ocpp`` (backend and OCPP client).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from chargebox import settings as station_file
from chargebox import wiring_energy, wiring_ocpp, wiring_station, wiring_store
from chargebox.core.config_keys import Configuration
from chargebox.core.events import ConfigurationChanged, EventBus, ResetRequested
from chargebox.core.station import Station
from chargebox.core.types import StopReason
from chargebox.hardware.sim import SimCar
from chargebox.ocpp16.client import OcppClient
from chargebox.ocpp16.diagnostics import FrameLog, attach_file_log
from chargebox.ocpp16.firmware import FirmwareManagement
from chargebox.ocpp16.smart_handlers import SmartCharging
from chargebox.platform import NoopPlatform, Platform
from chargebox.store import (
    AuthCacheStore,
    Database,
    LocalListStore,
    MessageQueue,
    ReservationStore,
    SettingsStore,
    StateStore,
    TransactionStore,
    WhitelistStore,
)
from chargebox.store.profiles import ProfileStore
from chargebox.store.sources import StoreAuthSources
from chargebox.wiring_store import SettingsWriter, apply_stored_overrides

__all__ = ["RunOptions", "Runtime", "apply_stored_overrides", "restart_process", "run"]

log = logging.getLogger("chargebox")


class SystemClock:
    """The real clock; the core only ever gets a clock passed in (tests use a manual one)."""

    def time(self) -> float:
        return time.time()


@dataclass
class RunOptions:
    """The command line's flags; each one, when given, wins over file and database."""

    config: Path | None = None
    data_dir: Path | None = None
    csms_url: str | None = None
    identity: str | None = None
    http_host: str | None = None
    http_port: int | None = None
    connectors: int | None = None
    modbus_port: int | None = None
    extra: dict[str, str] = field(default_factory=dict)


class Runtime:
    """Everything one station process runs, built from the options."""

    def __init__(self, options: RunOptions) -> None:
        file = station_file.load(options.config)
        wiring_station.check_file_keys(file, options.connectors, options.config)
        self.file = file
        self.options = options
        self.data_dir = Path(options.data_dir or file.station.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        from chargebox.system import apply_pending_factory_reset

        apply_pending_factory_reset(self.data_dir)  # before anything in it is opened
        self.identity = options.identity or file.station.identity
        self.http_host = options.http_host or file.http.host
        self.http_port = options.http_port if options.http_port is not None else file.http.port
        self.db = Database(self.data_dir / "chargebox.db")
        self.settings_store = SettingsStore(self.db)
        self.state = StateStore(self.db)
        self.transactions = TransactionStore(self.db)
        self.queue = MessageQueue(self.db)
        self.whitelist = WhitelistStore(self.db)
        self.local_list = LocalListStore(self.db)
        self.reservations = ReservationStore(self.db)
        self.auth_cache = AuthCacheStore(self.db)
        self.bus = EventBus()
        self.clock = SystemClock()
        self._writer = SettingsWriter(self.settings_store)
        # Settings saved in the web interface that take effect at start (installation pages).
        file = apply_stored_overrides(file, self.state)
        self.file = file
        self.identity = wiring_ocpp.backend_identity(options.identity, self.state, self.identity)
        self.platform: Platform = NoopPlatform()
        self._ocpp_task: asyncio.Future[None] | None = None
        self._serving = False

        specs = wiring_station.connector_specs(file, options.connectors)
        fixed = {"NumberOfConnectors": str(len(specs))}
        self.config, skipped = Configuration.load(
            file.ocpp.key_overrides(),
            self.settings_store.get_all(),
            fixed,
            on_change=self._config_changed,
            strict=False,
        )
        for key in skipped:
            log.warning("ignoring stored value of configuration key %s: invalid", key)

        self.csms_url = wiring_ocpp.backend_url(options.csms_url, file, self.state)
        self.sim_car_defaults = file.hardware.sim_car
        self.sim = wiring_station.sim_station(specs, self.transactions)
        self.station = Station(
            clock=self.clock,
            bus=self.bus,
            config=self.config,
            connectors=wiring_station.connector_hardware(specs, self.sim),
            journal=self.transactions,
            auth_sources=StoreAuthSources(self.auth_cache, self.local_list, self.whitelist),
            settings=wiring_station.station_settings(
                file, self.state, backend_configured=bool(self.csms_url)
            ),
            availability={int(k): v for k, v in self.state.items("availability").items()},
            reservations=self.reservations.all(),  # expired ones end at the first tick
        )
        # The energy adapters, each None unless station.toml switches it on.
        self.energy: Any = wiring_energy.energy_manager(
            file, specs, station=self.station, sim=self.sim, clock=self.clock, bus=self.bus
        )
        self.modbus: Any = wiring_energy.modbus_server(
            file,
            options.modbus_port,
            station=self.station,
            bus=self.bus,
            energy=self.energy,
            boot_fields=self.boot_fields,
        )
        self.dlm: Any = wiring_energy.dlm(
            file, specs, station=self.station, state=self.state, with_modbus=self.modbus is not None
        )
        if self.modbus is not None:
            self.modbus.dlm = self.dlm  # registers 600, 621, 1010, 1011
        self.dlm_discovery: Any = None  # [dlm] discovery = true: started in serve()
        self.energy_inputs = wiring_energy.energy_inputs(
            file,
            station=self.station,
            sim=self.sim,
            clock=self.clock,
            energy=self.energy,
            dlm=self.dlm,
        )
        wiring_store.keep_state(self.bus, self.state, self.reservations)
        self.bus.subscribe(ResetRequested, self._reset_requested)
        self.ocpp: OcppClient | None = None
        self.firmware = FirmwareManagement(self.station, self.state, self.data_dir, self.identity)
        self.smart = SmartCharging(self.station, ProfileStore(self.db))
        self.frame_log: FrameLog | None = None
        if self.csms_url:
            self.ocpp = self._make_ocpp()
        self.semp: Any = wiring_energy.semp_device(
            file,
            station=self.station,
            sim=self.sim,
            bus=self.bus,
            energy=self.energy,
            identity=self.identity,
            boot_fields=self.boot_fields,
            with_modbus=self.modbus is not None,
        )
        self.ssdp: Any = None  # [semp] announce = true: started in serve()
        self.api_token = wiring_store.api_token(self.data_dir)
        self.restart_kind: str | None = None
        self._stop = asyncio.Event()

    # ------------------------------------------------------------- wiring

    def boot_fields(self) -> dict[str, str]:
        """BootNotification identity: station.toml [ocpp.boot] < web overrides < firmware."""
        return wiring_ocpp.boot_fields(self.file, self.state)

    def _make_ocpp(self) -> OcppClient:
        """A client for the current backend; every client of this process shares one log."""
        if self.frame_log is None:
            self.frame_log = FrameLog(self.data_dir)
        return wiring_ocpp.ocpp_client(
            self.file,
            url=self.csms_url,
            identity=self.identity,
            boot=self.boot_fields(),
            station=self.station,
            bus=self.bus,
            config=self.config,
            queue=self.queue,
            transactions=self.transactions,
            auth_cache=self.auth_cache,
            local_list=self.local_list,
            firmware=self.firmware,
            smart=self.smart,
            frame_log=self.frame_log,
        )

    def apply_backend(self) -> bool:
        """Put the stored backend settings (URL, identity, boot fields) in force.

        A running OCPP client reconnects at once to the new endpoint and registers again
        with a fresh BootNotification; a standalone station starts its client. Returns
        False when only a restart can apply it (a backend removed while one was running:
        its queued transaction messages must not be dropped silently; the command-line
        ``--csms-url`` / ``--id`` also win until the next start).
        """
        url = wiring_ocpp.backend_url(self.options.csms_url, self.file, self.state)
        identity = wiring_ocpp.backend_identity(self.options.identity, self.state, self.identity)
        if not url:
            return self.ocpp is None
        self.csms_url = url
        self.identity = identity
        self.firmware.identity = identity
        if self.ocpp is not None:
            self.ocpp.settings = replace(
                self.ocpp.settings, url=url, identity=identity, boot_fields=self.boot_fields()
            )
            self.ocpp.registration = None  # a new central system: BootNotification again
            self.ocpp.reconnect()
            return True
        self.station.settings = replace(self.station.settings, backend_configured=True)
        self.ocpp = self._make_ocpp()
        if self._serving:
            self._ocpp_task = asyncio.ensure_future(self.ocpp.run())
            self.firmware.start()
        return True

    def apply_station_settings(self, **changes: Any) -> None:
        """Station-level choices applied live (authorization mode, tag case, limits)."""
        self.station.settings = replace(self.station.settings, **changes)
        self.station.tick()

    def dlm_status(self) -> dict[str, Any]:
        """The DLM snapshot, with what discovery announces and found ([dlm] discovery)."""
        return wiring_energy.dlm_status(self.dlm, self.dlm_discovery)

    def _config_changed(self, key: str, value: str) -> None:
        if key != "NumberOfConnectors":
            self._writer.write(key, value)
        self.bus.publish(ConfigurationChanged(self.clock.time(), key, value))

    def _reset_requested(self, event: ResetRequested) -> None:
        self.restart_kind = event.kind
        asyncio.get_running_loop().call_soon(
            lambda: asyncio.ensure_future(self._restart(event.kind))
        )

    def new_car(self, **overrides: float | None) -> SimCar:
        return wiring_station.new_car(self.sim_car_defaults, **overrides)

    # ---------------------------------------------------------------- run

    def step(self) -> None:
        """One hardware cycle: the simulated world moves, the station looks at it."""
        self.sim.advance(self.clock.time())
        for id_tag, connector_id in self.sim.reader.take():
            self.station.present_token(id_tag, connector_id)
        faults = frozenset(self.sim.station_faults) | self.energy_inputs.faults  # + meter failure
        if faults != self.station.station_hw_faults:
            self.station.set_station_faults(faults)
        self.station.tick()

    async def _hardware_loop(self) -> None:
        period = self.file.hardware.tick_s
        while True:
            try:
                self.step()
            except Exception:  # the loop that drives the contactors must never die
                log.exception("hardware cycle failed")
            await asyncio.sleep(period)

    async def _restart(self, kind: str) -> None:
        """Soft: give queued StopTransactions a few seconds to go out; then restart in place."""
        await self._drain_queue(10.0 if kind == "Soft" else 1.0)
        self._stop.set()

    async def _drain_queue(self, seconds: float) -> None:
        """Wait (bounded) for queued transaction messages to reach the central system."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.ocpp is not None and self.ocpp.accepted:
            if len(self.queue) == 0:
                await asyncio.sleep(0.3)  # let the last StatusNotifications out
                break
            await asyncio.sleep(0.1)

    def request_stop(self) -> None:
        self._stop.set()

    def _end_sessions(self) -> None:
        """A shutdown that is not a reset ends running transactions with reason Reboot."""
        if self.restart_kind is not None:
            return
        for cid, connector in self.station.connectors.items():
            if connector.transaction is not None:
                self.station.stop_transaction(cid, StopReason.REBOOT)

    async def serve(self) -> None:
        import uvicorn

        from chargebox.web.api import create_app
        from chargebox.web.ui import install_ui

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        self.station.boot()
        if self.modbus is not None:
            await wiring_energy.start_modbus(self.modbus)
        if self.semp is not None:
            self.ssdp = await wiring_energy.start_semp(self.semp)
        if self.dlm is not None and self.file.dlm.discovery:
            # After Modbus: a slave announces its port.
            self.dlm_discovery = await wiring_energy.start_dlm_discovery(
                self.file, dlm=self.dlm, modbus=self.modbus, station=self.station
            )
        app = create_app(self)
        web = install_ui(app, self)  # login, pages, live updates on top of the control API
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=self.http_host,
                port=self.http_port,
                log_level="warning",
                lifespan="off",
                access_log=False,
                **web.uvicorn_options(),  # TLS with [http] https = true
            )
        )
        tasks: list[asyncio.Future[Any]] = [
            asyncio.ensure_future(self._hardware_loop()),
            asyncio.ensure_future(server.serve()),
        ]
        tasks.append(asyncio.ensure_future(self.smart.run()))  # profile periods change limits
        tasks.append(asyncio.ensure_future(web.run()))  # the web UI's live feed
        if self.energy is not None:
            tasks.append(asyncio.ensure_future(self.energy.run()))
        if self.modbus is not None:
            tasks.append(asyncio.ensure_future(self.modbus.run()))  # communication timeout
        if self.semp is not None:
            tasks.append(asyncio.ensure_future(self.semp.run()))  # connection-loss timeout
        tasks.extend(asyncio.ensure_future(c) for c in self.energy_inputs.coroutines())
        if self.dlm is not None:
            tasks.append(asyncio.ensure_future(self.dlm.run()))
        if self.ocpp is not None:
            self._ocpp_task = asyncio.ensure_future(self.ocpp.run())
            tasks.append(self._ocpp_task)
        if self.ocpp is not None or self.firmware.state.get("firmware", "job") is not None:
            self.firmware.start()  # reports an install that restarted us (or a web upload)
        self._serving = True
        log.info(
            "chargebox %s: %d connectors, web on http://%s:%d, backend %s",
            self.identity,
            len(self.station.connectors),
            self.http_host,
            self.http_port,
            self.csms_url or "none (standalone)",
        )
        web.announce()  # the one-time setup link while no admin exists
        stopper = asyncio.ensure_future(self._stop.wait())
        done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopper and task.exception() is not None:
                log.error("task failed: %r", task.exception())
        # SIGTERM reaches uvicorn's handler or ours, whichever is installed: end sessions here.
        self._end_sessions()
        if self.restart_kind is None:
            await self._drain_queue(5.0)
        server.should_exit = True
        if self._ocpp_task is not None and self._ocpp_task not in tasks:
            tasks.append(self._ocpp_task)  # a client started later from the web interface
        for task in tasks:
            if task is not tasks[1]:
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.firmware.stop()
        if self.dlm_discovery is not None:
            await self.dlm_discovery.close()  # goodbye packets: peers drop us at once
        if self.modbus is not None:
            await self.modbus.stop()
        if self.ssdp is not None:
            await self.ssdp.stop()
        if self.semp is not None:
            await self.semp.stop()
        if self.frame_log is not None:
            self.frame_log.close()
        self._writer.shutdown(wait=True)
        self.db.close()


def restart_process() -> None:
    """An OCPP Reset is a real restart: the same command line, a fresh process image."""
    os.execv(sys.executable, [sys.executable, "-m", "chargebox", *sys.argv[1:]])


def run(options: RunOptions) -> int:
    runtime = Runtime(options)
    attach_file_log(runtime.data_dir)
    print(f"chargebox: API token for this station: {runtime.api_token}", flush=True)
    asyncio.run(runtime.serve())
    if runtime.restart_kind is not None:
        log.warning("%s reset: restarting", runtime.restart_kind)
        restart_process()
    return 0
