"""Reservations (OCPP 1.6 §3.11, §5.13, §5.2): the model and the rules, without I/O.

A reservation names a connector, or connector 0 (any connector of the station), an
idTag, an optional parentIdTag and an expiry. While it lasts, a specific connector
shows Reserved and starts only for a matching idTag; a connector-0 reservation keeps
one connector free for its idTag, so the last free connectors show Reserved and refuse
everybody else. A reservation ends when its transaction starts, when it expires, when
it is cancelled, or when its connector (the station, for connector 0) goes Faulted or
Unavailable. Every change is published as `ReservationChanged` so the store persists it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from chargebox.core.events import Event
from chargebox.core.types import ChargePointStatus

if TYPE_CHECKING:
    from chargebox.core.connector import Connector
    from chargebox.core.station import Station

log = logging.getLogger(__name__)

# Vendor key: a station may refuse every reservation (ReserveNow answered Rejected).
ENABLED_KEY = "ReservationEnabled"
ZERO_KEY = "ReserveConnectorZeroSupported"

_ENDS_RESERVATION = (ChargePointStatus.FAULTED, ChargePointStatus.UNAVAILABLE)


class ReservationStatus(StrEnum):
    """ReserveNow.conf status."""

    ACCEPTED = "Accepted"
    FAULTED = "Faulted"
    OCCUPIED = "Occupied"
    REJECTED = "Rejected"
    UNAVAILABLE = "Unavailable"


@dataclass(frozen=True, slots=True)
class Reservation:
    reservation_id: int
    connector_id: int  # 0: any connector of the station
    id_tag: str
    expiry: float
    parent_id_tag: str | None = None

    def matches(self, id_tag: str, parent_id_tag: str | None) -> bool:
        """§5.13: the incoming idTag or its parent matches the reservation's idTag or parent."""
        mine = {t.casefold() for t in (self.id_tag, self.parent_id_tag) if t}
        theirs = {t.casefold() for t in (id_tag, parent_id_tag) if t}
        return bool(mine & theirs)


@dataclass(frozen=True, slots=True)
class ReservationChanged(Event):
    """Persist it: `active` False means the reservation ended (`reason` says how)."""

    reservation: Reservation
    active: bool
    reason: str = ""


