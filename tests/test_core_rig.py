"""Shared harness for the station tests: a station on simulated hardware and a manual clock.

Not a conftest (the lead owns that): the station test modules import it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chargebox.core.auth import AuthMode
from chargebox.core.clock import ManualClock
from chargebox.core.config_keys import Configuration
from chargebox.core.connector import ConnectorHardware, ConnectorSpec
from chargebox.core.events import Event, EventBus, StatusChanged, TransactionStopped
from chargebox.core.station import Station, StationSettings
from chargebox.core.types import AuthorizationStatus, ChargePointStatus, IdTagInfo
from chargebox.hardware.sim import SimCar, SimStation

S = ChargePointStatus
ACCEPTED = IdTagInfo(AuthorizationStatus.ACCEPTED)


@dataclass
class Record:
    local_id: int
    connector_id: int
    id_tag: str
    parent_id_tag: str | None
    reservation_id: int | None
    meter_start_wh: int
    start_time: str
    remote_id: int | None = None
    last_meter_wh: int | None = None
    last_meter_time: str | None = None
    stop: tuple[int, str, str, str | None] | None = None


@dataclass
class Journal:
    records: dict[int, Record] = field(default_factory=dict)

    def create(
        self,
        connector_id: int,
        id_tag: str,
        meter_start_wh: int,
        start_time: str,
        parent_id_tag: str | None = None,
        reservation_id: int | None = None,
    ) -> int:
        local_id = len(self.records) + 1
        self.records[local_id] = Record(
            local_id,
            connector_id,
            id_tag,
            parent_id_tag,
            reservation_id,
            meter_start_wh,
            start_time,
        )
        return local_id

    def update_meter(self, local_id: int, wh: int, time: str) -> None:
        self.records[local_id].last_meter_wh = wh
        self.records[local_id].last_meter_time = time

    def stop(
        self,
        local_id: int,
        meter_stop_wh: int,
        stop_time: str,
        reason: str,
        stop_id_tag: str | None = None,
    ) -> None:
        self.records[local_id].stop = (meter_stop_wh, stop_time, reason, stop_id_tag)

    def open_transactions(self) -> list[Record]:
        return [r for r in self.records.values() if r.stop is None]


@dataclass
class Sources:
    local: dict[str, IdTagInfo] = field(default_factory=dict)
    cached: dict[str, IdTagInfo] = field(default_factory=dict)
    white: dict[str, IdTagInfo] = field(default_factory=dict)

    def local_list(self, id_tag: str) -> IdTagInfo | None:
        return self.local.get(id_tag)

    def cache(self, id_tag: str) -> IdTagInfo | None:
        return self.cached.get(id_tag)

    def whitelist(self, id_tag: str, connector_id: int | None) -> IdTagInfo | None:
        return self.white.get(id_tag)

    def remember(self, id_tag: str, info: IdTagInfo) -> None:
        self.cached[id_tag] = info


class Rig:
    """A station on simulated hardware, a manual clock and a recorded event stream."""

    def __init__(
        self,
        connectors: int = 2,
        *,
        journal: Journal | None = None,
        config: dict[str, str] | None = None,
        **settings: Any,
    ) -> None:
        self.clock = ManualClock()
        self.sim = SimStation.build(connectors)
        self.bus = EventBus()
        self.events: list[Event] = []
        self.bus.subscribe_all(self.events.append)
        self.config = Configuration(overrides={"ClockAlignedDataInterval": "0", **(config or {})})
        self.journal = journal or Journal()
        self.sources = Sources(white={"CARD": ACCEPTED, "OTHER": ACCEPTED})
        hw = [
            (ConnectorSpec(n), ConnectorHardware(controller=s, lock=s.lock_hw, meter=s))
            for n, s in self.sim.connectors.items()
        ]
        self.station = Station(
            clock=self.clock,
            bus=self.bus,
            config=self.config,
            connectors=hw,
            journal=self.journal,
            auth_sources=self.sources,
            settings=StationSettings(**settings),
        )
        self.station.boot()

    def run(self, seconds: float = 1.0, dt: float = 1.0) -> None:
        steps = max(1, round(seconds / dt))
        for _ in range(steps):
            self.clock.advance(dt)
            self.sim.advance(self.clock.time())
            self.station.tick()

    def plug(self, cid: int = 1, **car: Any) -> SimCar:
        ev = SimCar(**car)
        self.sim.connectors[cid].plug(ev)
        self.run(2)
        return ev

    def unplug(self, cid: int = 1) -> None:
        self.sim.connectors[cid].unplug()
        self.run(1)

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def statuses(self, cid: int = 1) -> list[S]:
        return [e.status for e in self.of(StatusChanged) if e.connector_id == cid]

    def status(self, cid: int = 1) -> S:
        return self.statuses(cid)[-1]

    def errors(self, cid: int = 1) -> list[tuple[S, str]]:
        return [(e.status, e.error_code) for e in self.of(StatusChanged) if e.connector_id == cid]

    def tx(self, cid: int = 1) -> Any:
        return self.station.connectors[cid].transaction

    def stopped(self) -> TransactionStopped:
        [stop] = self.of(TransactionStopped)
        return stop


def rfid(**kw: Any) -> Rig:
    return Rig(auth_mode=AuthMode.RFID, **kw)


def online(**kw: Any) -> Rig:
    rig = Rig(auth_mode=AuthMode.AUTO, backend_configured=True, **kw)
    rig.station.set_online(True)
    return rig
