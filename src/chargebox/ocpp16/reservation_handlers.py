"""Reservation profile (OCPP 1.6 §3.11, §5.13, §5.2): ReserveNow and CancelReservation.

The rules live in `core/reservations.py`; this group only translates. The station ticks
once the answer is on the wire, so StatusNotification(Reserved/Available) follows the
ReserveNow.conf / CancelReservation.conf, as OCTT expects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chargebox.core.clock import parse_iso
from chargebox.core.station import Station
from chargebox.ocpp16.handlers import ActionHandler
from chargebox.ocpp16.rpc import HandlerResult

if TYPE_CHECKING:
    from chargebox.ocpp16.client import OcppClient


class ReservationHandlers:
    """A `HandlerGroup`: the central system reserves connectors for an idTag."""

    def __init__(self, station: Station) -> None:
        self.station = station
        self.client: OcppClient | None = None

    def table(self) -> dict[str, ActionHandler]:
        return {
            "CancelReservation": self.cancel_reservation,
            "ReserveNow": self.reserve_now,
        }

    def reserve_now(self, p: dict[str, Any]) -> HandlerResult:
        status = self.station.reservations.reserve(
            p["connectorId"],
            parse_iso(p["expiryDate"]),
            p["idTag"],
            p["reservationId"],
            p.get("parentIdTag"),
        )
        return HandlerResult({"status": status.value}, after=self.station.tick)

    def cancel_reservation(self, p: dict[str, Any]) -> HandlerResult:
        ok = self.station.reservations.cancel(p["reservationId"])
        return HandlerResult({"status": "Accepted" if ok else "Rejected"}, after=self.station.tick)
