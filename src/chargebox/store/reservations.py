"""Reservations (ReserveNow) that must survive a restart; the core decides, this remembers."""

from __future__ import annotations

import sqlite3

from chargebox.core.clock import iso, parse_iso
from chargebox.core.reservations import Reservation
from chargebox.store.db import Database, normalize_time, utc_now

__all__ = ["ReservationStore"]


class ReservationStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def save(self, r: Reservation, *, now: str | None = None) -> None:
        """Insert, or replace the reservation with the same reservationId."""
        self._db.execute(
            "INSERT INTO reservations (reservation_id, connector_id, id_tag, parent_id_tag, "
            "expiry_date, updated_at) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (reservation_id) DO UPDATE SET connector_id = excluded.connector_id, "
            "id_tag = excluded.id_tag, parent_id_tag = excluded.parent_id_tag, "
            "expiry_date = excluded.expiry_date, updated_at = excluded.updated_at",
            (
                r.reservation_id,
                r.connector_id,
                r.id_tag,
                r.parent_id_tag,
                normalize_time(iso(r.expiry)),
                now or utc_now(),
            ),
        )

    def delete(self, reservation_id: int) -> bool:
        cursor = self._db.execute(
            "DELETE FROM reservations WHERE reservation_id = ?", (reservation_id,)
        )
        return cursor.rowcount > 0

    def all(self) -> list[Reservation]:
        rows = self._db.query(
            "SELECT reservation_id, connector_id, id_tag, parent_id_tag, expiry_date "
            "FROM reservations ORDER BY reservation_id"
        )
        return [_reservation(row) for row in rows]

    def __len__(self) -> int:
        row = self._db.query_one("SELECT COUNT(*) AS n FROM reservations")
        return 0 if row is None else int(row["n"])


def _reservation(row: sqlite3.Row) -> Reservation:
    return Reservation(
        reservation_id=int(row["reservation_id"]),
        connector_id=int(row["connector_id"]),
        id_tag=row["id_tag"],
        expiry=parse_iso(row["expiry_date"]),
        parent_id_tag=row["parent_id_tag"],
    )
