"""Charging transactions, open and finished: the station's charging history.

Timestamps are stored in one canonical UTC form (see ``normalize_time``) so that
TEXT comparison in the history filters equals time order.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from chargebox.store.db import Database, StoreError, normalize_time

__all__ = ["TransactionRecord", "TransactionStore"]

_COLUMNS = (
    "local_id, connector_id, id_tag, parent_id_tag, reservation_id, meter_start_wh, "
    "start_time, remote_id, last_meter_wh, last_meter_time, meter_stop_wh, stop_time, "
    "stop_reason, stop_id_tag, id_tag_status, energy_wh, duration_s"
)


@dataclass(frozen=True)
class TransactionRecord:
    """One row of the ``transactions`` table."""

    local_id: int
    connector_id: int
    id_tag: str
    parent_id_tag: str | None
    reservation_id: int | None
    meter_start_wh: int
    start_time: str
    remote_id: int | None
    last_meter_wh: int
    last_meter_time: str
    meter_stop_wh: int | None
    stop_time: str | None
    stop_reason: str | None
    stop_id_tag: str | None
    id_tag_status: str | None
    energy_wh: int
    duration_s: int | None

    @property
    def is_open(self) -> bool:
        """True until StopTransaction was recorded."""
        return self.stop_time is None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> TransactionRecord:
        return cls(**{key: row[key] for key in row.keys()})  # noqa: SIM118


class TransactionStore:
    """Every transaction; written at start, on each meter sample and at stop."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self,
        connector_id: int,
        id_tag: str,
        meter_start_wh: int,
        start_time: str,
        parent_id_tag: str | None = None,
        reservation_id: int | None = None,
    ) -> int:
        """Record a started transaction and return its local id (before the CSMS knows it)."""
        start = normalize_time(start_time)
        cursor = self._db.execute(
            "INSERT INTO transactions (connector_id, id_tag, parent_id_tag, reservation_id, "
            "meter_start_wh, start_time, last_meter_wh, last_meter_time) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                connector_id,
                id_tag,
                parent_id_tag,
                reservation_id,
                meter_start_wh,
                start,
                meter_start_wh,
                start,
            ),
        )
        if cursor.lastrowid is None:
            raise StoreError("transaction insert returned no id")
        return cursor.lastrowid

    def get(self, local_id: int) -> TransactionRecord | None:
        row = self._db.query_one(
            f"SELECT {_COLUMNS} FROM transactions WHERE local_id = ?", (local_id,)
        )
        return None if row is None else TransactionRecord.from_row(row)

    def set_remote_id(self, local_id: int, remote_id: int) -> None:
        """Remember the CSMS's transactionId from StartTransaction.conf."""
        self._update(local_id, "remote_id = ?", (remote_id,))

    def set_id_tag_status(self, local_id: int, status: str) -> None:
        """Remember idTagInfo.status from StartTransaction.conf (e.g. to stop if Invalid)."""
        self._update(local_id, "id_tag_status = ?", (status,))

    def update_meter(self, local_id: int, wh: int, time: str) -> None:
        """Latest register reading: cheap, called every few seconds.

        After a power cut this is the best known meter value for the stop.
        """
        self._update(local_id, "last_meter_wh = ?, last_meter_time = ?", (wh, normalize_time(time)))

    def stop(
        self,
        local_id: int,
        meter_stop_wh: int,
        stop_time: str,
        reason: str | None,
        stop_id_tag: str | None = None,
    ) -> None:
        """Finish a transaction; stopping it twice is an error (history is final)."""
        stop = normalize_time(stop_time)
        cursor = self._db.execute(
            "UPDATE transactions SET meter_stop_wh = ?, stop_time = ?, stop_reason = ?, "
            "stop_id_tag = ?, last_meter_wh = ?, last_meter_time = ? "
            "WHERE local_id = ? AND stop_time IS NULL",
            (meter_stop_wh, stop, reason, stop_id_tag, meter_stop_wh, stop, local_id),
        )
        if cursor.rowcount == 0:
            if self.get(local_id) is None:
                raise StoreError(f"no transaction with local id {local_id}")
            raise StoreError(f"transaction {local_id} is already stopped")

    def open_transactions(self) -> list[TransactionRecord]:
        """Transactions not stopped yet (to resume or close after a reboot), oldest first."""
        rows = self._db.query(
            f"SELECT {_COLUMNS} FROM transactions WHERE stop_time IS NULL ORDER BY local_id"
        )
        return [TransactionRecord.from_row(row) for row in rows]

    def history(
        self,
        limit: int = 100,
        offset: int = 0,
        connector_id: int | None = None,
        id_tag: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> list[TransactionRecord]:
        """Transactions newest first; ``since`` inclusive, ``until`` exclusive (start time)."""
        where, params = self._filters(connector_id, id_tag, since, until)
        rows = self._db.query(
            f"SELECT {_COLUMNS} FROM transactions{where} ORDER BY local_id DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [TransactionRecord.from_row(row) for row in rows]

    def count(
        self,
        connector_id: int | None = None,
        id_tag: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> int:
        """Number of transactions matching the ``history`` filters (for paging)."""
        where, params = self._filters(connector_id, id_tag, since, until)
        row = self._db.query_one(f"SELECT COUNT(*) AS n FROM transactions{where}", params)
        return 0 if row is None else int(row["n"])

    def find_by_remote_id(self, remote_id: int) -> TransactionRecord | None:
        """Newest transaction the CSMS knows as ``remote_id`` (ids may repeat across CSMSs)."""
        row = self._db.query_one(
            f"SELECT {_COLUMNS} FROM transactions WHERE remote_id = ? "
            "ORDER BY local_id DESC LIMIT 1",
            (remote_id,),
        )
        return None if row is None else TransactionRecord.from_row(row)

    def _update(self, local_id: int, assignments: str, params: tuple[Any, ...]) -> None:
        cursor = self._db.execute(
            f"UPDATE transactions SET {assignments} WHERE local_id = ?", (*params, local_id)
        )
        if cursor.rowcount == 0:
            raise StoreError(f"no transaction with local id {local_id}")

    @staticmethod
    def _filters(
        connector_id: int | None, id_tag: str | None, since: str | None, until: str | None
    ) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if connector_id is not None:
            clauses.append("connector_id = ?")
            params.append(connector_id)
        if id_tag is not None:
            clauses.append("id_tag = ?")  # column collation NOCASE: idTags are CiString
            params.append(id_tag)
        if since is not None:
            clauses.append("start_time >= ?")
            params.append(normalize_time(since))
        if until is not None:
            clauses.append("start_time < ?")
            params.append(normalize_time(until))
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params
