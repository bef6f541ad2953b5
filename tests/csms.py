"""A test central system on the `ocpp` library, and a handle on a chargebox station process.

The CSMS answers what a charge point sends (configurable per test), records every frame
the charge point sends, and lets a test send CALLs (through the library) or raw frames.
The station runs as a real `python -m chargebox run` process, driven through the
control API, so tests exercise exactly what a user runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import websockets
from ocpp.charge_point import snake_to_camel_case
from ocpp.routing import on
from ocpp.v16 import ChargePoint as LibChargePoint
from ocpp.v16 import call_result
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Response

API_TOKEN = "test-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_ranges(count: int, width: int) -> list[int]:
    """`count` base ports on 127.0.0.1, each with `width` consecutive free ports, none
    overlapping (a station's Modbus server answers connector n on base + n - 1)."""
    held: list[socket.socket] = []
    bases: list[int] = []
    try:
        for _ in range(count):
            for _attempt in range(50):
                block = [socket.socket() for _ in range(width)]
                try:
                    block[0].bind(("127.0.0.1", 0))
                    base = int(block[0].getsockname()[1])
                    if base + width > 65535:
                        raise OSError("range past 65535")
                    for i, s in enumerate(block[1:], 1):
                        s.bind(("127.0.0.1", base + i))
                except OSError:
                    for s in block:
                        s.close()
                    continue
                held.extend(block)  # kept bound until every range is chosen
                bases.append(base)
                break
            else:
                raise RuntimeError("no free port range")
        return bases
    finally:
        for s in held:
            s.close()


def free_ports(width: int) -> int:
    """One base port with `width` consecutive free ports."""
    return free_port_ranges(1, width)[0]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Frame:
    direction: str  # "in": charge point -> CSMS, "out": CSMS -> charge point
    raw: str
    at: float

    @property
    def data(self) -> Any:
        return json.loads(self.raw)

    @property
    def action(self) -> str | None:
        d = self.data
        return d[2] if isinstance(d, list) and d and d[0] == 2 else None

    @property
    def payload(self) -> dict[str, Any]:
        return dict(self.data[3])


class _RecordingConnection:
    """Wraps the server connection so every frame is recorded before the library sees it."""

    def __init__(self, ws: ServerConnection, csms: TestCSMS) -> None:
        self.ws = ws
        self.csms = csms

    async def recv(self) -> str:
        raw = await self.ws.recv()
        text = raw if isinstance(raw, str) else raw.decode()
        self.csms._record(Frame("in", text, time.monotonic()))
        return text

    async def send(self, text: str) -> None:
        self.csms._record(Frame("out", text, time.monotonic()))
        await self.ws.send(text)


class CsmsChargePoint(LibChargePoint):
    """The central system's view of one charge point; answers come from the TestCSMS."""

    csms: TestCSMS

    @on("BootNotification")
    def on_boot(self, **_: Any) -> call_result.BootNotification:
        c = self.csms
        return call_result.BootNotification(now_iso(), c.boot_interval, c.boot_status)

    @on("Heartbeat")
    def on_heartbeat(self) -> call_result.Heartbeat:
        return call_result.Heartbeat(now_iso())

    @on("StatusNotification")
    def on_status(self, **_: Any) -> call_result.StatusNotification:
        return call_result.StatusNotification()

    @on("Authorize")
    def on_authorize(self, id_tag: str) -> call_result.Authorize:
        return call_result.Authorize(self.csms.id_tag_info(id_tag))

    @on("StartTransaction")
    def on_start(self, id_tag: str, **_: Any) -> call_result.StartTransaction:
        c = self.csms
        return call_result.StartTransaction(next(c.transaction_ids), c.id_tag_info(id_tag))

    @on("StopTransaction")
    def on_stop(self, **kwargs: Any) -> call_result.StopTransaction:
        id_tag = kwargs.get("id_tag")
        return call_result.StopTransaction(self.csms.id_tag_info(id_tag) if id_tag else None)

    @on("MeterValues")
    def on_meter_values(self, **_: Any) -> call_result.MeterValues:
        return call_result.MeterValues()

    @on("DataTransfer")
    def on_data_transfer(self, **_: Any) -> call_result.DataTransfer:
        return call_result.DataTransfer(status="Accepted")

    @on("FirmwareStatusNotification")
    def on_fw(self, **_: Any) -> call_result.FirmwareStatusNotification:
        return call_result.FirmwareStatusNotification()

    @on("DiagnosticsStatusNotification")
    def on_diag(self, **_: Any) -> call_result.DiagnosticsStatusNotification:
        return call_result.DiagnosticsStatusNotification()


@dataclass
class TestCSMS:
    """Configure answers with the attributes; read what the charge point sent with `wait_for`."""

    __test__ = False

    port: int = field(default_factory=free_port)
    boot_status: str = "Accepted"
    boot_interval: int = 300
    id_tags: dict[str, dict[str, Any]] = field(default_factory=dict)  # idTag -> idTagInfo
    default_status: str = "Accepted"
    no_answer: set[str] = field(default_factory=set)  # actions left unanswered
    offline: bool = False
    frames: list[Frame] = field(default_factory=list)
    connections: int = 0
    auth_headers: list[str | None] = field(default_factory=list)
    cp: CsmsChargePoint | None = None
    ssl_context: Any = None  # an ssl.SSLContext makes it a wss:// server

    def __post_init__(self) -> None:
        self.transaction_ids = itertools.count(1001)
        self._changed = asyncio.Condition()
        self._server: Any = None
        self._ws: ServerConnection | None = None
        self._cp_task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        scheme = "wss" if self.ssl_context is not None else "ws"
        return f"{scheme}://127.0.0.1:{self.port}/ocpp"

    def id_tag_info(self, id_tag: str) -> dict[str, Any]:
        return self.id_tags.get(id_tag, {"status": self.default_status})

    # -- server
    async def start(self) -> None:
        self._server = await serve(
            self._handler,
            "127.0.0.1",
            self.port,
            subprotocols=[websockets.Subprotocol("ocpp1.6")],
            process_request=self._process_request,
            ssl=self.ssl_context,
        )

    async def stop(self) -> None:
        await self.disconnect()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _process_request(self, connection: ServerConnection, request: Any) -> Response | None:
        self.auth_headers.append(request.headers.get("Authorization"))
        if self.offline:
            return connection.respond(503, "offline\n")
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        self._ws = ws
        self.connections += 1
        identity = ws.request.path.rsplit("/", 1)[-1] if ws.request else "?"
        cp = CsmsChargePoint(identity, _RecordingConnection(ws, self), response_timeout=10)
        cp.csms = self
        original = cp.route_message

        async def route(raw: str) -> None:
            frame = json.loads(raw)
            if frame and frame[0] == 2 and frame[2] in self.no_answer:
                return
            await original(raw)

        cp.route_message = route  # type: ignore[method-assign]
        self.cp = cp
        async with self._changed:
            self._changed.notify_all()
        with contextlib.suppress(websockets.ConnectionClosed):
            await cp.start()

    async def disconnect(self) -> None:
        if self._ws is not None:
            await self._ws.close()
            self._ws = None

    def _record(self, frame: Frame) -> None:
        self.frames.append(frame)

        async def notify() -> None:
            async with self._changed:
                self._changed.notify_all()

        asyncio.ensure_future(notify())

    # -- what the charge point sent
    def calls(self, action: str | None = None) -> list[Frame]:
        return [
            f
            for f in self.frames
            if f.direction == "in" and f.action and f.action in (action or f.action)
        ]

    def actions(self) -> list[str]:
        return [f.action for f in self.calls() if f.action]

    def clear(self) -> None:
        self.frames.clear()

    async def wait_for(
        self,
        action: str,
        match: dict[str, Any] | None = None,
        timeout: float = 10.0,
        after: int = 0,
    ) -> dict[str, Any]:
        """The first CALL `action` at frame index >= `after` whose payload contains `match`."""
        deadline = time.monotonic() + timeout
        async with self._changed:
            while True:
                for frame in self.frames[after:]:
                    if (
                        frame.direction == "in"
                        and frame.action == action
                        and _contains(frame.payload, match or {})
                    ):
                        return frame.payload
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"no {action} matching {match} within {timeout}s; got {self.actions()}"
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_connected(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        async with self._changed:
            while self._ws is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("the charge point did not connect")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)

    # -- what the CSMS sends
    async def call(self, request: Any, timeout: float = 10.0) -> dict[str, Any]:
        """Send a `ocpp.v16.call` dataclass; returns the CALLRESULT payload (camelCase)."""
        assert self.cp is not None, "no charge point connected"
        self.cp._response_timeout = timeout
        result = await self.cp.call(request, suppress=False)
        return snake_to_camel_case(asdict(result))  # type: ignore[no-any-return]

    async def send_raw(self, text: str, unique_id: str, timeout: float = 10.0) -> list[Any]:
        """Send a raw frame; returns the charge point's answer frame with `unique_id`."""
        assert self._ws is not None, "no charge point connected"
        start = len(self.frames)
        self._record(Frame("out", text, time.monotonic()))
        await self._ws.send(text)
        deadline = time.monotonic() + timeout
        async with self._changed:
            while True:
                for frame in self.frames[start:]:
                    if frame.direction != "in":
                        continue  # what we sent may be deliberately broken JSON
                    data = frame.data
                    if isinstance(data, list) and data[0] in (3, 4) and data[1] == unique_id:
                        return list(data)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no answer to {unique_id}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)


