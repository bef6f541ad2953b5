"""OCPP-J RPC over one WebSocket: the session runtime the `ocpp` library leaves to us.

- Inbound CALLs are dispatched as tasks, so a handler can never block the reception
  of the CALLRESULT the station is waiting for.
- One outbound CALL at a time (OCPP-J §4.1.1), with a timeout; a CALLRESULT that
  arrives after its timeout is handed to `on_late_result` instead of being dropped
  (a late StartTransaction.conf still carries the transactionId we need).
- Writes are serialised by one lock that a handler holds while it runs and answers,
  so a CALL caused by a handler (StartTransaction after RemoteStartTransaction) is
  never sent before the handler's own CALLRESULT.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from chargebox.ocpp16 import framing

log = logging.getLogger(__name__)


class WebSocketLike(Protocol):
    async def send(self, message: str) -> None: ...

    async def recv(self) -> str | bytes: ...


@dataclass
class HandlerResult:
    """What a handler answers, and what it wants done once the answer is on the wire."""

    payload: dict[str, Any]
    after: Callable[[], Any] | None = None


class CallErrorReceived(Exception):
    def __init__(self, error: framing.CallError) -> None:
        super().__init__(f"{error.code}: {error.description}")
        self.error = error


Handler = Callable[[framing.Call], HandlerResult]
FrameLogger = Callable[[str, str], None]  # (direction "in"/"out", frame text)


class RpcSession:
    def __init__(
        self,
        ws: WebSocketLike,
        handler: Handler,
        *,
        supported: frozenset[str] = frozenset(),
        call_timeout: float = 30.0,
        on_late_result: Callable[[str, str, dict[str, Any]], None] | None = None,
        frame_logger: FrameLogger | None = None,
    ) -> None:
        self.ws = ws
        self.handler = handler
        self.supported = supported
        self.call_timeout = call_timeout
        self.on_late_result = on_late_result
        self.frame_logger = frame_logger
        self._call_lock = asyncio.Lock()
        self.write_lock = asyncio.Lock()
        self._pending: tuple[str, str, asyncio.Future[dict[str, Any]]] | None = None
        self._timed_out: dict[str, str] = {}  # unique id -> action, for late answers
        self._tasks: set[asyncio.Task[None]] = set()

    async def _write(self, text: str) -> None:
        if self.frame_logger is not None:
            self.frame_logger("out", text)
        await self.ws.send(text)

    async def run(self) -> None:
        """Read frames until the connection closes (the exception propagates)."""
        try:
            while True:
                raw = await self.ws.recv()
                self._dispatch(raw)
        finally:
            for task in self._tasks:
                task.cancel()
            if self._pending is not None and not self._pending[2].done():
                self._pending[2].set_exception(ConnectionError("connection closed"))

    def _dispatch(self, raw: str | bytes) -> None:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        if self.frame_logger is not None:
            self.frame_logger("in", text)
        try:
            frame = framing.parse_frame(raw)
        except framing.FrameError as exc:
            if exc.message_type_id in (framing.CALLRESULT, framing.CALLERROR):
                # A CALLERROR answers a CALL only; a broken answer fails the call it answers.
                log.warning("malformed response %s: %s", exc.unique_id, exc.description)
                pending = self._pending
                if pending is not None and pending[0] == exc.unique_id and not pending[2].done():
                    err = framing.CallError(pending[0], exc.code, exc.description, exc.details)
                    pending[2].set_exception(CallErrorReceived(err))
                return
            self._spawn(self._send_error(framing.error_for(exc)))
            return
        if isinstance(frame, framing.Call):
            self._spawn(self._handle(frame))
        else:
            self._resolve(frame)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_error(self, text: str) -> None:
        async with self.write_lock:
            await self._write(text)

    async def _handle(self, call: framing.Call) -> None:
        after = None
        async with self.write_lock:
            try:
                framing.validate_request(
                    call.action, call.payload, self.supported, unique_id=call.unique_id
                )
                result = self.handler(call)
                framing.validate_outbound(call.action, result.payload, result=True)
                text = framing.encode_result(call.unique_id, result.payload)
                after = result.after
            except framing.FrameError as exc:
                if exc.unique_id is None:
                    exc.unique_id = call.unique_id
                text = framing.error_for(exc)
            except Exception as exc:  # a handler bug is answered, never fatal
                log.exception("handler for %s failed", call.action)
                text = framing.encode_error(
                    call.unique_id, "InternalError", "handler failed", {"cause": str(exc)[:200]}
                )
            await self._write(text)
        if after is not None:
            outcome = after()
            if asyncio.iscoroutine(outcome):
                await outcome

    def _resolve(self, frame: framing.CallResult | framing.CallError) -> None:
        pending = self._pending
        if pending is not None and pending[0] == frame.unique_id and not pending[2].done():
            _, action, future = pending
            if isinstance(frame, framing.CallError):
                future.set_exception(CallErrorReceived(frame))
                return
            try:
                framing.validate_response(action, frame.payload)
            except framing.FrameError as exc:
                err = framing.CallError(frame.unique_id, exc.code, exc.description, exc.details)
                future.set_exception(CallErrorReceived(err))
                return
            future.set_result(frame.payload)
            return
        action = self._timed_out.pop(frame.unique_id, "")
        if action and isinstance(frame, framing.CallResult) and self.on_late_result:
            self.on_late_result(frame.unique_id, action, frame.payload)
            return
        log.warning("ignoring response with unknown unique id %s", frame.unique_id)

    async def call(
        self,
        action: str,
        payload: dict[str, Any],
        timeout: float | None = None,
        unique_id: str | None = None,
    ) -> dict[str, Any]:
        """Send a CALL and wait for its CALLRESULT payload.

        Raises CallErrorReceived, TimeoutError or ConnectionError.
        """
        framing.validate_outbound(action, payload, result=False)
        async with self._call_lock:
            unique_id = unique_id or str(uuid.uuid4())
            future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            self._pending = (unique_id, action, future)
            try:
                async with self.write_lock:
                    await self._write(framing.encode_call(unique_id, action, payload))
                return await asyncio.wait_for(future, timeout or self.call_timeout)
            except TimeoutError:
                self._timed_out[unique_id] = action
                if len(self._timed_out) > 100:
                    self._timed_out.pop(next(iter(self._timed_out)))
                raise
            finally:
                self._pending = None
