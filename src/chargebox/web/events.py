"""Live updates for the web UI: server-sent events at ``/events``.

One hub listens to every event on the core's bus (status, limit, transaction, meter
sample, error…) and pushes a fresh status snapshot — the document of ``GET /api/v1/status``
— to every open page at once (at most every 0.1 s), and in any case once a second. Each
page's queue holds only the newest snapshot, so a slow browser never builds up a backlog.
The hub also keeps the last five minutes of per-connector power for the dashboard's chart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import StreamingResponse

from chargebox.core.events import Event, EventBus

__all__ = ["LiveHub", "events_router"]

SNAPSHOT_PERIOD_S = 1.0
MIN_GAP_S = 0.1
HISTORY_S = 300


class LiveHub:
    def __init__(self, bus: EventBus, snapshot: Callable[[], dict[str, Any]]) -> None:
        self._snapshot = snapshot
        self._clients: set[asyncio.Queue[dict[str, Any]]] = set()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.history: deque[tuple[float, list[float]]] = deque(maxlen=HISTORY_S)
        self.last: dict[str, Any] | None = None
        bus.subscribe_all(self._on_event)

    def _on_event(self, event: Event) -> None:
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or not self._clients:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            wake.set()
        else:
            loop.call_soon_threadsafe(wake.set)

    def take_snapshot(self) -> dict[str, Any]:
        data = self._snapshot()
        data["at"] = time.time()
        return data

    def _publish(self, data: dict[str, Any]) -> None:
        self.last = data
        for queue in list(self._clients):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(data)

    async def run(self) -> None:
        """The hub's task: a snapshot per second (and the chart's history), plus on events."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        next_tick = time.monotonic()
        while True:
            timeout = max(0.0, next_tick - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            periodic = time.monotonic() >= next_tick
            data = self.take_snapshot()
            if periodic:
                next_tick += SNAPSHOT_PERIOD_S
                if next_tick < time.monotonic():  # we were starved: do not catch up in a burst
                    next_tick = time.monotonic() + SNAPSHOT_PERIOD_S
                powers = [float(c["power_w"]) for c in data["connectors"]]
                self.history.append((data["at"], powers))
            self._publish(data)
            await asyncio.sleep(MIN_GAP_S)

    def history_points(self) -> list[list[Any]]:
        return [[round(t, 1), p] for t, p in self.history]

    async def stream(self, still_valid: Callable[[], bool]) -> AsyncIterator[str]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1)
        self._clients.add(queue)
        try:
            yield "retry: 2000\n\n"
            yield _message("status", self.take_snapshot())
            checked = time.monotonic()
            while True:
                try:
                    data = await asyncio.wait_for(queue.get(), 5.0)
                except TimeoutError:
                    data = None
                if time.monotonic() - checked > 5.0:
                    checked = time.monotonic()
                    if not still_valid():
                        yield _message("logout", {})
                        return
                if data is None:
                    yield ": keep-alive\n\n"
                else:
                    yield _message("status", data)
        finally:
            self._clients.discard(queue)


def _message(event: str, data: dict[str, Any]) -> str:
    # jsonable_encoder as for the API's responses: enums, dataclasses, datetimes in the status.
    text = json.dumps(jsonable_encoder(data), separators=(",", ":"))
    return f"event: {event}\ndata: {text}\n\n"


def events_router(
    hub: LiveHub, authorize: Callable[[Request], Any], still_valid: Callable[[Request], bool]
) -> APIRouter:
    router = APIRouter()

    @router.get("/events", include_in_schema=False)
    async def events(request: Request) -> StreamingResponse:
        await authorize(request)

        def valid() -> bool:
            return still_valid(request)

        return StreamingResponse(
            hub.stream(valid),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return router
