"""Key/value repositories: runtime settings overrides and small JSON state values."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from chargebox.store.db import Database, StoreError, utc_now

__all__ = ["SettingsStore", "StateStore"]


class SettingsStore:
    """Configuration changed at runtime (ChangeConfiguration, web UI).

    These values win over defaults and the config file, so they must persist.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    def get_all(self) -> dict[str, str]:
        """Every override, as stored strings (the caller converts types)."""
        rows = self._db.query("SELECT key, value FROM settings ORDER BY key")
        return {row["key"]: row["value"] for row in rows}

    def get(self, key: str, default: str | None = None) -> str | None:
        """One override, or ``default`` when the key was never overridden."""
        row = self._db.query_one("SELECT value FROM settings WHERE key = ?", (key,))
        return default if row is None else str(row["value"])

    def set(self, key: str, value: str, *, now: str | None = None) -> None:
        """Create or replace one override."""
        self.set_many({key: value}, now=now)

    def set_many(self, values: Mapping[str, str], *, now: str | None = None) -> None:
        """Store several overrides atomically: all of them or none."""
        stamp = now or utc_now()
        for key, value in values.items():
            if not isinstance(value, str):
                raise StoreError(f"setting {key!r} must be a string, got {type(value).__name__}")
        with self._db.transaction() as conn:
            conn.executemany(
                "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                "updated_at = excluded.updated_at",
                [(key, value, stamp) for key, value in values.items()],
            )

    def delete(self, key: str) -> bool:
        """Drop an override so the default applies again; True if it existed."""
        return self._db.execute("DELETE FROM settings WHERE key = ?", (key,)).rowcount > 0


class StateStore:
    """Small named JSON values that must outlive a reboot.

    E.g. connector availability, registration status, last boot reason,
    pending scheduled availability changes, firmware update state.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, namespace: str, key: str, default: Any = None) -> Any:
        """The decoded value, or ``default`` when absent."""
        row = self._db.query_one(
            "SELECT value FROM state WHERE namespace = ? AND key = ?", (namespace, key)
        )
        return default if row is None else json.loads(row["value"])

    def set(self, namespace: str, key: str, value: Any, *, now: str | None = None) -> None:
        """Store ``value`` as JSON (raises StoreError if it is not serialisable)."""
        try:
            encoded = json.dumps(value, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"state {namespace}/{key} is not JSON-serialisable: {exc}") from exc
        self._db.execute(
            "INSERT INTO state (namespace, key, value, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at",
            (namespace, key, encoded, now or utc_now()),
        )

    def delete(self, namespace: str, key: str) -> bool:
        """Remove one value; True if it existed."""
        cursor = self._db.execute(
            "DELETE FROM state WHERE namespace = ? AND key = ?", (namespace, key)
        )
        return cursor.rowcount > 0

    def items(self, namespace: str) -> dict[str, Any]:
        """All decoded values of one namespace."""
        rows = self._db.query(
            "SELECT key, value FROM state WHERE namespace = ? ORDER BY key", (namespace,)
        )
        return {row["key"]: json.loads(row["value"]) for row in rows}
