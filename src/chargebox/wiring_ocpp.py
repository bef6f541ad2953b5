"""Composition root, OCPP part: which central system, as whom, and the client that talks to it.

Part of :mod:`chargebox.app`, split out for size. The backend is chosen at start and
again when the web interface saves new backend settings (``Runtime.apply_backend``), so
both go through the same precedence: command line > web interface > station.toml.
"""

from __future__ import annotations

from chargebox import settings as station_file
from chargebox.core.config_keys import Configuration
from chargebox.core.events import EventBus
from chargebox.core.station import Station
from chargebox.ocpp16.client import OcppClient, OcppSettings
from chargebox.ocpp16.diagnostics import FrameLog
from chargebox.ocpp16.firmware import FirmwareManagement, installed_version
from chargebox.ocpp16.handlers import Handlers
from chargebox.ocpp16.local_list_handlers import LocalListHandlers
from chargebox.ocpp16.reservation_handlers import ReservationHandlers
from chargebox.ocpp16.smart_handlers import SmartCharging
from chargebox.store import (
    AuthCacheStore,
    LocalListStore,
    MessageQueue,
    StateStore,
    TransactionStore,
)


def backend_url(flag: str | None, file: station_file.StationFile, state: StateStore) -> str:
    """``--csms-url``, else the URL saved in the web interface ("": standalone), else the file's."""
    stored = state.get("backend", "csms_url")
    return flag or (stored if stored is not None else file.ocpp.csms_url)


def backend_identity(flag: str | None, state: StateStore, current: str) -> str:
    """``--id``, else the identity saved in the web interface, else ``current``."""
    return flag or state.get("backend", "identity") or current


def boot_fields(file: station_file.StationFile, state: StateStore) -> dict[str, str]:
    """BootNotification identity: station.toml [ocpp.boot] < web overrides < firmware."""
    fields = file.ocpp.boot.ocpp_fields()
    for name, value in state.items("boot").items():
        if value:
            fields[name] = str(value)
        else:
            fields.pop(name, None)
    version = installed_version(state)  # a firmware update wins over the file
    if version:
        fields["firmwareVersion"] = version
    return fields


def ocpp_client(
    file: station_file.StationFile,
    *,
    url: str,
    identity: str,
    boot: dict[str, str],
    station: Station,
    bus: EventBus,
    config: Configuration,
    queue: MessageQueue,
    transactions: TransactionStore,
    auth_cache: AuthCacheStore,
    local_list: LocalListStore,
    firmware: FirmwareManagement,
    smart: SmartCharging,
    frame_log: FrameLog,
) -> OcppClient:
    """The OCPP client for ``url``, with every handler group the station answers with."""
    return OcppClient(
        station=station,
        bus=bus,
        settings=OcppSettings(
            url=url,
            identity=identity,
            ca_file=file.ocpp.ca_file or None,
            call_timeout_s=file.ocpp.call_timeout_s,
            reconnect_min_s=file.ocpp.reconnect_min_s,
            reconnect_max_s=file.ocpp.reconnect_max_s,
            boot_retry_s=file.ocpp.boot_retry_s,
            boot_fields=boot,
        ),
        queue=queue,
        transactions=transactions,
        handlers=Handlers(
            station,
            clear_cache=auth_cache.clear,
            groups=[
                firmware,
                smart,
                LocalListHandlers(config, local_list),
                ReservationHandlers(station),
            ],
        ),
        frame_logger=frame_log,
    )
