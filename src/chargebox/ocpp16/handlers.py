"""What the station answers to each CALL a central system sends (OCPP 1.6 Core + Remote Trigger).

A handler runs synchronously inside the RPC session's write lock: it asks the core,
returns the payload, and anything that must follow the answer (a reset, a triggered
message) goes in `after`, which runs once the CALLRESULT is on the wire.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from chargebox.core.station import Station
from chargebox.core.types import Availability
from chargebox.ocpp16 import framing
from chargebox.ocpp16.rpc import HandlerResult

if TYPE_CHECKING:
    from chargebox.ocpp16.client import OcppClient

log = logging.getLogger(__name__)

VENDOR_ID = "chargebox"

# Commands after which the station's state (and so its statuses) may have changed.
_CHANGES_STATE = frozenset(
    {"ChangeAvailability", "RemoteStartTransaction", "RemoteStopTransaction", "UnlockConnector"}
)


ActionHandler = Callable[[dict[str, Any]], HandlerResult]


class HandlerGroup(Protocol):
    """A feature profile's handlers (local list, reservation, smart charging, firmware, …)."""

    client: OcppClient | None

    def table(self) -> dict[str, ActionHandler]: ...

    # Optionally also `triggers() -> dict[str, Callable[[], Any]]`: messages TriggerMessage
    # may request whose content the group knows (FirmwareStatusNotification, …).


