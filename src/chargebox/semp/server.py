"""The SEMP device for the SMA Sunny Home Manager (seed 003 §5.2): HTTP interface + claims.

The whole station is one SEMP device (DeviceType EVCharger). The energy manager polls
`GET <base>/` (DeviceInfo, DeviceStatus, PlanningRequest) and posts `EM2Device` with a
DeviceControl. Its recommended power becomes `Claim(LimitSource.EMS, amps)` on every
charging connector: the watts are shared equally between the connectors with a session
(all connectors when none has one) and turned into amps with 230 V and the phases the car
draws on; below the minimum current the claim is 0 A (pause). `On=false` is 0 A (pause).

Connection loss works like the Modbus EMS limit (modbus/server.py, registers 131/132): the
energy manager must send a DeviceControl again within `timeout_s` ("SMA Zeit bis
Verbindungsausfall", 600 s); when it does not, `fallback_current_a` ("SMA Strom bei
Verbindungsausfall", 6 A; still an `ems` claim, 0 pauses) replaces it until the next
DeviceControl. Before the first DeviceControl there is no claim.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chargebox.core.events import EventBus, TransactionStarted, TransactionStopped
from chargebox.core.limits import Claim, LimitSource
from chargebox.core.station import Station
from chargebox.semp import protocol as semp

log = logging.getLogger(__name__)

VOLTAGE_V = 230.0
WATCH_S = 0.1  # how often the connection-loss timeout is checked
PHASE_THRESHOLD_A = 0.5  # a phase carrying more than this is "in use"
XML = "application/xml; charset=utf-8"


@dataclass(frozen=True, slots=True)
class SempSettings:
    host: str = "127.0.0.1"
    port: int = 8888
    base_path: str = "/SimpleEnergyManagementProtocol"
    device_id: str = ""  # empty: derived from the station identity
    mode: str = "surplus"  # surplus: MinEnergy 0 (optional energy); fast: MinEnergy = MaxEnergy
    fallback_current_a: int = 6
    timeout_s: float = 600.0
    max_energy_wh: int = 30000  # when the car's remaining need is not known
    planning_window_s: int = 86400  # LatestEnd of the PlanningRequest
    announce: bool = False  # UPnP/SSDP on the local network
    announce_interface: str = ""  # the address to announce from (required to announce)
    announce_interval_s: float = 900.0


@dataclass
class SempDevice:
    """The station as a SEMP device: documents for the energy manager, its control as claims."""

    station: Station
    settings: SempSettings = field(default_factory=SempSettings)
    identity: str = "chargebox"
    bus: EventBus | None = None
    energy: Any = None  # the EnergyManager, told when the claims change
    vendor: Callable[[], str] = lambda: "chargebox"
    serial: Callable[[], str] = lambda: ""
    remaining_wh: Callable[[int], float | None] = lambda cid: None  # the car's need, if known

    def __post_init__(self) -> None:
        self.device_id = self.settings.device_id or semp.device_id_for(self.identity)
        self.on: bool | None = None  # None: no DeviceControl yet
        self.recommended_w: int | None = None
        self.last_control: float | None = None
        self.fallback = False
        self.controls = 0
        self.claims: dict[int, float] = {}  # connector id -> amps claimed now
        self.port: int | None = None
        self._server: Any = None
        self._task: asyncio.Task[Any] | None = None
        if self.bus is not None:
            self.bus.subscribe(TransactionStarted, lambda e: self._reshare())
            self.bus.subscribe(TransactionStopped, lambda e: self._reshare())

    # ----------------------------------------------------------- the figures

    def _phases_in_use(self, cid: int) -> int:
        c = self.station.connectors[cid]
        m = c.measurement
        if m is not None and c.transaction is not None:
            used = sum(1 for a in m.current_a[: c.spec.phases] if a > PHASE_THRESHOLD_A)
            if used:
                return used
        return max(1, min(3, c.spec.phases))

    def _max_amps(self, cid: int) -> float:
        return self.station.limit_without(cid, [LimitSource.EMS])

    def info(self) -> semp.DeviceInfo:
        s = self.station
        max_w = sum(
            VOLTAGE_V * max(1, min(3, c.spec.phases)) * self._max_amps(cid)
            for cid, c in s.connectors.items()
        )
        min_phases = min((max(1, min(3, c.spec.phases)) for c in s.connectors.values()), default=1)
        min_w = VOLTAGE_V * s.settings.min_current_a * min_phases
        return semp.DeviceInfo(
            device_id=self.device_id,
            name=f"chargebox {self.identity}",
            vendor=self.vendor() or "chargebox",
            serial=self.serial() or self.identity,
            max_power_w=round(max_w),
            min_power_w=round(min(min_w, max_w)),
            optional_energy=self.settings.mode == "surplus",
        )

    def status(self) -> semp.DeviceStatus:
        connectors = self.station.connectors.values()
        power = sum(c.measurement.power_w for c in connectors if c.measurement is not None)
        on = any(c.offered_a > 0 for c in connectors)
        return semp.DeviceStatus(self.device_id, on, max(0, round(power)))

    def planning(self) -> list[semp.Timeframe]:
        """One timeframe while a car is plugged in with a session and still wants energy."""
        need = 0.0
        known = True
        sessions = [cid for cid, c in self.station.connectors.items() if c.transaction is not None]
        if not sessions:
            return []
        for cid in sessions:
            wh = self.remaining_wh(cid)
            if wh is None:
                known = False
            else:
                need += max(0.0, wh)
        max_wh = round(need) if known else self.settings.max_energy_wh
        if max_wh <= 0:
            return []
        min_wh = 0 if self.settings.mode == "surplus" else max_wh
        return [semp.Timeframe(self.device_id, 0, self.settings.planning_window_s, min_wh, max_wh)]

    def document(self) -> bytes:
        return semp.render(semp.Device2EM([self.info()], [self.status()], self.planning()))

    # ------------------------------------------------------------ the control

    def control(self, ctl: semp.DeviceControl, now: float | None = None) -> None:
        """Apply one DeviceControl addressed to this device."""
        now = self.station.clock.time() if now is None else now
        if self.fallback:
            log.info("SEMP: energy manager controls again")
        self.on, self.recommended_w = ctl.on, ctl.recommended_power_w
        self.last_control, self.fallback = now, False
        self.controls += 1
        self._reshare()

    def _targets(self) -> list[int]:
        s = self.station.connectors
        charging = [cid for cid, c in s.items() if c.transaction is not None]
        return charging or list(s)

    def _amps(self) -> dict[int, float] | None:
        """The claim per connector now; None: no claim."""
        if self.on is None:
            return None
        cids = self._targets()
        if self.fallback:
            return {cid: float(self.settings.fallback_current_a) for cid in cids}
        if not self.on:
            return dict.fromkeys(cids, 0.0)
        if self.recommended_w is None:
            return {cid: self._max_amps(cid) for cid in cids}
        share = self.recommended_w / len(cids)
        min_a = self.station.settings.min_current_a
        out: dict[int, float] = {}
        for cid in cids:
            amps = math.floor(share / (VOLTAGE_V * self._phases_in_use(cid)) * 10) / 10
            amps = min(amps, self.station.connectors[cid].spec.max_current_a)
            out[cid] = amps if amps >= min_a else 0.0
        return out

    def _reshare(self) -> None:
        amps = self._amps()
        if amps is None:
            return
        batch: dict[int, list[Claim]] = {cid: [] for cid in self.station.connectors}
        for cid, a in amps.items():
            batch[cid] = [Claim.uniform(LimitSource.EMS, a)]
        self.claims = amps
        self.station.set_claims(batch, clear=[LimitSource.EMS])
        notify = getattr(self.energy, "notify", None)
        if notify is not None:
            notify()

    # ---------------------------------------------------------- connection loss

    def check_timeout(self, now: float | None = None) -> None:
        now = self.station.clock.time() if now is None else now
        if self.last_control is None or self.fallback:
            return
        if now - self.last_control > self.settings.timeout_s:
            self.fallback = True
            log.warning(
                "SEMP: no DeviceControl for %s s: connection-loss current %s A",
                self.settings.timeout_s,
                self.settings.fallback_current_a,
            )
            self._reshare()

    async def run(self) -> None:
        while True:
            try:
                self.check_timeout()
            except Exception:  # the watchdog must keep watching
                log.exception("SEMP connection-loss check failed")
            await asyncio.sleep(WATCH_S)

    # --------------------------------------------------------------- HTTP

    def description(self, server: str) -> bytes:
        return semp.description(
            udn=f"uuid:{self.udn()}",
            name=f"chargebox {self.identity}",
            vendor=self.vendor() or "chargebox",
            serial=self.serial() or self.identity,
            server=server,
            base=self.settings.base_path,
        )

    def udn(self) -> str:
        """A stable UUID for UPnP from the DeviceId."""
        h = self.device_id.replace("F-", "").replace("-", "").lower().ljust(32, "0")[:32]
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"

    def app(self) -> Starlette:
        base = self.settings.base_path.rstrip("/")

        def xml(body: bytes, status: int = 200) -> Response:
            return Response(body, status_code=status, media_type=XML)

        async def get_all(request: Request) -> Response:
            return xml(self.document())

        async def get_part(request: Request) -> Response:
            part = request.path_params["part"]
            doc = semp.Device2EM()
            if part == "DeviceInfo":
                doc.info.append(self.info())
            elif part == "DeviceStatus":
                doc.status.append(self.status())
            elif part == "PlanningRequest":
                doc.planning.extend(self.planning())
            else:
                return Response(status_code=404)
            return xml(semp.render(doc))

        async def post(request: Request) -> Response:
            body = await request.body()
            try:
                controls = semp.parse_em2device(body)
            except semp.SempError as exc:
                log.info("SEMP: refused a document: %s", exc)
                return Response(str(exc), status_code=400, media_type="text/plain")
            mine = [c for c in controls if c.device_id == self.device_id]
            for ctl in mine:
                self.control(ctl)
            if controls and not mine:
                return Response("unknown DeviceId", status_code=404, media_type="text/plain")
            return Response(status_code=200)

        async def get_description(request: Request) -> Response:
            host = request.headers.get("host") or f"{self.settings.host}:{self.port}"
            return xml(self.description(f"http://{host}"))

        routes = [
            Route(f"{base}/", get_all, methods=["GET"]),
            Route(f"{base}", get_all, methods=["GET"]),
            Route(f"{base}/", post, methods=["POST"]),
            Route(f"{base}", post, methods=["POST"]),
            Route(f"{base}/{{part}}", get_part, methods=["GET"]),
            Route("/description.xml", get_description, methods=["GET"]),
        ]
        return Starlette(routes=routes)

    async def start(self) -> int:
        """Serve the SEMP interface on its own port; returns the port."""
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.settings.host, self.settings.port))
        except OSError:
            sock.close()
            raise
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(self.app(), log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._task = asyncio.ensure_future(self._server.serve(sockets=[sock]))
        for _ in range(200):
            if self._server.started:
                break
            await asyncio.sleep(0.01)
        log.info(
            "SEMP interface on http://%s:%s%s (DeviceId %s)",
            self.settings.host,
            self.port,
            self.settings.base_path,
            self.device_id,
        )
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._task, 5)
        self._server, self._task = None, None
