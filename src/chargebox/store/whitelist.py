"""The station's own RFID whitelist (manuals' ``UID,GID,Expiry,Authorization`` format).

Deletion is soft so an operator can restore a card; ``purge`` removes it for good.
UIDs are kept as typed but compared case-insensitively (hex written either way).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from chargebox.store.db import Database, utc_now

__all__ = ["WhitelistEntry", "WhitelistStore"]

_COLUMNS = "uid, gid, expiry, authorization, connector_id, deleted"


@dataclass(frozen=True)
class WhitelistEntry:
    """One card; ``connector_id`` restricts it to one connector when set."""

    uid: str
    authorization: str = "Accepted"
    gid: str | None = None
    expiry: str | None = None
    connector_id: int | None = None
    deleted: bool = False

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> WhitelistEntry:
        return cls(
            uid=row["uid"],
            authorization=row["authorization"],
            gid=row["gid"],
            expiry=row["expiry"],
            connector_id=row["connector_id"],
            deleted=bool(row["deleted"]),
        )


class WhitelistStore:
    """CRUD for the whitelist; bulk writes are all-or-nothing."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def upsert(self, entry: WhitelistEntry, *, now: str | None = None) -> None:
        """Add or overwrite a card (upserting a soft-deleted UID brings it back)."""
        with self._db.transaction() as conn:
            self._write(conn, [entry], now or utc_now())

    def get(self, uid: str, *, include_deleted: bool = False) -> WhitelistEntry | None:
        """The card, or None; soft-deleted cards only with ``include_deleted``."""
        row = self._db.query_one(f"SELECT {_COLUMNS} FROM whitelist WHERE uid = ?", (uid,))
        if row is None or (row["deleted"] and not include_deleted):
            return None
        return WhitelistEntry.from_row(row)

    def delete(self, uid: str, *, now: str | None = None) -> bool:
        """Soft delete; True if an active card was deleted."""
        return self._set_deleted(uid, True, now)

    def restore(self, uid: str, *, now: str | None = None) -> bool:
        """Undo a soft delete; True if a deleted card was restored."""
        return self._set_deleted(uid, False, now)

    def purge(self, uid: str) -> bool:
        """Remove a card for good (deleted or not); True if it existed."""
        return self._db.execute("DELETE FROM whitelist WHERE uid = ?", (uid,)).rowcount > 0

    def all(
        self, include_deleted: bool = False, limit: int | None = None, offset: int = 0
    ) -> list[WhitelistEntry]:
        """Cards ordered by UID (case-insensitive), optionally one page of them."""
        where = "" if include_deleted else " WHERE deleted = 0"
        rows = self._db.query(
            f"SELECT {_COLUMNS} FROM whitelist{where} ORDER BY uid LIMIT ? OFFSET ?",
            (-1 if limit is None else limit, offset),
        )
        return [WhitelistEntry.from_row(row) for row in rows]

    def replace_all(self, entries: Iterable[WhitelistEntry], *, now: str | None = None) -> None:
        """Make the whitelist exactly ``entries`` (import); one invalid entry changes nothing."""
        items = list(entries)
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM whitelist")
            self._write(conn, items, now or utc_now())

    def update_many(self, entries: Iterable[WhitelistEntry], *, now: str | None = None) -> None:
        """Upsert several cards; one invalid entry changes nothing."""
        items = list(entries)
        with self._db.transaction() as conn:
            self._write(conn, items, now or utc_now())

    def __len__(self) -> int:
        """Number of active (not deleted) cards."""
        row = self._db.query_one("SELECT COUNT(*) AS n FROM whitelist WHERE deleted = 0")
        return 0 if row is None else int(row["n"])

    def _set_deleted(self, uid: str, deleted: bool, now: str | None) -> bool:
        cursor = self._db.execute(
            "UPDATE whitelist SET deleted = ?, updated_at = ? WHERE uid = ? AND deleted = ?",
            (int(deleted), now or utc_now(), uid, int(not deleted)),
        )
        return cursor.rowcount > 0

    @staticmethod
    def _write(conn: sqlite3.Connection, entries: list[WhitelistEntry], stamp: str) -> None:
        conn.executemany(
            "INSERT INTO whitelist (uid, gid, expiry, authorization, connector_id, deleted, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (uid) DO UPDATE SET "
            "uid = excluded.uid, gid = excluded.gid, expiry = excluded.expiry, "
            "authorization = excluded.authorization, connector_id = excluded.connector_id, "
            "deleted = excluded.deleted, updated_at = excluded.updated_at",
            [
                (e.uid, e.gid, e.expiry, e.authorization, e.connector_id, int(e.deleted), stamp)
                for e in entries
            ],
        )
