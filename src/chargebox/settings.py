"""station.toml: the installation's description, validated before anything starts.

Everything has a default describing the embedded station (two simulated 32 A, 3-phase
connectors, no backend, web on 127.0.0.1:8080), so the file is optional. An invalid
file stops start-up with one line naming the field and the problem.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class SettingsError(Exception):
    """One line for the operator: which field, what is wrong."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StationSection(_Section):
    identity: Annotated[str, Field(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9_.:\-]+$")] = (
        "CB-0001"
    )
    data_dir: str = "./chargebox-data"


class BootSection(_Section):
    """BOOT.INI-style identity fields sent in BootNotification."""

    charge_point_vendor: Annotated[str, Field(min_length=1, max_length=20)] = "chargebox"
    charge_point_model: Annotated[str, Field(min_length=1, max_length=20)] = "chargebox-sim"
    charge_point_serial_number: Annotated[str, Field(max_length=25)] = ""
    charge_box_serial_number: Annotated[str, Field(max_length=25)] = ""
    firmware_version: Annotated[str, Field(max_length=50)] = ""
    iccid: Annotated[str, Field(max_length=20)] = ""
    imsi: Annotated[str, Field(max_length=20)] = ""
    meter_type: Annotated[str, Field(max_length=25)] = ""
    meter_serial_number: Annotated[str, Field(max_length=25)] = ""

    def ocpp_fields(self) -> dict[str, str]:
        names = {
            "charge_point_vendor": "chargePointVendor",
            "charge_point_model": "chargePointModel",
            "charge_point_serial_number": "chargePointSerialNumber",
            "charge_box_serial_number": "chargeBoxSerialNumber",
            "firmware_version": "firmwareVersion",
            "iccid": "iccid",
            "imsi": "imsi",
            "meter_type": "meterType",
            "meter_serial_number": "meterSerialNumber",
        }
        return {ocpp: getattr(self, attr) for attr, ocpp in names.items() if getattr(self, attr)}


