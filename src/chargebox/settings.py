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


class StationFile(_Section):
    station: StationSection = StationSection()
    ocpp: OcppSection = OcppSection()
    http: HttpSection = HttpSection()
    authorization: AuthorizationSection = AuthorizationSection()
    installation: InstallationSection = InstallationSection()
    hardware: HardwareSection = HardwareSection()
    connectors: list[ConnectorSection] = []

    @model_validator(mode="after")
    def _connector_ids(self) -> StationFile:
        ids = [c.id for c in self.connectors]
        if ids and sorted(ids) != list(range(1, len(ids) + 1)):
            raise ValueError("connector ids must be 1..N without gaps")
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