class Reservations:
    """The station's reservations; the station calls in on every start and every tick."""

    def __init__(self, station: Station, restored: Iterable[Reservation] = ()) -> None:
        self.station = station
        self._items: dict[int, Reservation] = {r.reservation_id: r for r in restored}

    # ------------------------------------------------------------ queries

    def all(self) -> list[Reservation]:
        return sorted(self._items.values(), key=lambda r: r.reservation_id)

    def get(self, reservation_id: int) -> Reservation | None:
        return self._items.get(reservation_id)

    def _specific(self, connector_id: int, exclude: int | None = None) -> Reservation | None:
        for r in self._items.values():
            if r.connector_id == connector_id and r.reservation_id != exclude:
                return r
        return None

    def _zero(self, exclude: int | None = None) -> list[Reservation]:
        """Connector-0 reservations not yet being used by an authorization on some connector."""
        claimed = {
            c.authorization.reservation_id
            for c in self.station.connectors.values()
            if c.authorization is not None
        }
        return [
            r
            for r in self.all()
            if r.connector_id == 0
            and r.reservation_id != exclude
            and r.reservation_id not in claimed
        ]

    def _free(self, c: Connector, exclude: int | None = None) -> bool:
        """Could anybody start here now (ignoring connector-0 reservations)?"""
        return self.station._can_start(c) and not c.busy and self._specific(c.id, exclude) is None

    def _free_connectors(self, exclude: int | None = None) -> list[Connector]:
        return [c for c in self.station.connectors.values() if self._free(c, exclude)]

    # ------------------------------------------------------------ commands

    def reserve(
        self,
        connector_id: int,
        expiry: float,
        id_tag: str,
        reservation_id: int,
        parent_id_tag: str | None = None,
    ) -> ReservationStatus:
        """ReserveNow: the same reservationId replaces its reservation (if the new one fits)."""
        cfg = self.station.config
        if not cfg.get_bool(ENABLED_KEY) or expiry <= self.station.clock.time():
            return ReservationStatus.REJECTED
        if connector_id == 0:
            status = self._check_station(reservation_id)
        else:
            status = self._check_connector(connector_id, reservation_id)
        if status is ReservationStatus.ACCEPTED:
            r = Reservation(reservation_id, connector_id, id_tag, expiry, parent_id_tag)
            self._items[reservation_id] = r
            self._publish(r, True, "reserved")
            self.refresh()
        return status

    def _check_station(self, rid: int) -> ReservationStatus:
        if not self.station.config.get_bool(ZERO_KEY):
            return ReservationStatus.REJECTED
        status, _ = self.station.status_of(0)
        if status is ChargePointStatus.FAULTED:
            return ReservationStatus.FAULTED
        if status is ChargePointStatus.UNAVAILABLE:
            return ReservationStatus.UNAVAILABLE
        if len(self._free_connectors(rid)) > len(self._zero(rid)):
            return ReservationStatus.ACCEPTED
        # No connector left: say why, the most transient reason first.
        found = [self.station.status_of(cid)[0] for cid in self.station.connectors]
        if any(s not in _ENDS_RESERVATION for s in found):
            return ReservationStatus.OCCUPIED
        if ChargePointStatus.FAULTED in found:
            return ReservationStatus.FAULTED
        return ReservationStatus.UNAVAILABLE

    def _check_connector(self, connector_id: int, rid: int) -> ReservationStatus:
        c = self.station.connectors.get(connector_id)
        if c is None:
            return ReservationStatus.REJECTED
        status, _ = self.station.status_of(connector_id)
        if status is ChargePointStatus.FAULTED:
            return ReservationStatus.FAULTED
        if status is ChargePointStatus.UNAVAILABLE:
            return ReservationStatus.UNAVAILABLE
        if not self._free(c, rid):
            return ReservationStatus.OCCUPIED
        others = [o for o in self._free_connectors(rid) if o is not c]
        if len(others) < len(self._zero(rid)):
            return ReservationStatus.OCCUPIED  # the last free connector is held for connector 0
        return ReservationStatus.ACCEPTED

    def cancel(self, reservation_id: int) -> bool:
        """CancelReservation: False (Rejected) for an unknown reservationId."""
        r = self._items.pop(reservation_id, None)
        if r is None:
            return False
        self._publish(r, False, "cancelled")
        self.refresh()
        return True

    # ------------------------------------------------------------ sessions

    def admit(
        self, c: Connector, id_tag: str, parent_id_tag: str | None
    ) -> tuple[bool, int | None]:
        """May this idTag start on `c`? And under which reservation (for StartTransaction)."""
        own = self._specific(c.id)
        if own is not None:
            return (
                (True, own.reservation_id) if own.matches(id_tag, parent_id_tag) else (False, None)
            )
        zero = self._zero()
        for r in zero:
            if r.matches(id_tag, parent_id_tag):
                return True, r.reservation_id
        if zero:
            others = [o for o in self._free_connectors() if o is not c]
            if len(others) < len(zero):
                return False, None
        return True, None

    def may_try(self, c: Connector, id_tag: str) -> bool:
        """Before the parentIdTag is known: is `c` worth authorizing `id_tag` for?"""
        held = c.reservation
        if held is None:
            return True
        return held.matches(id_tag, None) or held.parent_id_tag is not None

    def order(self, connectors: list[Connector], id_tag: str | None) -> list[Connector]:
        """Connectors a card may use, the one reserved for it first."""
        if id_tag is None:
            return [c for c in connectors if c.reservation is None]
        usable = [c for c in connectors if self.may_try(c, id_tag)]
        return sorted(usable, key=lambda c: c.reservation is None)

    def consume(self, reservation_id: int | None) -> int | None:
        """A transaction starts under this reservation: it ends (None if it already ended)."""
        if reservation_id is None:
            return None
        r = self._items.pop(reservation_id, None)
        if r is None:
            return None
        self._publish(r, False, "used")
        self.refresh()
        return reservation_id

    # ------------------------------------------------------------ time

    def tick(self, now: float) -> None:
        """Expired reservations end; so do those whose connector went Faulted or Unavailable."""
        for r in self.all():
            if now >= r.expiry:
                self._end(r, "expired")
            elif r.connector_id != 0 and r.connector_id not in self.station.connectors:
                self._end(r, "unknown connector")
            elif self.station.status_of(r.connector_id)[0] in _ENDS_RESERVATION:
                self._end(r, "connector " + self.station.status_of(r.connector_id)[0].value)
        self.refresh()

    def _end(self, r: Reservation, reason: str) -> None:
        log.info(
            "reservation %s on connector %s ended: %s", r.reservation_id, r.connector_id, reason
        )
        del self._items[r.reservation_id]
        self._publish(r, False, reason)

    def refresh(self) -> None:
        """Which connectors show Reserved: their own reservation, or held for connector 0."""
        connectors = list(self.station.connectors.values())
        for c in connectors:
            c.reservation = self._specific(c.id)
        zero = self._zero()
        if not zero:
            return
        free = [c for c in connectors if c.reservation is None and self._free(c)]
        if len(free) <= len(zero):
            for c, r in zip(free, zero, strict=False):
                c.reservation = r

    def _publish(self, r: Reservation, active: bool, reason: str) -> None:
        self.station.bus.publish(ReservationChanged(self.station.clock.time(), r, active, reason))
