"""The OCPP 1.6J charge-point client: the connection's life, registration, and core events.

The client connects (`connection`), registers with BootNotification, keeps the line alive
with Heartbeat and turns core events into messages; the sending itself, in order, one
CALL at a time, with the persistent transaction queue, is the `MessageSender`'s job:
- transaction messages (StartTransaction, StopTransaction, MeterValues of a transaction)
  are queued persistently, also while offline, and survive a crash;
- everything else (StatusNotification, Authorize, Heartbeat, …) is sent directly when
  online and dropped when not (statuses are re-sent from the current state on reconnect).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from chargebox.core.clock import iso
from chargebox.core.events import (
    AuthorizationRequested,
    ConfigurationChanged,
    EventBus,
    MeterSample,
    StatusChanged,
    TransactionStarted,
    TransactionStopped,
)
from chargebox.core.station import Station
from chargebox.ocpp16 import messages
from chargebox.ocpp16.connection import (
    MAX_BACKOFF_EXPONENT,
    RECONNECT_KEYS,
    OcppSettings,
    backoff_delay,
    close_soon,
    connect,
)
from chargebox.ocpp16.handlers import Handlers
from chargebox.ocpp16.rpc import CallErrorReceived, FrameLogger, RpcSession
from chargebox.ocpp16.sender import MessageSender, PersistentQueue, QueuedMessage, TransactionIds

__all__ = [
    "RECONNECT_KEYS",
    "OcppClient",
    "OcppSettings",
    "PersistentQueue",
    "QueuedMessage",
    "TransactionIds",
]

log = logging.getLogger(__name__)


class OcppClient:
    """One charge point's OCPP connection: reconnects forever, registers, reports events."""

    def __init__(
        self,
        *,
        station: Station,
        bus: EventBus,
        settings: OcppSettings,
        queue: PersistentQueue,
        transactions: TransactionIds,
        handlers: Handlers,
        frame_logger: FrameLogger | None = None,
    ) -> None:
        self.station = station
        self.config = station.config
        self.settings = settings
        self.queue = queue
        self.transactions = transactions
        self.handlers = handlers
        self.frame_logger = frame_logger
        self.connected = False
        self.registration: str | None = None  # Accepted / Pending / Rejected
        self.session: RpcSession | None = None
        self._sender = MessageSender(station=station, queue=queue, transactions=transactions)
        self._last_status: dict[int, tuple[str, str, str | None]] = {}
        self._reconnect = asyncio.Event()
        self._boot_now = asyncio.Event()
        bus.subscribe(StatusChanged, self._on_status)
        bus.subscribe(TransactionStarted, self._on_started)
        bus.subscribe(TransactionStopped, self._on_stopped)
        bus.subscribe(MeterSample, self._on_sample)
        bus.subscribe(AuthorizationRequested, self._on_authorize)
        bus.subscribe(ConfigurationChanged, self._on_config)
        handlers.client = self

    @property
    def accepted(self) -> bool:
        return self.connected and self.registration == "Accepted"

    # ------------------------------------------------------------ connection

    async def run(self) -> None:
        """Connect, serve, and reconnect with exponential backoff and jitter, forever."""
        attempt = 0
        while True:
            try:
                async with connect(self.settings, self.config) as ws:
                    attempt = 0
                    await self._serve(ws)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every network failure ends in a reconnect
                log.warning("OCPP connection to %s lost: %s", self.settings.endpoint, exc)
            finally:
                self._went_offline()
            delay = backoff_delay(self.settings, attempt)
            attempt = min(attempt + 1, MAX_BACKOFF_EXPONENT)
            self._reconnect.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reconnect.wait(), delay)

    def reconnect(self) -> None:
        """Drop the connection (new URL, key or profile) and connect again at once."""
        self._reconnect.set()
        if self.session is not None:
            close_soon(self.session.ws)

    async def _serve(self, ws: Any) -> None:
        session = RpcSession(
            ws,
            self.handlers.handle,
            supported=self.handlers.supported,
            call_timeout=self.settings.call_timeout_s,
            on_late_result=self._sender.late_result,
            frame_logger=self.frame_logger,
        )
        self.session = session
        self.connected = True
        reader = asyncio.ensure_future(session.run())
        tasks: list[asyncio.Future[Any]] = [reader]
        try:
            boot: asyncio.Future[None] = asyncio.ensure_future(self._register(session))
            first: set[asyncio.Future[Any]] = {reader, boot}
            done, _ = await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
            if reader in done:
                boot.cancel()
                reader.result()
                return
            boot.result()
            self._came_online()
            tasks += [
                asyncio.ensure_future(self._sender.run(session)),
                asyncio.ensure_future(self._heartbeat()),
            ]
            done2, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done2:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            self.session = None

    async def _register(self, session: RpcSession) -> None:
        """BootNotification until Accepted; nothing else is sent before that."""
        if self.registration == "Accepted":
            return  # a reconnect of this boot: the central system knows us
        while True:
            interval = self.settings.boot_retry_s
            try:
                conf = await session.call("BootNotification", self._boot_payload())
                self.registration = conf["status"]
                interval = conf["interval"] or interval
                if self.registration == "Accepted":
                    if conf["interval"] > 0:
                        self.config.set_internal("HeartbeatInterval", str(conf["interval"]))
                    self._sender.last_call = time.monotonic()
                    return
            except (CallErrorReceived, TimeoutError) as exc:
                log.warning("BootNotification failed: %s", exc)
            self._boot_now.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._boot_now.wait(), interval)

    def trigger_boot(self) -> None:
        """TriggerMessage(BootNotification): send one now, also while Pending."""
        if self.registration == "Accepted" and self.session is not None:
            session = self.session

            async def again() -> None:
                self.registration = None
                await self._register(session)

            asyncio.ensure_future(again())
        else:
            self._boot_now.set()

    def _boot_payload(self) -> dict[str, Any]:
        fields = {k: v for k, v in self.settings.boot_fields.items() if v}
        fields.setdefault("chargePointVendor", "chargebox")
        fields.setdefault("chargePointModel", "chargebox-sim")
        return fields

    def _came_online(self) -> None:
        self.station.set_online(True)
        for event in self.station.current_statuses():
            key = (event.status.value, event.error_code, event.vendor_error_code)
            if self._last_status.get(event.connector_id) != key:
                self._send_status(event)
        self._sender.wake()

    def _went_offline(self) -> None:
        was = self.connected
        self.connected = False
        self._sender.fail_direct()
        if was:
            self.station.set_online(False)

    # ---------------------------------------------------- direct CALLs, heartbeat

    def send_direct(self, action: str, payload: dict[str, Any]) -> asyncio.Future[dict[str, Any]]:
        """Queue a non-transaction CALL; the future fails at once when offline."""
        if not self.accepted and action != "BootNotification":
            future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            future.set_exception(ConnectionError("not connected and accepted"))
            return future
        return self._sender.send_direct(action, payload)

    async def _heartbeat(self) -> None:
        """Heartbeat only after HeartbeatInterval without an answered CALL (any CALL will do)."""
        while True:
            interval = max(1, self.config.get_int("HeartbeatInterval"))
            idle = time.monotonic() - self._sender.last_call
            if idle >= interval:
                try:
                    result = await self.send_direct("Heartbeat", {})
                    log.debug("heartbeat answered at %s", result.get("currentTime"))
                except (CallErrorReceived, TimeoutError) as exc:
                    log.warning("Heartbeat failed: %s", exc)
                self._sender.last_call = time.monotonic()
                continue
            await asyncio.sleep(min(interval - idle, 5.0))

    # ------------------------------------------------------------ core events

    def _send_status(self, event: StatusChanged) -> None:
        self._last_status[event.connector_id] = (
            event.status.value,
            event.error_code,
            event.vendor_error_code,
        )
        future = self.send_direct("StatusNotification", messages.status_notification(event))
        future.add_done_callback(_ignore_failure)

    def _on_status(self, event: StatusChanged) -> None:
        if self.accepted:
            self._send_status(event)

    def _on_started(self, event: TransactionStarted) -> None:
        self._sender.enqueue_tx(
            "StartTransaction", messages.start_transaction(event), event.local_id
        )

    def _on_stopped(self, event: TransactionStopped) -> None:
        if event.recovered:
            self._sender.ensure_start_queued(event.local_id)
        self._sender.enqueue_tx("StopTransaction", messages.stop_transaction(event), event.local_id)

    def _on_sample(self, event: MeterSample) -> None:
        payload = messages.meter_values(event)
        if event.transaction_local_id is not None:
            self._sender.enqueue_tx("MeterValues", payload, event.transaction_local_id)
        elif self.accepted:
            self.send_direct("MeterValues", payload).add_done_callback(_ignore_failure)

    def _on_authorize(self, event: AuthorizationRequested) -> None:
        if not self.accepted:
            self.station.authorization_result(event.id_tag, None)
            return
        future = self.send_direct("Authorize", {"idTag": event.id_tag})

        def done(f: asyncio.Future[dict[str, Any]]) -> None:
            info = None if f.exception() else messages.id_tag_info(f.result()["idTagInfo"])
            self.station.authorization_result(event.id_tag, info)
            self.station.tick()

        future.add_done_callback(done)

    def _on_config(self, event: ConfigurationChanged) -> None:
        if event.key in RECONNECT_KEYS:
            asyncio.get_running_loop().call_later(0.5, self.reconnect)

    def status(self) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "registration": self.registration,
            "queued_messages": len(self.queue),
            "endpoint": self.settings.endpoint,
            "since": iso(time.time()),
        }


def _ignore_failure(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved, so asyncio does not log it