def _contains(payload: Any, match: Any) -> bool:
    if isinstance(match, dict):
        return isinstance(payload, dict) and all(
            k in payload and _contains(payload[k], v) for k, v in match.items()
        )
    return bool(payload == match)


FAST_KEYS = {"MinimumStatusDuration": "0", "HeartbeatInterval": "300", "ConnectionTimeOut": "30"}


@dataclass
class StationProcess:
    """A `chargebox run` subprocess and its control API."""

    workdir: Path
    csms_url: str | None
    identity: str = "CP_1"
    keys: dict[str, str] = field(default_factory=dict)
    extra_toml: str = ""
    ocpp_lines: list[str] = field(default_factory=list)  # more [ocpp] settings, e.g. ca_file
    connectors: int = 2
    proc: subprocess.Popen[bytes] | None = None
    http_port: int = field(default_factory=free_port)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/api/v1"

    def write_config(self) -> Path:
        keys = {**FAST_KEYS, **self.keys}
        lines = [
            "[ocpp]",
            "call_timeout_s = 3",
            "reconnect_min_s = 0.2",
            "reconnect_max_s = 1.0",
            "boot_retry_s = 1",
            *self.ocpp_lines,
            "[hardware]",
            "tick_s = 0.05",
            f"connectors = {self.connectors}",
            "[hardware.sim_car]",
            "response_delay_s = 0",
            "[ocpp.keys]",
            *[f'{k} = "{v}"' for k, v in keys.items()],
            self.extra_toml,
        ]
        path = self.workdir / "station.toml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self) -> None:
        config = self.write_config()
        cmd = [
            sys.executable,
            "-m",
            "chargebox",
            "run",
            "--config",
            str(config),
            "--data-dir",
            str(self.workdir / "data"),
            "--id",
            self.identity,
            "--http-port",
            str(self.http_port),
        ]
        if self.csms_url:
            cmd += ["--csms-url", self.csms_url]
        env = {**os.environ, "CHARGEBOX_API_TOKEN": API_TOKEN}
        log = open(self.workdir / "station.log", "ab")  # noqa: SIM115 - kept for the process
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)

    def log(self) -> str:
        path = self.workdir / "station.log"
        return path.read_text(errors="replace") if path.exists() else ""

    async def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    raise AssertionError(
                        f"station exited with {self.proc.returncode}:\n{self.log()[-3000:]}"
                    )
                try:
                    r = await client.get(self.base + "/status", headers=self.headers, timeout=1)
                    if r.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError(f"station API not ready:\n{self.log()[-3000:]}")

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {API_TOKEN}"}

    async def api(self, method: str, path: str, json_body: Any = None, expect: int = 200) -> Any:
        async with httpx.AsyncClient() as client:
            r = await client.request(
                method, self.base + path, json=json_body, headers=self.headers, timeout=5
            )
        assert r.status_code == expect, f"{method} {path}: {r.status_code} {r.text}"
        return r.json()

    async def status(self, connector_id: int | None = None) -> Any:
        data = await self.api("GET", "/status")
        return data if connector_id is None else data["connectors"][connector_id - 1]

    async def plug(self, connector_id: int = 1, **car: Any) -> Any:
        return await self.api("POST", f"/sim/connectors/{connector_id}/plug", car or None)

    async def unplug(self, connector_id: int = 1) -> Any:
        return await self.api("POST", f"/sim/connectors/{connector_id}/unplug")

    async def ev_state(self, connector_id: int, state: str) -> Any:
        return await self.api("POST", f"/sim/connectors/{connector_id}/ev-state", {"state": state})

    async def present(self, id_tag: str, connector_id: int | None = None) -> Any:
        body: dict[str, Any] = {"id_tag": id_tag}
        if connector_id is not None:
            body["connector_id"] = connector_id
        return await self.api("POST", "/sim/tokens", body)

    async def fault(self, connector_id: int, code: str) -> Any:
        return await self.api("POST", f"/sim/connectors/{connector_id}/faults", {"code": code})

    async def clear_fault(self, connector_id: int, code: str) -> Any:
        return await self.api("DELETE", f"/sim/connectors/{connector_id}/faults/{code}")

    async def wait_status(self, connector_id: int, status: str, timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            current = await self.status(connector_id)
            if current["status"] == status:
                return current
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"connector {connector_id} is {current['status']}, not {status}"
                )
            await asyncio.sleep(0.05)


# ---------------------------------------------------------------- shared test helpers


def ts(text: str) -> float:
    """An OCPP timestamp as epoch seconds."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def energy(mv: dict[str, Any]) -> float:
    """The energy register of a MeterValues.req payload."""
    for value in mv["meterValue"][0]["sampledValue"]:
        if value.get("measurand", "Energy.Active.Import.Register") == (
            "Energy.Active.Import.Register"
        ):
            return float(value["value"])
    raise AssertionError(f"no energy register in {mv}")


async def queued(station: StationProcess) -> int:
    """Transaction messages waiting in the station's persistent queue."""
    return int((await station.api("GET", "/status"))["ocpp"]["queued_messages"])


async def go_offline(csms: TestCSMS, station: StationProcess, timeout: float = 10.0) -> None:
    """Drop the connection, refuse new ones, and wait until the station noticed."""
    csms.offline = True
    await csms.disconnect()
    deadline = time.monotonic() + timeout
    while (await station.api("GET", "/status"))["ocpp"]["connected"]:
        assert time.monotonic() < deadline, "the station did not notice the connection loss"
        await asyncio.sleep(0.05)