class Handlers:
    def __init__(
        self,
        station: Station,
        *,
        clear_cache: Callable[[], None],
        groups: Iterable[HandlerGroup] = (),
    ) -> None:
        self.station = station
        self.config = station.config
        self.clear_cache = clear_cache
        self._client: OcppClient | None = None
        self.groups = list(groups)
        self._table: dict[str, ActionHandler] = {
            "ChangeAvailability": self.change_availability,
            "ChangeConfiguration": self.change_configuration,
            "ClearCache": self.clear_cache_,
            "DataTransfer": self.data_transfer,
            "GetConfiguration": self.get_configuration,
            "RemoteStartTransaction": self.remote_start,
            "RemoteStopTransaction": self.remote_stop,
            "Reset": self.reset,
            "TriggerMessage": self.trigger_message,
            "UnlockConnector": self.unlock_connector,
        }
        for group in self.groups:
            self._table.update(group.table())
        self.supported = frozenset(self._table)

    @property
    def client(self) -> OcppClient | None:
        return self._client

    @client.setter
    def client(self, client: OcppClient | None) -> None:
        self._client = client
        for group in self.groups:
            group.client = client

    def handle(self, call: framing.Call) -> HandlerResult:
        result = self._table[call.action](call.payload)
        if call.action in _CHANGES_STATE:
            self.station.tick()  # statuses caused by the command are decided now
        return result

    # ------------------------------------------------------------------ Core

    def change_availability(self, p: dict[str, Any]) -> HandlerResult:
        status = self.station.change_availability(p["connectorId"], Availability(p["type"]))
        return HandlerResult({"status": status})

    def change_configuration(self, p: dict[str, Any]) -> HandlerResult:
        return HandlerResult({"status": self.config.change(p["key"], p["value"]).value})

    def clear_cache_(self, p: dict[str, Any]) -> HandlerResult:
        self.clear_cache()
        return HandlerResult({"status": "Accepted"})

    def data_transfer(self, p: dict[str, Any]) -> HandlerResult:
        if p["vendorId"] != VENDOR_ID:
            return HandlerResult({"status": "UnknownVendorId"})
        if p.get("messageId") == "ping":
            return HandlerResult({"status": "Accepted", "data": p.get("data", "")})
        return HandlerResult({"status": "UnknownMessageId"})

    def get_configuration(self, p: dict[str, Any]) -> HandlerResult:
        keys = p.get("key") or None
        limit = self.config.get_int("GetConfigurationMaxKeys")
        if keys is not None and len(keys) > limit:
            raise framing.FrameError(
                "OccurenceConstraintViolation", f"at most {limit} keys per GetConfiguration"
            )
        known, unknown = self.config.get_configuration(keys)
        payload: dict[str, Any] = {"configurationKey": [kv.to_ocpp() for kv in known]}
        if unknown:
            payload["unknownKey"] = unknown
        return HandlerResult(payload)

    def _registered(self) -> bool:
        """OCPP 1.6 §4.2: no remote start or stop while the registration is Pending."""
        return self.client is None or self.client.registration == "Accepted"

    def remote_start(self, p: dict[str, Any]) -> HandlerResult:
        connector_id = p.get("connectorId")
        if connector_id == 0 or not self._registered():
            return HandlerResult({"status": "Rejected"})

        def start() -> bool:
            return self.station.remote_start(p["idTag"], connector_id)

        # A chargingProfile goes to the Smart Charging group (it accepts or refuses it).
        profile = p.get("chargingProfile")
        hooks = [getattr(g, "remote_start_with_profile", None) for g in self.groups]
        hook = next((h for h in hooks if h is not None), None) if profile else None
        ok = hook(p["idTag"], connector_id, profile, start) if hook else start()
        return HandlerResult({"status": "Accepted" if ok else "Rejected"})

    def remote_stop(self, p: dict[str, Any]) -> HandlerResult:
        ok = self._registered() and self.station.remote_stop(p["transactionId"])
        return HandlerResult({"status": "Accepted" if ok else "Rejected"})

    def reset(self, p: dict[str, Any]) -> HandlerResult:
        kind = p["type"]
        return HandlerResult({"status": "Accepted"}, after=lambda: self.station.reset(kind))

    def unlock_connector(self, p: dict[str, Any]) -> HandlerResult:
        return HandlerResult({"status": self.station.unlock(p["connectorId"])})

    # ------------------------------------------------------------ RemoteTrigger

    def trigger_message(self, p: dict[str, Any]) -> HandlerResult:
        requested = p["requestedMessage"]
        connector_id = p.get("connectorId")
        client = self.client
        if (
            connector_id is not None
            and connector_id != 0
            and connector_id not in self.station.connectors
        ):
            return HandlerResult({"status": "Rejected"})
        if client is None:
            return HandlerResult({"status": "Rejected"})
        if requested != "BootNotification" and not client.accepted:
            return HandlerResult({"status": "Rejected"})
        actions: dict[str, Callable[[], Any]] = {
            "BootNotification": client.trigger_boot,
            "Heartbeat": lambda: client.send_direct("Heartbeat", {}),
            "StatusNotification": lambda: self._trigger_status(connector_id),
            "MeterValues": lambda: self.station.trigger_meter_values(connector_id or 0),
            "DiagnosticsStatusNotification": lambda: client.send_direct(
                "DiagnosticsStatusNotification", {"status": "Idle"}
            ),
            "FirmwareStatusNotification": lambda: client.send_direct(
                "FirmwareStatusNotification", {"status": "Idle"}
            ),
        }
        for group in self.groups:  # a profile that runs jobs reports their real status
            triggers = getattr(group, "triggers", None)
            if triggers is not None:
                actions.update(triggers())
        action = actions.get(requested)
        if action is None:
            return HandlerResult({"status": "NotImplemented"})
        return HandlerResult({"status": "Accepted"}, after=lambda: _quiet(action()))

    def _trigger_status(self, connector_id: int | None) -> None:
        assert self.client is not None
        for event in self.station.current_statuses():
            if connector_id is None or event.connector_id == connector_id:
                self.client._send_status(event)


def _quiet(outcome: Any) -> None:
    """Triggered messages are fire-and-forget: a failure is logged, not raised."""
    if hasattr(outcome, "add_done_callback"):
        outcome.add_done_callback(lambda f: f.cancelled() or f.exception())
