"""The OCPP 1.6J charge-point client: connection, registration, and everything we send.

Two kinds of outbound message:
- transaction messages (StartTransaction, StopTransaction, MeterValues of a transaction)
  go through the persistent queue: kept while offline and across a crash, sent in
  order, retried per TransactionMessageAttempts / TransactionMessageRetryInterval;
- everything else (StatusNotification, Authorize, Heartbeat, …) is sent directly when
  online and dropped when not (statuses are re-sent from the current state on reconnect).
One sender task sends both in the order they were created, one CALL at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from base64 import b64encode
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

import websockets
from websockets.asyncio.client import ClientConnection

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
from chargebox.ocpp16.handlers import Handlers
from chargebox.ocpp16.rpc import CallErrorReceived, FrameLogger, RpcSession

log = logging.getLogger(__name__)

RECONNECT_KEYS = {"AuthorizationKey", "SecurityProfile", "WebSocketPingInterval"}


class QueuedMessage(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def action(self) -> str: ...

    @property
    def payload(self) -> dict[str, Any]: ...

    @property
    def tx_local_id(self) -> int | None: ...


class PersistentQueue(Protocol):
    def enqueue(self, action: str, payload: dict[str, Any], tx_local_id: int | None) -> int: ...

    def peek(self) -> QueuedMessage | None: ...

    def items(self) -> list[Any]: ...

    def record_attempt(self, msg_id: int) -> int: ...

    def remove(self, msg_id: int) -> object: ...

    def __len__(self) -> int: ...


class TransactionIds(Protocol):
    def get(self, local_id: int) -> Any: ...

    def set_remote_id(self, local_id: int, remote_id: int) -> None: ...


@dataclass(frozen=True)
class OcppSettings:
    url: str
    identity: str
    ca_file: str | None = None
    call_timeout_s: float = 30.0
    reconnect_min_s: float = 2.0
    reconnect_max_s: float = 120.0
    boot_retry_s: float = 30.0  # when BootNotification.conf says interval 0
    boot_fields: dict[str, str] = field(default_factory=dict)  # chargePointVendor, …

    @property
    def endpoint(self) -> str:
        return self.url.rstrip("/") + "/" + self.identity


@dataclass
class _Outbound:
    seq: int
    action: str
    payload: dict[str, Any]
    future: asyncio.Future[dict[str, Any]] | None = None


class OcppClient:
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
        self._direct: deque[_Outbound] = deque()
        self._seq = 0
        self._tx_seq: dict[int, int] = {}
        self._retry_at = 0.0
        self._last_call = 0.0
        self._last_status: dict[int, tuple[str, str, str | None]] = {}
        self._wake = asyncio.Event()
        self._reconnect = asyncio.Event()
        self._boot_now = asyncio.Event()
        self._inflight_tx: dict[str, int] = {}  # unique id -> queue id, for late answers
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
                async with self._connect() as ws:
                    attempt = 0
                    await self._serve(ws)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every network failure ends in a reconnect
                log.warning("OCPP connection to %s lost: %s", self.settings.endpoint, exc)
            finally:
                self._went_offline()
            ceiling = min(self.settings.reconnect_max_s, self.settings.reconnect_min_s * 2**attempt)
            delay = ceiling / 2 + random.uniform(0, ceiling / 2)
            attempt = min(attempt + 1, 16)
            self._reconnect.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reconnect.wait(), delay)

    def reconnect(self) -> None:
        """Drop the connection (new URL, key or profile) and connect again at once."""
        self._reconnect.set()
        if self.session is not None:
            ws = self.session.ws
            if isinstance(ws, ClientConnection):
                asyncio.ensure_future(ws.close())

    def _connect(self) -> Any:
        headers = {}
        profile = self.config.get_int("SecurityProfile")
        key = self.config.get("AuthorizationKey")
        if key and profile in (0, 1, 2):
            token = b64encode(f"{self.settings.identity}:{key}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        ssl_context = None
        if self.settings.endpoint.startswith("wss://"):
            ssl_context = ssl.create_default_context(cafile=self.settings.ca_file)
        ping = self.config.get_int("WebSocketPingInterval")
        return websockets.connect(
            self.settings.endpoint,
            subprotocols=[websockets.Subprotocol("ocpp1.6")],
            additional_headers=headers,
            ssl=ssl_context,
            ping_interval=ping or None,
            ping_timeout=(ping or None) and max(ping, 10),
            open_timeout=max(5.0, self.settings.call_timeout_s),
            max_size=2**20,
        )

    async def _serve(self, ws: Any) -> None:
        session = RpcSession(
            ws,
            self.handlers.handle,
            supported=self.handlers.supported,
            call_timeout=self.settings.call_timeout_s,
            on_late_result=self._late_result,
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
                asyncio.ensure_future(self._sender(session)),
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
                    self._last_call = time.monotonic()
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
        self._wake.set()

    def _went_offline(self) -> None:
        was = self.connected
        self.connected = False
        for item in self._direct:
            if item.future is not None and not item.future.done():
                item.future.set_exception(ConnectionError("offline"))
        self._direct.clear()
        if was:
            self.station.set_online(False)

    # --------------------------------------------------------------- sending

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def send_direct(self, action: str, payload: dict[str, Any]) -> asyncio.Future[dict[str, Any]]:
        """Queue a non-transaction CALL; the future fails at once when offline."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        if not self.accepted and action != "BootNotification":
            future.set_exception(ConnectionError("not connected and accepted"))
            return future
        self._direct.append(_Outbound(self._next_seq(), action, payload, future))
        self._wake.set()
        return future

    def _enqueue_tx(self, action: str, payload: dict[str, Any], local_id: int | None) -> None:
        msg_id = self.queue.enqueue(action, payload, local_id)
        self._tx_seq[msg_id] = self._next_seq()
        self._wake.set()

    async def _sender(self, session: RpcSession) -> None:
        while True:
            now = time.monotonic()
            head = self.queue.peek()
            tx_ready = head is not None and now >= self._retry_at
            direct = self._direct[0] if self._direct else None
            if (
                tx_ready
                and head is not None
                and (direct is None or self._tx_seq.get(head.id, 0) < direct.seq)
            ):
                await self._send_tx(session, head)
            elif direct is not None:
                self._direct.popleft()
                await self._send_one(session, direct)
            else:
                self._wake.clear()
                timeout = max(0.0, self._retry_at - now) if head is not None else None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)

    async def _send_one(self, session: RpcSession, item: _Outbound) -> None:
        try:
            result = await session.call(item.action, item.payload)
            self._last_call = time.monotonic()
            if item.future is not None and not item.future.done():
                item.future.set_result(result)
        except (CallErrorReceived, TimeoutError) as exc:
            if item.future is not None and not item.future.done():
                item.future.set_exception(exc)

    async def _send_tx(self, session: RpcSession, msg: QueuedMessage) -> None:
        payload = self._materialize(msg)
        if payload is None:
            log.error("dropping %s #%s: its transaction never got an id", msg.action, msg.id)
            self._done_tx(msg.id)
            return
        unique_id = f"tx-{msg.id}-{time.monotonic_ns()}"
        self._inflight_tx[unique_id] = msg.id
        try:
            result = await session.call(msg.action, payload, unique_id=unique_id)
        except (CallErrorReceived, TimeoutError) as exc:
            attempts = self.queue.record_attempt(msg.id)
            limit = max(1, self.config.get_int("TransactionMessageAttempts"))
            if attempts >= limit:
                log.error("%s #%s failed %d times, given up: %s", msg.action, msg.id, attempts, exc)
                self._done_tx(msg.id)
            else:
                interval = self.config.get_int("TransactionMessageRetryInterval")
                self._retry_at = time.monotonic() + interval * attempts
            return
        finally:
            self._inflight_tx.pop(unique_id, None)
        self._last_call = time.monotonic()
        self._tx_result(msg, result)
        self._done_tx(msg.id)

    def _done_tx(self, msg_id: int) -> None:
        self.queue.remove(msg_id)
        self._tx_seq.pop(msg_id, None)
        self._retry_at = 0.0
        self._wake.set()  # a late answer may free the head while the sender waits out a retry

    def _materialize(self, msg: QueuedMessage) -> dict[str, Any] | None:
        if msg.action == "StartTransaction" or msg.tx_local_id is None:
            return msg.payload
        record = self.transactions.get(msg.tx_local_id)
        if record is None or record.remote_id is None:
            return None
        return {**msg.payload, "transactionId": record.remote_id}

    def _tx_result(self, msg: QueuedMessage, result: dict[str, Any]) -> None:
        info = messages.id_tag_info(result.get("idTagInfo"))
        if msg.action == "StartTransaction" and msg.tx_local_id is not None:
            self.transactions.set_remote_id(msg.tx_local_id, result["transactionId"])
            if info is not None:
                self.station.transaction_confirmed(msg.tx_local_id, result["transactionId"], info)
        elif msg.action == "StopTransaction" and info is not None and msg.payload.get("idTag"):
            self.station.remember(msg.payload["idTag"], info)

    def _late_result(self, unique_id: str, action: str, payload: dict[str, Any]) -> None:
        """A StartTransaction.conf after its timeout still names the transaction."""
        if action != "StartTransaction":
            return
        head = self.queue.peek()
        for msg in self.queue.items():
            if msg.action == "StartTransaction" and unique_id.startswith(f"tx-{msg.id}-"):
                record = self.transactions.get(msg.tx_local_id)
                if record is not None and record.remote_id is None:
                    self._tx_result(msg, payload)
                    if head is not None and head.id == msg.id:
                        self._done_tx(msg.id)
                return

    async def _heartbeat(self) -> None:
        while True:
            interval = max(1, self.config.get_int("HeartbeatInterval"))
            idle = time.monotonic() - self._last_call
            if idle >= interval:
                try:
                    result = await self.send_direct("Heartbeat", {})
                    log.debug("heartbeat answered at %s", result.get("currentTime"))
                except (CallErrorReceived, TimeoutError) as exc:
                    log.warning("Heartbeat failed: %s", exc)
                self._last_call = time.monotonic()
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
        self._enqueue_tx("StartTransaction", messages.start_transaction(event), event.local_id)

    def _on_stopped(self, event: TransactionStopped) -> None:
        if event.recovered:
            self._ensure_start_queued(event.local_id)
        self._enqueue_tx("StopTransaction", messages.stop_transaction(event), event.local_id)

    def _ensure_start_queued(self, local_id: int) -> None:
        """A crash between recording a transaction and queueing its start must not lose it."""
        record = self.transactions.get(local_id)
        if record is None or record.remote_id is not None:
            return
        if any(
            m.action == "StartTransaction" and m.tx_local_id == local_id for m in self.queue.items()
        ):
            return
        payload = {
            "connectorId": record.connector_id,
            "idTag": record.id_tag,
            "meterStart": record.meter_start_wh,
            "timestamp": record.start_time,
        }
        if record.reservation_id is not None:
            payload["reservationId"] = record.reservation_id
        self._enqueue_tx("StartTransaction", payload, local_id)

    def _on_sample(self, event: MeterSample) -> None:
        payload = messages.meter_values(event)
        if event.transaction_local_id is not None:
            self._enqueue_tx("MeterValues", payload, event.transaction_local_id)
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
