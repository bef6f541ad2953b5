"""Composition root, energy part: build the energy manager, Modbus, SEMP and DLM adapters.

Part of :mod:`chargebox.app`, split out for size: each function builds one adapter from
station.toml and the parts it is handed, and imports the adapter only when it is switched
on (most stations run none of them). None of these adapters knows another; where two
work together (the Modbus server and DLM), :class:`chargebox.app.Runtime` connects them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chargebox import __version__
from chargebox import settings as station_file
from chargebox.core.clock import Clock
from chargebox.core.events import EventBus
from chargebox.core.station import Station
from chargebox.hardware.sim import SimStation
from chargebox.store import StateStore
from chargebox.wiring_station import Specs

if TYPE_CHECKING:
    from chargebox.energy.dlm.discovery import DlmDiscovery
    from chargebox.energy.dlm.master import DlmMaster
    from chargebox.energy.dlm.slave import DlmSlave
    from chargebox.energy.inputs import EnergyInputs
    from chargebox.energy.manager import EnergyManager
    from chargebox.modbus.server import EmsServer
    from chargebox.semp.server import SempDevice
    from chargebox.semp.ssdp import SsdpAnnouncer

log = logging.getLogger("chargebox")

BootFields = Callable[[], dict[str, str]]


def _manages_group(file: station_file.StationFile) -> bool:
    """A DLM master takes the grid meter, load shedding and PV for its whole group."""
    return file.dlm.role in ("master", "master_standalone")


def energy_manager(
    file: station_file.StationFile,
    specs: Specs,
    *,
    station: Station,
    sim: SimStation,
    clock: Clock,
    bus: EventBus,
) -> EnergyManager | None:
    """The local energy manager, only with a [site] section (off by default).

    A DLM master manages the site for its whole group instead (:func:`dlm`).
    """
    if file.site is None or not file.energy.enabled or _manages_group(file):
        return None
    from chargebox.energy.manager import EnergyManager, build_site
    from chargebox.energy.model import PhaseCurrents
    from chargebox.energy.simgrid import SimGridMeter

    site = build_site(file, specs)
    meter = None
    if file.energy.meter == "sim":
        meter = SimGridMeter(
            sim,
            {c.id: c for c in site.connectors},
            clock,
            PhaseCurrents.from_tuple(file.energy.sim_house_load_a),
        )
    return EnergyManager(
        station,
        site,
        clock=clock,
        meter=meter,
        safe_current_a=file.energy.safe_current_a,
        bus=bus,
    )


def modbus_server(
    file: station_file.StationFile,
    port: int | None,
    *,
    station: Station,
    bus: EventBus,
    energy: EnergyManager | None,
    boot_fields: BootFields,
) -> EmsServer | None:
    """The Modbus TCP register server for energy managers ([modbus] or ``--modbus-port``)."""
    m = file.modbus
    if not m.enabled and port is None:
        return None
    from chargebox.modbus.server import EmsServer, ModbusSettings

    base = m.base_port if port is None else port
    if base + len(station.connectors) - 1 > 65535:
        raise station_file.SettingsError(
            "--modbus-port: the last connector's port would exceed 65535"
        )
    return EmsServer(
        station,
        ModbusSettings(
            host=m.host,
            base_port=base,
            allow_start_stop=m.allow_start_stop,
            allow_uid_transfer=m.allow_uid_transfer,
            safe_current_a=m.safe_current_a,
            timeout_s=m.timeout_s,
        ),
        bus=bus,
        energy=energy,
        model=lambda: boot_fields().get("chargePointModel", ""),
        firmware=lambda: boot_fields().get("firmwareVersion") or __version__,
    )


def semp_device(
    file: station_file.StationFile,
    *,
    station: Station,
    sim: SimStation,
    bus: EventBus,
    energy: EnergyManager | None,
    identity: str,
    boot_fields: BootFields,
    with_modbus: bool,
) -> SempDevice | None:
    """The SMA SEMP interface for the Sunny Home Manager ([semp] enabled)."""
    cfg = file.semp
    if not cfg.enabled:
        return None
    from chargebox.semp.server import SempDevice, SempSettings

    if with_modbus:
        log.warning("semp and modbus both enabled: the last energy manager to write wins")

    def remaining_wh(cid: int) -> float | None:
        connector = sim.connectors.get(cid)
        car = connector.car if connector is not None else None
        if car is None:
            return None
        return car.capacity_kwh * 1000.0 * max(0.0, 100.0 - car.soc_percent) / 100.0

    return SempDevice(
        station,
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
        identity=identity,
        bus=bus,
        energy=energy,
        vendor=lambda: boot_fields().get("chargePointVendor", ""),
        serial=lambda: boot_fields().get("chargePointSerialNumber", ""),
        remaining_wh=remaining_wh,
    )


async def start_modbus(modbus: EmsServer) -> None:
    """Listen on one port per connector; a port taken is a settings error, not a crash."""
    try:
        await modbus.start()
    except (OSError, RuntimeError) as exc:  # pymodbus: RuntimeError when bind fails
        raise station_file.SettingsError(
            f"modbus: cannot listen on {modbus.settings.host} port "
            f"{modbus.settings.base_port} and up: {exc}"
        ) from None


async def start_semp(semp: SempDevice) -> SsdpAnnouncer | None:
    """Serve SEMP; announce it by SSDP only when switched on ([semp] announce)."""
    try:
        port = await semp.start()
    except OSError as exc:
        raise station_file.SettingsError(
            f"semp: cannot listen on {semp.settings.host} port {semp.settings.port}: {exc}"
        ) from None
    if not semp.settings.announce:
        return None
    from chargebox.semp.ssdp import SsdpAnnouncer

    ssdp = SsdpAnnouncer(
        interface=semp.settings.announce_interface,
        location=f"http://{semp.settings.announce_interface}:{port}/description.xml",
        udn=f"uuid:{semp.udn()}",
        interval_s=semp.settings.announce_interval_s,
    )
    await ssdp.start()
    return ssdp


def dlm(
    file: station_file.StationFile,
    specs: Specs,
    *,
    station: Station,
    state: StateStore,
    with_modbus: bool,
) -> DlmMaster | DlmSlave | None:
    """DLM between stations ([dlm] role); a slave needs the Modbus server."""
    cfg = file.dlm
    if cfg.role == "off":
        return None
    if cfg.role == "slave":
        if not with_modbus:
            raise station_file.SettingsError(
                "dlm.role = slave needs the Modbus server ([modbus] enabled or --modbus-port)"
            )
        from chargebox.energy.dlm.slave import DlmSlave

        return DlmSlave(station, cfg)
    from chargebox.energy.dlm.master import DlmMaster
    from chargebox.energy.manager import build_site

    site = None
    if file.site is not None and file.energy.enabled:
        site = build_site(file, specs)  # the group's grid connection and meter
    return DlmMaster(
        station,
        cfg,
        internal=cfg.role == "master",
        store=state,
        min_current_a=station.settings.min_current_a,
        site=site,
    )


def energy_inputs(
    file: station_file.StationFile,
    *,
    station: Station,
    sim: SimStation,
    clock: Clock,
    energy: EnergyManager | None,
    dlm: Any,
) -> EnergyInputs:
    """Grid meter, load shedding and PV, for the local energy manager if there is one.

    A DLM master takes them for its whole group (see :func:`_manages_group`).
    """
    from chargebox.energy.inputs import EnergyInputs

    group = dlm if _manages_group(file) else None
    return EnergyInputs.build(
        file, station=station, sim=sim, clock=clock.time, manager=energy or group
    )


async def start_dlm_discovery(
    file: station_file.StationFile, *, dlm: Any, modbus: EmsServer | None, station: Station
) -> DlmDiscovery | None:
    """DNS-SD on [dlm] discovery_interface only: a master adds the slaves it finds."""
    from chargebox.energy.dlm.discovery import DiscoveryError, start_discovery

    try:
        return await start_discovery(
            file.dlm.role,
            file.dlm,
            dlm=dlm,
            modbus_ports=modbus.ports if modbus is not None else {},
            connectors=len(station.connectors),
            phases=max(c.spec.phases for c in station.connectors.values()),
            rotation=file.dlm.rotation,
        )
    except DiscoveryError as exc:
        raise station_file.SettingsError(str(exc)) from None


def dlm_status(dlm: Any, discovery: DlmDiscovery | None) -> dict[str, Any]:
    """The DLM snapshot, with what discovery announces and found ([dlm] discovery)."""
    snap = dict(dlm.snapshot)
    if discovery is not None:
        snap["discovery"] = discovery.snapshot
        if snap.get("role") == "slave" and not snap.get("master"):
            masters = snap["discovery"]["masters"]
            snap["master"] = masters[0]["host"] if masters else None
    if snap.get("role") == "slave":
        snap["mode"] = "discovery" if discovery is not None else "fixed"
    return snap