class OcppSection(_Section):
    csms_url: str = ""
    ca_file: str = ""
    call_timeout_s: Annotated[float, Field(gt=0, le=300)] = 30.0
    reconnect_min_s: Annotated[float, Field(gt=0, le=3600)] = 2.0
    reconnect_max_s: Annotated[float, Field(gt=0, le=3600)] = 120.0
    boot_retry_s: Annotated[float, Field(gt=0, le=86400)] = 30.0
    boot: BootSection = BootSection()
    keys: dict[str, str | int | bool] = {}

    @field_validator("csms_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not value.startswith(("ws://", "wss://")):
            raise ValueError("must start with ws:// or wss://")
        return value

    @model_validator(mode="after")
    def _backoff(self) -> OcppSection:
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s must not exceed reconnect_max_s")
        return self

    def key_overrides(self) -> dict[str, str]:
        return {
            k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in self.keys.items()
        }


class HttpSection(_Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    https: bool = False  # self-signed certificate made at first start in <data-dir>/tls/
    session_idle_timeout_s: Annotated[float, Field(gt=0, le=86400)] = 1800.0
    session_lifetime_s: Annotated[float, Field(gt=0, le=30 * 86400)] = 43200.0
    login_max_failures: Annotated[int, Field(ge=1, le=100)] = 5
    login_lockout_s: Annotated[float, Field(gt=0, le=86400)] = 300.0


class AuthorizationSection(_Section):
    mode: Literal["auto", "free", "rfid"] = "auto"


class InstallationSection(_Section):
    min_current_a: Annotated[float, Field(ge=6, le=80)] = 6.0
    installation_limit_a: Annotated[float | None, Field(gt=0, le=1000)] = None
    operator_limit_a: Annotated[float | None, Field(gt=0, le=1000)] = None

    @model_validator(mode="after")
    def _order(self) -> InstallationSection:
        if (
            self.operator_limit_a is not None
            and self.installation_limit_a is not None
            and self.operator_limit_a > self.installation_limit_a
        ):
            raise ValueError("operator_limit_a must not exceed installation_limit_a")
        return self


class ConnectorSection(_Section):
    id: Annotated[int, Field(ge=1, le=64)]
    max_current_a: Annotated[float, Field(ge=6, le=80)] = 32.0
    phases: Literal[1, 3] = 3
    fixed_cable: bool = False
    cable_a: Annotated[float | None, Field(ge=6, le=80)] = 32.0


class SimCarSection(_Section):
    capacity_kwh: Annotated[float, Field(gt=0, le=300)] = 60.0
    soc_percent: Annotated[float, Field(ge=0, le=100)] = 30.0
    max_current_a: Annotated[float, Field(ge=1, le=80)] = 16.0
    phases: Literal[1, 3] = 3
    response_delay_s: Annotated[float, Field(ge=0, le=60)] = 1.0


class HardwareSection(_Section):
    driver: Literal["sim"] = "sim"
    tick_s: Annotated[float, Field(ge=0.01, le=5)] = 0.1
    connectors: Annotated[int, Field(ge=1, le=64)] = 2
    sim_car: SimCarSection = SimCarSection()


Amps3 = tuple[float, float, float]
_ROTATIONS = Literal["RST", "RTS", "SRT", "STR", "TRS", "TSR"]


def _phase_values(value: Any) -> Any:
    """One number means the same on L1, L2, L3; a list gives each phase."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (value, value, value)
    return value


def _non_negative(name: str, values: Amps3 | None) -> None:
    if values is not None and min(values) < 0:
        raise ValueError(f"{name} must not be negative")


class SiteGroupSection(_Section):
    """A supply line shared by several connectors, with its own limit per phase."""

    name: Annotated[str, Field(min_length=1, max_length=40)]
    limit_a: Amps3

    _phases = field_validator("limit_a", mode="before")(_phase_values)


class SiteConnectorSection(_Section):
    """How one connector is wired: phases, rotation, its limits, group, priority."""

    id: Annotated[int, Field(ge=1, le=1000)]
    phases: Literal[1, 3] | None = None  # default: the connector's hardware phases
    rotation: _ROTATIONS = "RST"
    installation_limit_a: Annotated[float | None, Field(gt=0, le=1000)] = None
    operator_limit_a: Annotated[float | None, Field(gt=0, le=1000)] = None
    group: str | None = None
    priority: Annotated[int, Field(ge=0, le=100)] = 0

    @model_validator(mode="after")
    def _order(self) -> SiteConnectorSection:
        if (
            self.operator_limit_a is not None
            and self.installation_limit_a is not None
            and self.operator_limit_a > self.installation_limit_a
        ):
            raise ValueError(
                f"connector {self.id}: operator_limit_a must not exceed installation_limit_a"
            )
        return self


class SiteSection(_Section):
    """The electrical site; its presence switches energy management on."""

    grid_limit_a: Amps3  # main fuse (house connection or distribution board) per phase
    subdistribution_limit_a: Amps3 | None = None
    operator_subdistribution_limit_a: Amps3 | None = None
    voltage_v: Annotated[float, Field(ge=100, le=400)] = 230.0
    it_network: bool = False
    safety_margin_a: Amps3 = (0.0, 0.0, 0.0)
    fallback_load_a: Amps3 = (9999.0, 9999.0, 9999.0)
    meter_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 10.0
    meter_lag_s: Annotated[float, Field(ge=0, le=10)] = 0.0  # how old a reading's values may be
    groups: list[SiteGroupSection] = []
    connectors: list[SiteConnectorSection] = []

    _phases = field_validator(
        "grid_limit_a",
        "subdistribution_limit_a",
        "operator_subdistribution_limit_a",
        "safety_margin_a",
        "fallback_load_a",
        mode="before",
    )(_phase_values)

    @model_validator(mode="before")
    @classmethod
    def _placement_lives_on_the_meter(cls, data: Any) -> Any:
        if isinstance(data, dict) and "meter_placement" in data:
            raise ValueError(
                "meter_placement: set placement on the grid meter ([[meters]] placement)"
            )
        return data

    @model_validator(mode="after")
    def _check(self) -> SiteSection:
        for name in ("grid_limit_a", "subdistribution_limit_a", "operator_subdistribution_limit_a"):
            _non_negative(name, getattr(self, name))
        _non_negative("safety_margin_a", self.safety_margin_a)
        _non_negative("fallback_load_a", self.fallback_load_a)
        sub, op = self.subdistribution_limit_a, self.operator_subdistribution_limit_a
        if sub is not None and op is not None and any(o > s for o, s in zip(op, sub, strict=True)):
            raise ValueError(
                "operator_subdistribution_limit_a must not exceed subdistribution_limit_a"
            )
        names = [g.name for g in self.groups]
        if len(set(names)) != len(names):
            raise ValueError("groups: names must be unique")
        ids = [c.id for c in self.connectors]
        if len(set(ids)) != len(ids):
            raise ValueError("connectors: each connector id at most once")
        for c in self.connectors:
            if c.group is not None and c.group not in names:
                raise ValueError(f"connector {c.id}: group {c.group!r} is not defined")
        return self


class EnergySection(_Section):
    """How the energy manager runs (only with a [site] section)."""

    enabled: bool = True
    mode: Literal["equal", "fcfs", "priority"] = "equal"
    cycle_s: Annotated[float, Field(ge=0.1, le=300)] = 1.0
    rotation_period_s: Annotated[float, Field(ge=10, le=86400)] = 900.0
    safe_current_a: Annotated[float, Field(ge=0, le=80)] = 6.0
    unbalance_limit_enabled: bool = False
    unbalance_limit_a: Annotated[float, Field(gt=0, le=1000)] = 20.0
    meter: Literal["none", "sim"] = "none"  # "sim": chargers' own currents + house load
    sim_house_load_a: Amps3 = (0.0, 0.0, 0.0)

    _phases = field_validator("sim_house_load_a", mode="before")(_phase_values)


class MeterSection(_Section):
    """A grid meter over Modbus TCP (`[[meters]]`); `simulate` serves it from a built-in
    simulated meter on 127.0.0.1:port playing `profile` plus the station's own load."""

    name: Annotated[str, Field(min_length=1, max_length=40)] = "grid"
    map: str
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 502
    unit: Annotated[int | None, Field(ge=0, le=255)] = None
    poll_s: Annotated[float, Field(ge=0.1, le=60)] = 1.0
    timeout_s: Annotated[float, Field(gt=0, le=30)] = 1.0
    placement: Literal["includes_charging", "excludes_charging"] = "includes_charging"
    simulate: bool = False
    profile: str = "house"

    @field_validator("map")
    @classmethod
    def _known_map(cls, value: str) -> str:
        from chargebox.energy.meters.registermap import MapError, load_map

        try:
            load_map(value)
        except MapError as exc:
            raise ValueError(str(exc)) from None
        return value


class LoadSheddingSection(_Section):
    """Load shedding input (ripple control): while active, limit or reduce charging."""

    enabled: bool = False
    input: Annotated[str, Field(min_length=1, max_length=40)] = "load_shedding"
    polarity: Literal["high_active", "low_active"] = "high_active"
    debounce_s: Annotated[float, Field(ge=0, lt=1)] = 0.2
    mode: Literal["limit", "offset"] = "limit"
    limit_a: Annotated[float, Field(ge=0, le=1000)] = 0.0  # limit mode: 0 = stop
    offset_a: Amps3 = (0.0, 0.0, 0.0)  # offset mode: signed, e.g. -10 per phase

    _phases = field_validator("offset_a", mode="before")(_phase_values)


class PvSection(_Section):
    """PV surplus charging from the grid meter's signed reading."""

    mode: Literal["off", "fast", "min_pv", "pv"] = "off"
    meter: str = ""  # a [[meters]] name; empty = the first
    max_current_a: Annotated[float, Field(ge=6, le=80)] = 16.0
    enable_delay_s: Annotated[float, Field(ge=0, le=3600)] = 60.0
    disable_delay_s: Annotated[float, Field(ge=0, le=3600)] = 180.0
    smoothing_s: Annotated[float, Field(ge=0, le=3600)] = 30.0
    hysteresis_a: Annotated[float, Field(ge=0, le=16)] = 1.0
    import_allowance_w: Annotated[float, Field(ge=0, le=100000)] = 0.0
    phase_switching: bool = True  # where the hardware can switch
    phase_down_delay_s: Annotated[float, Field(ge=0, le=3600)] = 120.0
    phase_up_delay_s: Annotated[float, Field(ge=0, le=3600)] = 300.0
    phase_min_interval_s: Annotated[float, Field(ge=0, le=86400)] = 600.0
    cycle_s: Annotated[float, Field(ge=0.1, le=300)] = 5.0


class ModbusSection(_Section):
    """The Modbus TCP register server for energy managers (OMCCI, docs/modbus.md)."""

    enabled: bool = False
    host: str = "127.0.0.1"  # "0.0.0.0" to serve the local network
    base_port: Annotated[int, Field(ge=1, le=65535)] = 502  # connector n: base_port + n - 1
    allow_start_stop: bool = False  # register 1000 = 0 pauses charging
    allow_uid_transfer: bool = False  # idTag readable at 720-729, writable at 1110-1119
    safe_current_a: Annotated[int, Field(ge=0, le=80)] = 6  # register 131 at start
    timeout_s: Annotated[int, Field(ge=1, le=3600)] = 60  # register 132 at start


class SempSection(_Section):
    """SMA Sunny Home Manager over SEMP (seed 003 §5.2, `chargebox/semp/`)."""

    enabled: bool = False  # "SMA Schnittstelle"
    host: str = "127.0.0.1"  # "0.0.0.0" to serve the local network
    port: Annotated[int, Field(ge=0, le=65535)] = 8888  # 0: any free port
    base_path: Annotated[str, Field(pattern=r"^/[A-Za-z0-9_/\-]*$")] = (
        "/SimpleEnergyManagementProtocol"
    )
    device_id: Annotated[str, Field(pattern=r"^(F-[0-9A-F]{8}-[0-9A-F]{12}-[0-9A-F]{2})?$")] = ""
    mode: Literal["surplus", "fast"] = "surplus"  # "SMA Lademodus" (Überschussladen)
    fallback_current_a: Annotated[int, Field(ge=0, le=80)] = 6  # Strom bei Verbindungsausfall
    timeout_s: Annotated[float, Field(gt=0, le=86400)] = 600.0  # Zeit bis Verbindungsausfall
    max_energy_kwh: Annotated[float, Field(gt=0, le=1000)] = 30.0  # SMA Höchstbedarf Energie
    planning_window_s: Annotated[int, Field(ge=60, le=7 * 86400)] = 86400
    announce: bool = False  # UPnP/SSDP multicast: off until switched on
    announce_interface: str = ""  # IPv4 address of the interface to announce on
    announce_interval_s: Annotated[float, Field(ge=1, le=86400)] = 900.0


class DlmSlaveSection(_Section):
    """One slave station the master polls: its Modbus TCP server (connector n on port + n - 1)."""

    host: str
    port: Annotated[int, Field(ge=1, le=65535)]
    connectors: Annotated[int, Field(ge=1, le=64)] = 2
    phases: Literal[1, 3] = 3  # phases connected to every connector of the slave
    rotation: _ROTATIONS = "RST"  # its phase rotation on the group's supply


class DlmSection(_Section):
    """Dynamic load management between stations (`chargebox/energy/dlm/`)."""

    role: Literal["off", "master", "master_standalone", "slave"] = "off"
    network_id: Annotated[int, Field(ge=0, le=65535)] = 0
    master_host: str = ""  # a slave's fixed master address (informational; the master polls)
    master_port: Annotated[int, Field(ge=0, le=65535)] = 0
    slaves: list[DlmSlaveSection] = []
    group_limit_a: Amps3 = (63.0, 63.0, 63.0)  # the group's supply, per phase
    safety_margin_a: Annotated[float, Field(ge=0)] = 0.0
    timeout_s: Annotated[float, Field(gt=0, le=3600)] = 10.0
    disconnected_limit_a: Annotated[float, Field(ge=0, le=80)] = 6.0
    poll_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    rotation: _ROTATIONS = "RST"  # a slave's phase rotation on the group's supply (announced)
    discovery: bool = False  # DNS-SD (mDNS) on discovery_interface: off, nothing sent, until on
    discovery_interface: str = ""  # IPv4 address of the interface to announce and browse on

    _group = field_validator("group_limit_a", mode="before")(_phase_values)

    @model_validator(mode="after")
    def _check(self) -> DlmSection:
        _non_negative("dlm.group_limit_a", self.group_limit_a)
        if self.discovery:
            import ipaddress  # local: this validator is the only user

            if self.role == "off":
                raise ValueError("dlm.discovery: needs a DLM role (master or slave)")
            try:
                addr = ipaddress.IPv4Address(self.discovery_interface)
            except ValueError:
                raise ValueError(
                    "dlm.discovery_interface: discovery needs the IPv4 address of one interface"
                    f" (got {self.discovery_interface!r})"
                ) from None
            if addr.is_unspecified or addr.is_multicast or addr.is_loopback:
                raise ValueError(
                    f"dlm.discovery_interface: {addr} is not one interface's unicast address"
                )
        if self.role in ("master", "master_standalone"):
            if self.role == "master_standalone" and not (self.slaves or self.discovery):
                raise ValueError(
                    "dlm.slaves: a standalone master needs at least one slave or discovery = true"
                )
            seen = set()
            for sl in self.slaves:
                key = (sl.host, sl.port)
                if key in seen:
                    raise ValueError(f"dlm.slaves: {sl.host}:{sl.port} is listed twice")
                seen.add(key)
        elif self.slaves:
            raise ValueError(f"dlm.slaves: only a master polls slaves (role = {self.role!r})")
        if self.timeout_s <= self.poll_s:
            raise ValueError("dlm.timeout_s must be longer than dlm.poll_s")
        return self


class StationFile(_Section):
    station: StationSection = StationSection()
    ocpp: OcppSection = OcppSection()
    http: HttpSection = HttpSection()
    authorization: AuthorizationSection = AuthorizationSection()
    installation: InstallationSection = InstallationSection()
    hardware: HardwareSection = HardwareSection()
    connectors: list[ConnectorSection] = []
    site: SiteSection | None = None
    energy: EnergySection = EnergySection()
    meters: list[MeterSection] = []
    load_shedding: LoadSheddingSection = LoadSheddingSection()
    pv: PvSection = PvSection()
    modbus: ModbusSection = ModbusSection()
    dlm: DlmSection = DlmSection()
    semp: SempSection = SempSection()

    @model_validator(mode="after")
    def _modbus(self) -> StationFile:
        m = self.modbus
        if 0 < m.safe_current_a < self.installation.min_current_a:
            raise ValueError(
                f"modbus.safe_current_a: 0 (pause) or at least the minimum current "
                f"({self.installation.min_current_a:g} A)"
            )
        if m.base_port + len(self.connector_list()) - 1 > 65535:
            raise ValueError("modbus.base_port: the last connector's port exceeds 65535")
        return self

    @model_validator(mode="after")
    def _semp(self) -> StationFile:
        s = self.semp
        if 0 < s.fallback_current_a < self.installation.min_current_a:
            raise ValueError(
                f"semp.fallback_current_a: 0 (pause) or at least the minimum current "
                f"({self.installation.min_current_a:g} A)"
            )
        if s.announce and not s.announce_interface:
            raise ValueError("semp.announce: needs announce_interface (an IPv4 address)")
        return self

    @model_validator(mode="after")
    def _meters(self) -> StationFile:
        names = [m.name for m in self.meters]
        if len(set(names)) != len(names):
            raise ValueError("meters: names must be unique")
        if self.pv.mode != "off":
            if not self.meters:
                raise ValueError("pv.mode: PV surplus charging needs a [[meters]] grid meter")
            if self.pv.meter and self.pv.meter not in names:
                raise ValueError(f"pv.meter: no meter named {self.pv.meter!r}")
        return self

    @model_validator(mode="after")
    def _dlm_master_site(self) -> StationFile:
        """A DLM master manages [site] for the whole group: its meter must see the group."""
        master = self.dlm.role in ("master", "master_standalone")
        if master and self.site is not None and self.energy.meter == "sim":
            raise ValueError(
                'energy.meter: "sim" sees only this station; a DLM master needs a [[meters]] '
                "grid meter"
            )
        return self

    @model_validator(mode="after")
    def _connector_ids(self) -> StationFile:
        ids = [c.id for c in self.connectors]
        if ids and sorted(ids) != list(range(1, len(ids) + 1)):
            raise ValueError("connector ids must be 1..N without gaps")
        return self

    @model_validator(mode="after")
    def _site(self) -> StationFile:
        """Per connector: operator <= installation <= hardware; phases within the hardware's."""
        if self.site is None:
            return self
        hardware = {c.id: c for c in self.connector_list()}
        for c in self.site.connectors:
            hw = hardware.get(c.id)
            if hw is None:
                raise ValueError(f"site.connectors: connector {c.id} does not exist")
            for name in ("installation_limit_a", "operator_limit_a"):
                value = getattr(c, name)
                if value is not None and value > hw.max_current_a:
                    raise ValueError(
                        f"site.connectors: connector {c.id}: {name} ({value:g} A) must not "
                        f"exceed the hardware maximum ({hw.max_current_a:g} A)"
                    )
            if c.phases is not None and c.phases > hw.phases:
                raise ValueError(
                    f"site.connectors: connector {c.id}: phases {c.phases} but the hardware "
                    f"has {hw.phases}"
                )
        if self.energy.enabled:
            n = len(hardware)
            tightest = min(self.site.grid_limit_a)
            for limit in (
                self.site.subdistribution_limit_a,
                self.site.operator_subdistribution_limit_a,
            ):
                if limit is not None:
                    tightest = min(tightest, *limit)
            if self.energy.safe_current_a * n > tightest:
                raise ValueError(
                    f"energy.safe_current_a: {n} connectors x {self.energy.safe_current_a:g} A "
                    f"exceed the tightest site limit ({tightest:g} A per phase)"
                )
        return self

    def connector_list(self) -> list[ConnectorSection]:
        """The [[connectors]] tables, or `hardware.connectors` default ones."""
        if self.connectors:
            return list(self.connectors)
        return [ConnectorSection(id=n) for n in range(1, self.hardware.connectors + 1)]


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "file"
    message = str(err["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}"


def parse(data: dict[str, Any], source: str = "station.toml") -> StationFile:
    try:
        return StationFile.model_validate(data)
    except ValidationError as exc:
        raise SettingsError(f"{source}: {_first_error(exc)}") from None


def load(path: Path | None) -> StationFile:
    """Read and validate; no file means the embedded default."""
    if path is None:
        return StationFile()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    return parse(data, str(path))
