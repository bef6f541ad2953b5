"""OCPP authorization data: the Authorization Cache and the Local Authorization List.

idTags are CiString20 in OCPP 1.6, so lookups ignore case (NOCASE columns).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from chargebox.store.db import Database, utc_now

__all__ = ["AuthCacheStore", "AuthEntry", "LocalListEntry", "LocalListStore"]


@dataclass(frozen=True)
class AuthEntry:
    """A cached IdTagInfo."""

    id_tag: str
    status: str
    expiry_date: str | None = None
    parent_id_tag: str | None = None
    updated_at: str | None = None


@dataclass(frozen=True)
class LocalListEntry:
    """An AuthorizationData entry; ``status`` None means "remove" in a differential update."""

    id_tag: str
    status: str | None
    expiry_date: str | None = None
    parent_id_tag: str | None = None


class AuthCacheStore:
    """Authorization cache: IdTagInfo remembered from Authorize/Start/Stop confirmations."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def put(
        self,
        id_tag: str,
        status: str,
        expiry_date: str | None,
        parent_id_tag: str | None,
        *,
        now: str | None = None,
    ) -> None:
        """Insert or refresh an entry; it becomes the newest for ``trim``."""
        self._db.execute(
            "INSERT INTO auth_cache (id_tag, status, expiry_date, parent_id_tag, touched, "
            "updated_at) VALUES (?, ?, ?, ?, "
            "(SELECT COALESCE(MAX(touched), 0) + 1 FROM auth_cache), ?) "
            "ON CONFLICT (id_tag) DO UPDATE SET status = excluded.status, "
            "expiry_date = excluded.expiry_date, parent_id_tag = excluded.parent_id_tag, "
            "touched = excluded.touched, updated_at = excluded.updated_at",
            (id_tag, status, expiry_date, parent_id_tag, now or utc_now()),
        )

    def get(self, id_tag: str) -> AuthEntry | None:
        row = self._db.query_one(
            "SELECT id_tag, status, expiry_date, parent_id_tag, updated_at "
            "FROM auth_cache WHERE id_tag = ?",
            (id_tag,),
        )
        return None if row is None else _auth_entry(row)

    def delete(self, id_tag: str) -> bool:
        return self._db.execute("DELETE FROM auth_cache WHERE id_tag = ?", (id_tag,)).rowcount > 0

    def clear(self) -> None:
        """ClearCache.req."""
        self._db.execute("DELETE FROM auth_cache")

    def all(self) -> list[AuthEntry]:
        rows = self._db.query(
            "SELECT id_tag, status, expiry_date, parent_id_tag, updated_at "
            "FROM auth_cache ORDER BY id_tag"
        )
        return [_auth_entry(row) for row in rows]

    def trim(self, max_entries: int) -> int:
        """Keep only the ``max_entries`` most recently updated entries; return how many went.

        Order follows a counter, not the clock, which may jump on a station without RTC.
        """
        cursor = self._db.execute(
            "DELETE FROM auth_cache WHERE id_tag IN (SELECT id_tag FROM auth_cache "
            "ORDER BY touched DESC LIMIT -1 OFFSET ?)",
            (max(0, max_entries),),
        )
        return cursor.rowcount

    def __len__(self) -> int:
        row = self._db.query_one("SELECT COUNT(*) AS n FROM auth_cache")
        return 0 if row is None else int(row["n"])


class LocalListStore:
    """Local Authorization List managed by the CSMS through SendLocalList."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def version(self) -> int:
        """GetLocalListVersion: 0 when no list was ever installed."""
        row = self._db.query_one("SELECT version FROM local_list_meta WHERE id = 1")
        return 0 if row is None else int(row["version"])

    def replace(self, version: int, entries: Iterable[LocalListEntry]) -> None:
        """Full update, atomically; entries without a status are simply not listed."""
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM local_list")
            self._upsert(conn, [e for e in entries if e.status is not None])
            self._set_version(conn, version)

    def update(self, version: int, entries: Iterable[LocalListEntry]) -> None:
        """Differential update, atomically: status None removes the idTag."""
        items = list(entries)
        with self._db.transaction() as conn:
            conn.executemany(
                "DELETE FROM local_list WHERE id_tag = ?",
                [(e.id_tag,) for e in items if e.status is None],
            )
            self._upsert(conn, [e for e in items if e.status is not None])
            self._set_version(conn, version)

    def get(self, id_tag: str) -> LocalListEntry | None:
        row = self._db.query_one(
            "SELECT id_tag, status, expiry_date, parent_id_tag FROM local_list WHERE id_tag = ?",
            (id_tag,),
        )
        return None if row is None else _list_entry(row)

    def all(self) -> list[LocalListEntry]:
        rows = self._db.query(
            "SELECT id_tag, status, expiry_date, parent_id_tag FROM local_list ORDER BY id_tag"
        )
        return [_list_entry(row) for row in rows]

    def __len__(self) -> int:
        row = self._db.query_one("SELECT COUNT(*) AS n FROM local_list")
        return 0 if row is None else int(row["n"])

    @staticmethod
    def _upsert(conn: sqlite3.Connection, entries: list[LocalListEntry]) -> None:
        conn.executemany(
            "INSERT INTO local_list (id_tag, status, expiry_date, parent_id_tag) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (id_tag) DO UPDATE SET id_tag = excluded.id_tag, "
            "status = excluded.status, expiry_date = excluded.expiry_date, "
            "parent_id_tag = excluded.parent_id_tag",
            [(e.id_tag, e.status, e.expiry_date, e.parent_id_tag) for e in entries],
        )

    @staticmethod
    def _set_version(conn: sqlite3.Connection, version: int) -> None:
        conn.execute(
            "INSERT INTO local_list_meta (id, version) VALUES (1, ?) "
            "ON CONFLICT (id) DO UPDATE SET version = excluded.version",
            (version,),
        )


def _auth_entry(row: sqlite3.Row) -> AuthEntry:
    return AuthEntry(
        id_tag=row["id_tag"],
        status=row["status"],
        expiry_date=row["expiry_date"],
        parent_id_tag=row["parent_id_tag"],
        updated_at=row["updated_at"],
    )


def _list_entry(row: sqlite3.Row) -> LocalListEntry:
    return LocalListEntry(
        id_tag=row["id_tag"],
        status=row["status"],
        expiry_date=row["expiry_date"],
        parent_id_tag=row["parent_id_tag"],
    )
