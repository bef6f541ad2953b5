"""Composition root: read the configuration, build the station, wire the adapters, run them.

The only module that knows every part; each adapter gets just what it needs. Runs the
hardware loop, the OCPP client and the web server as tasks in one asyncio loop, shuts
down cleanly on SIGTERM, and restarts the process in place for an OCPP Reset.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from chargebox import __version__
from chargebox import settings as station_file
from chargebox.core.auth import AuthMode
from chargebox.core.config_keys import Configuration, ConfigValueError
from chargebox.core.connector import ConnectorHardware, ConnectorSpec
from chargebox.core.events import (
    AvailabilityChanged,
    ConfigurationChanged,
    EventBus,
    ResetRequested,
)
from chargebox.core.reservations import ReservationChanged
from chargebox.core.station import Station, StationSettings
from chargebox.core.types import StopReason
from chargebox.hardware.sim import SimCar, SimConnector, SimLock, SimStation
from chargebox.ocpp16.client import OcppClient, OcppSettings
from chargebox.ocpp16.diagnostics import FrameLog, attach_file_log
from chargebox.ocpp16.firmware import FirmwareManagement, installed_version
from chargebox.ocpp16.handlers import Handlers
from chargebox.ocpp16.local_list_handlers import LocalListHandlers
from chargebox.ocpp16.reservation_handlers import ReservationHandlers
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

log = logging.getLogger("chargebox")


class SystemClock:
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
        try:  # an invalid [ocpp.keys] value in the file stops start-up like any other field
            count = options.connectors or len(file.connector_list())
            fixed_count = {"NumberOfConnectors": str(count)}
            Configuration.load(fixed_count, file.ocpp.key_overrides(), strict=True)
        except ConfigValueError as exc:
            raise station_file.SettingsError(f"{options.config}: ocpp.keys.{exc}") from None
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
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="settings-writer")
        # Settings saved in the web interface that take effect at start (installation pages).
        file = apply_stored_overrides(file, self.state)
        self.file = file
        self.identity = options.identity or self.state.get("backend", "identity") or self.identity
        self.platform: Platform = NoopPlatform()
        self._ocpp_task: asyncio.Future[None] | None = None
        self._serving = False

        specs = file.connector_list()
        if options.connectors is not None:
            specs = [station_file.ConnectorSection(id=n) for n in range(1, options.connectors + 1)]
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

        stored_url = self.state.get("backend", "csms_url")  # "" saved in the web: standalone
        self.csms_url = options.csms_url or (
            stored_url if stored_url is not None else file.ocpp.csms_url
        )
        car = file.hardware.sim_car
        self.sim_car_defaults = car
        self.sim = SimStation(
            {
                c.id: SimConnector(c.id, cable_a=c.cable_a, lock_hw=SimLock(fixed=c.fixed_cable))
                for c in specs
            }
        )
        for c in specs:
            # A real meter keeps its register through a power cut; the simulated one resumes
            # from the last reading the journal holds.
            last = self.transactions.history(limit=1, connector_id=c.id)
            if last:
                rec = last[0]
                self.sim.connectors[c.id].energy_wh = float(
                    rec.meter_stop_wh if rec.meter_stop_wh is not None else rec.last_meter_wh
                )
        hardware = [
            (
                ConnectorSpec(c.id, c.max_current_a, c.phases, c.fixed_cable),
                ConnectorHardware(
                    self.sim.connectors[c.id],
                    self.sim.connectors[c.id].lock_hw,
                    self.sim.connectors[c.id],
                ),
            )
            for c in specs
        ]
        availability = {int(k): v for k, v in self.state.items("availability").items()}
        auth_saved = self.state.items("authorization")
        live_limits = self.state.get("installation", "station") or {}
        self.station = Station(
            clock=self.clock,
            bus=self.bus,
            config=self.config,
            connectors=hardware,
            journal=self.transactions,
            auth_sources=StoreAuthSources(self.auth_cache, self.local_list, self.whitelist),
            settings=StationSettings(
                auth_mode=AuthMode(auth_saved.get("mode", file.authorization.mode)),
                backend_configured=bool(self.csms_url),
                min_current_a=live_limits.get("min_current_a", file.installation.min_current_a),
                installation_limit_a=live_limits.get(
                    "installation_limit_a", file.installation.installation_limit_a
                ),
                operator_limit_a=live_limits.get(
                    "operator_limit_a", file.installation.operator_limit_a
                ),
                tag_case=auth_saved.get("tag_case", "as_read"),
            ),
            availability=availability,
            reservations=self.reservations.all(),  # expired ones end at the first tick
        )
        self.energy = self._energy_manager(file, specs)
        self.modbus = self._modbus_server()
        self.dlm = self._dlm(file, specs)
        self.dlm_discovery: Any = None  # [dlm] discovery = true: started in serve()
        from chargebox.energy.inputs import EnergyInputs

        # A DLM master takes the grid meter, load shedding and PV for its whole group.
        group = self.dlm if file.dlm.role in ("master", "master_standalone") else None
        self.energy_inputs = EnergyInputs.build(
            file,
            station=self.station,
            sim=self.sim,
            clock=self.clock.time,
            manager=self.energy or group,
        )
        self.bus.subscribe(AvailabilityChanged, self._availability_changed)
        self.bus.subscribe(ReservationChanged, self._reservation_changed)
        self.bus.subscribe(ResetRequested, self._reset_requested)
        self.ocpp: OcppClient | None = None
        self.firmware = FirmwareManagement(self.station, self.state, self.data_dir, self.identity)
        self.smart = SmartCharging(self.station, ProfileStore(self.db))
        self.frame_log: FrameLog | None = None
        if self.csms_url:
            self.ocpp = self._make_ocpp()
        self.semp = self._semp_device()
        self.ssdp: Any = None
        self.api_token = self._api_token()
        self.restart_kind: str | None = None
        self._stop = asyncio.Event()

    # ------------------------------------------------------------- wiring

    def boot_fields(self) -> dict[str, str]:
        """BootNotification identity: station.toml [ocpp.boot] < web overrides < firmware."""
        fields = self.file.ocpp.boot.ocpp_fields()
        for name, value in self.state.items("boot").items():
            if value:
                fields[name] = str(value)
            else:
                fields.pop(name, None)
        version = installed_version(self.state)  # a firmware update wins over the file
        if version:
            fields["firmwareVersion"] = version
        return fields

    def _make_ocpp(self) -> OcppClient:
        file = self.file
        if self.frame_log is None:
            self.frame_log = FrameLog(self.data_dir)
        return OcppClient(
            station=self.station,
            bus=self.bus,
            settings=OcppSettings(
                url=self.csms_url,
                identity=self.identity,
                ca_file=file.ocpp.ca_file or None,
                call_timeout_s=file.ocpp.call_timeout_s,
                reconnect_min_s=file.ocpp.reconnect_min_s,
                reconnect_max_s=file.ocpp.reconnect_max_s,
                boot_retry_s=file.ocpp.boot_retry_s,
                boot_fields=self.boot_fields(),
            ),
            queue=self.queue,
            transactions=self.transactions,
            handlers=Handlers(
                self.station,
                clear_cache=self.auth_cache.clear,
                groups=[
                    self.firmware,
                    self.smart,
                    LocalListHandlers(self.config, self.local_list),
                    ReservationHandlers(self.station),
                ],
            ),
            frame_logger=self.frame_log,
        )

    def apply_backend(self) -> bool:
        """Put the stored backend settings (URL, identity, boot fields) in force.

        A running OCPP client reconnects at once to the new endpoint and registers again
        with a fresh BootNotification; a standalone station starts its client. Returns
        False when only a restart can apply it (a backend removed while one was running:
        its queued transaction messages must not be dropped silently; the command-line
        ``--csms-url`` / ``--id`` also win until the next start).
        """
        stored_url = self.state.get("backend", "csms_url")
        url = self.options.csms_url or (
            stored_url if stored_url is not None else self.file.ocpp.csms_url
        )
        identity = self.options.identity or self.state.get("backend", "identity") or self.identity
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

    def _energy_manager(self, file: station_file.StationFile, specs: list[Any]) -> Any:
        """The local energy manager, only with a [site] section (off by default).

        A DLM master manages the site for its whole group instead (`_dlm`)."""
        if file.site is None or not file.energy.enabled:
            return None
        if file.dlm.role in ("master", "master_standalone"):
            return None
        from chargebox.energy.manager import EnergyManager, build_site
        from chargebox.energy.model import PhaseCurrents
        from chargebox.energy.simgrid import SimGridMeter

        site = build_site(file, specs)
        meter = None
        if file.energy.meter == "sim":
            meter = SimGridMeter(
                self.sim,
                {c.id: c for c in site.connectors},
                self.clock,
                PhaseCurrents.from_tuple(file.energy.sim_house_load_a),
            )
        return EnergyManager(
            self.station,
            site,
            clock=self.clock,
            meter=meter,
            safe_current_a=file.energy.safe_current_a,
            bus=self.bus,
        )

    def _modbus_server(self) -> Any:
        """The Modbus TCP register server for energy managers ([modbus] or --modbus-port)."""
        m = self.file.modbus
        base = self.options.modbus_port
        if not m.enabled and base is None:
            return None
        from chargebox.modbus.server import EmsServer, ModbusSettings

        base = m.base_port if base is None else base
        if base + len(self.station.connectors) - 1 > 65535:
            raise station_file.SettingsError(
                "--modbus-port: the last connector's port would exceed 65535"
            )
        return EmsServer(
            self.station,
            ModbusSettings(
                host=m.host,
                base_port=base,
                allow_start_stop=m.allow_start_stop,
                allow_uid_transfer=m.allow_uid_transfer,
                safe_current_a=m.safe_current_a,
                timeout_s=m.timeout_s,
            ),
            bus=self.bus,
            energy=self.energy,
            model=lambda: self.boot_fields().get("chargePointModel", ""),
            firmware=lambda: self.boot_fields().get("firmwareVersion") or __version__,
        )

    def _semp_device(self) -> Any:
        """The SMA SEMP interface for the Sunny Home Manager ([semp] enabled)."""
        cfg = self.file.semp
        if not cfg.enabled:
            return None
        from chargebox.semp.server import SempDevice, SempSettings

        if self.modbus is not None:
            log.warning("semp and modbus both enabled: the last energy manager to write wins")

        def remaining_wh(cid: int) -> float | None:
            sim = self.sim.connectors.get(cid)
            car = sim.car if sim is not None else None
            if car is None:
                return None
            return car.capacity_kwh * 1000.0 * max(0.0, 100.0 - car.soc_percent) / 100.0

        return SempDevice(
            self.station,
            SempSettings(
                host=cfg.host,
                port=cfg.port,
                base_path=cfg.base_path,
                device_id=cfg.device_id,
                mode=cfg.mode,
                fallback_current_a=cfg.fallback_current_a,
                timeout_s=cfg.timeout_s,
                max_energy_wh=round(cfg.max_energy_kwh * 1000),
                planning_window_s=cfg.planning_window_s,
                announce=cfg.announce,
                announce_interface=cfg.announce_interface,
                announce_interval_s=cfg.announce_interval_s,
            ),
            identity=self.identity,
            bus=self.bus,
            energy=self.energy,
            vendor=lambda: self.boot_fields().get("chargePointVendor", ""),
            serial=lambda: self.boot_fields().get("chargePointSerialNumber", ""),
            remaining_wh=remaining_wh,
        )

    async def _start_semp(self) -> None:
        """Serve SEMP; announce it by SSDP only when switched on ([semp] announce)."""
        semp = self.semp
        try:
            port = await semp.start()
        except OSError as exc:
            raise station_file.SettingsError(
                f"semp: cannot listen on {semp.settings.host} port {semp.settings.port}: {exc}"
            ) from None
        if semp.settings.announce:
            from chargebox.semp.ssdp import SsdpAnnouncer

            self.ssdp = SsdpAnnouncer(
                interface=semp.settings.announce_interface,
                location=f"http://{semp.settings.announce_interface}:{port}/description.xml",
                udn=f"uuid:{semp.udn()}",
                interval_s=semp.settings.announce_interval_s,
            )
            await self.ssdp.start()

    def _dlm(self, file: station_file.StationFile, specs: list[Any]) -> Any:
        """DLM between stations ([dlm] role); a slave needs the Modbus server."""
        cfg = file.dlm
        if cfg.role == "off":
            return None
        if cfg.role == "slave":
            if self.modbus is None:
                raise station_file.SettingsError(
                    "dlm.role = slave needs the Modbus server ([modbus] enabled or --modbus-port)"
                )
            from chargebox.energy.dlm.slave import DlmSlave

            dlm: Any = DlmSlave(self.station, cfg)
        else:
            from chargebox.energy.dlm.master import DlmMaster
            from chargebox.energy.manager import build_site

            site = None
            if file.site is not None and file.energy.enabled:
                site = build_site(file, specs)  # the group's grid connection and meter
            dlm = DlmMaster(
                self.station,
                cfg,
                internal=cfg.role == "master",
                store=self.state,
                min_current_a=self.station.settings.min_current_a,
                site=site,
            )
        if self.modbus is not None:
            self.modbus.dlm = dlm
        return dlm

    async def _start_dlm_discovery(self) -> None:
        """DNS-SD on [dlm] discovery_interface only: a master adds the slaves it finds."""
        from chargebox.energy.dlm.discovery import DiscoveryError, start_discovery

        try:
            self.dlm_discovery = await start_discovery(
                self.file.dlm.role,
                self.file.dlm,
                dlm=self.dlm,
                modbus_ports=self.modbus.ports if self.modbus is not None else {},
                connectors=len(self.station.connectors),
                phases=max(c.spec.phases for c in self.station.connectors.values()),
                rotation=self.file.dlm.rotation,
            )
        except DiscoveryError as exc:
            raise station_file.SettingsError(str(exc)) from None

    def dlm_status(self) -> dict[str, Any]:
        """The DLM snapshot, with what discovery announces and found ([dlm] discovery)."""
        snap = dict(self.dlm.snapshot)
        if self.dlm_discovery is not None:
            snap["discovery"] = self.dlm_discovery.snapshot
            if snap.get("role") == "slave" and not snap.get("master"):
                masters = snap["discovery"]["masters"]
                snap["master"] = masters[0]["host"] if masters else None
        if snap.get("role") == "slave":
            snap["mode"] = "discovery" if self.dlm_discovery is not None else "fixed"
        return snap

    def _config_changed(self, key: str, value: str) -> None:
        if key != "NumberOfConnectors":
            self._persist_setting(key, value)
        self.bus.publish(ConfigurationChanged(self.clock.time(), key, value))

    def _persist_setting(self, key: str, value: str) -> None:
        """Written by one background thread, in order, so its fsync never stalls the loop.

        The value is already in force in memory; the write follows within milliseconds.
        """
        self._writer.submit(self.settings_store.set, key, value)

    def _availability_changed(self, event: AvailabilityChanged) -> None:
        self.state.set("availability", str(event.connector_id), event.availability)

    def _reservation_changed(self, event: ReservationChanged) -> None:
        if event.active:
            self.reservations.save(event.reservation)
        else:
            self.reservations.delete(event.reservation.reservation_id)

    def _reset_requested(self, event: ResetRequested) -> None:
        self.restart_kind = event.kind
        asyncio.get_running_loop().call_soon(
            lambda: asyncio.ensure_future(self._restart(event.kind))
        )

    def _api_token(self) -> str:
        """CHARGEBOX_API_TOKEN, or a token made at first start and kept in the data dir."""
        env = os.environ.get("CHARGEBOX_API_TOKEN")
        if env:
            return env
        path = self.data_dir / "api-token"
        if path.exists():
            return path.read_text().strip()
        token = secrets.token_urlsafe(24)
        path.write_text(token + "\n")
        path.chmod(0o600)
        return token

    def new_car(self, **overrides: float | None) -> SimCar:
        car = self.sim_car_defaults
        values = {
            "capacity_kwh": car.capacity_kwh,
            "soc_percent": car.soc_percent,
            "max_current_a": car.max_current_a,
            "phases": car.phases,
            "response_delay_s": car.response_delay_s,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return SimCar(**values)  # type: ignore[arg-type]

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
            try:
                await self.modbus.start()
            except (OSError, RuntimeError) as exc:  # pymodbus: RuntimeError when bind fails
                raise station_file.SettingsError(
                    f"modbus: cannot listen on {self.modbus.settings.host} port "
                    f"{self.modbus.settings.base_port} and up: {exc}"
                ) from None
        if self.semp is not None:
            await self._start_semp()
        if self.dlm is not None and self.file.dlm.discovery:
            await self._start_dlm_discovery()  # after Modbus: a slave announces its port
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


def apply_stored_overrides(
    file: station_file.StationFile, state: StateStore
) -> station_file.StationFile:
    """station.toml plus the installation settings saved in the web interface.

    ``state`` namespace ``installation``: ``connectors`` ({id: {max_current_a,
    installation_limit_a, operator_limit_a, phases, rotation}}) and ``site`` (grid,
    supply line, sub-distribution limits per phase). Applied at start; an override that
    no longer validates against the file is ignored with a warning, never fatal.
    """
    connectors = state.get("installation", "connectors") or {}
    site = state.get("installation", "site") or {}
    if not connectors and not site:
        return file
    data = file.model_dump()
    hardware = [c.model_dump() for c in file.connector_list()]
    site_data: dict[str, Any] | None = data.get("site")
    site_connectors: dict[int, dict[str, Any]] = {}
    if site_data is not None:
        site_connectors = {int(c["id"]): c for c in site_data.get("connectors", [])}
    for cid_text, values in connectors.items():
        cid = int(cid_text)
        for c in hardware:
            if c["id"] == cid and values.get("max_current_a") is not None:
                c["max_current_a"] = values["max_current_a"]
        wiring = {k: v for k, v in values.items() if k != "max_current_a" and v is not None}
        if wiring:
            site_connectors.setdefault(cid, {"id": cid}).update(wiring)
    data["connectors"] = hardware
    if site.get("grid_limit_a") is not None or site_data is not None:
        site_data = dict(site_data or {})
        for name in ("grid_limit_a", "subdistribution_limit_a", "operator_subdistribution_limit_a"):
            if name in site:
                site_data[name] = site[name]
        groups = [g for g in site_data.get("groups", []) if g.get("name") != "supply_line"]
        line = site.get("supply_line_limit_a")
        if line is not None:
            groups.append({"name": "supply_line", "limit_a": line})
            for c in hardware:
                site_connectors.setdefault(c["id"], {"id": c["id"]}).setdefault(
                    "group", "supply_line"
                )
        else:
            for c in site_connectors.values():
                if c.get("group") == "supply_line":
                    c["group"] = None
        site_data["groups"] = groups
        site_data["connectors"] = list(site_connectors.values())
        if site_data.get("grid_limit_a") is not None:
            data["site"] = site_data
    try:
        return station_file.StationFile.model_validate(data)
    except Exception as exc:  # pydantic ValidationError: keep the file's settings
        log.warning("ignoring the installation settings saved in the web interface: %s", exc)
        return file


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
