"""Everything the charge point sends, one CALL at a time, in the order it was created.

Two kinds of outbound message share one sender task:
- transaction messages (StartTransaction, StopTransaction, MeterValues of a transaction)
  go through the persistent queue: kept while offline and across a crash, sent in
  order, retried per TransactionMessageAttempts / TransactionMessageRetryInterval;
- everything else (StatusNotification, Authorize, Heartbeat, …) is sent directly when
  online and dropped when not.
A sequence number across both keeps their relative order. The sender knows nothing of
connecting or registering: the client hands it a session once it may send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from chargebox.core.station import Station
from chargebox.ocpp16 import messages
from chargebox.ocpp16.rpc import CallErrorReceived, RpcSession

__all__ = ["MessageSender", "PersistentQueue", "QueuedMessage", "TransactionIds"]

log = logging.getLogger(__name__)


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


@dataclass
class _Outbound:
    seq: int
    action: str
    payload: dict[str, Any]
    future: asyncio.Future[dict[str, Any]] | None = None


class MessageSender:
    """The outbound side of the client: the direct line, the persistent queue and their order.

    `last_call` is the monotonic time of the last answered CALL, so the heartbeat only
    fills silence.
    """

    def __init__(
        self, *, station: Station, queue: PersistentQueue, transactions: TransactionIds
    ) -> None:
        self.station = station
        self.config = station.config
        self.queue = queue
        self.transactions = transactions
        self.last_call = 0.0
        self._direct: deque[_Outbound] = deque()
        self._seq = 0
        self._tx_seq: dict[int, int] = {}
        self._retry_at = 0.0
        self._wake = asyncio.Event()
        self._inflight_tx: dict[str, int] = {}  # unique id -> queue id, for late answers

    def wake(self) -> None:
        """Look at both queues again (e.g. right after coming online)."""
        self._wake.set()

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def send_direct(self, action: str, payload: dict[str, Any]) -> asyncio.Future[dict[str, Any]]:
        """Queue a non-transaction CALL; whether we may send at all is the caller's check."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._direct.append(_Outbound(self._next_seq(), action, payload, future))
        self._wake.set()
        return future

    def fail_direct(self) -> None:
        """Offline: direct CALLs are not kept, their callers learn it at once."""
        for item in self._direct:
            if item.future is not None and not item.future.done():
                item.future.set_exception(ConnectionError("offline"))
        self._direct.clear()

    def enqueue_tx(self, action: str, payload: dict[str, Any], local_id: int | None) -> None:
        """Persist a transaction message; it is sent when its turn comes, online or later."""
        msg_id = self.queue.enqueue(action, payload, local_id)
        self._tx_seq[msg_id] = self._next_seq()
        self._wake.set()

    def ensure_start_queued(self, local_id: int) -> None:
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
        self.enqueue_tx("StartTransaction", payload, local_id)

    async def run(self, session: RpcSession) -> None:
        """Send on `session` until cancelled: the older of the two queue heads goes first."""
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
            self.last_call = time.monotonic()
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
        self.last_call = time.monotonic()
        self._tx_result(msg, result)
        self._done_tx(msg.id)

    def _done_tx(self, msg_id: int) -> None:
        self.queue.remove(msg_id)
        self._tx_seq.pop(msg_id, None)
        self._retry_at = 0.0
        self._wake.set()  # a late answer may free the head while the sender waits out a retry

    def _materialize(self, msg: QueuedMessage) -> dict[str, Any] | None:
        """The payload as sent: later messages carry the transactionId the CSMS gave."""
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

    def late_result(self, unique_id: str, action: str, payload: dict[str, Any]) -> None:
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
