"""Installed OCPP charging profiles (SetChargingProfile), kept across restarts."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chargebox.store.db import Database, utc_now

__all__ = ["ProfileRecord", "ProfileStore"]


@dataclass(frozen=True)
class ProfileRecord:
    id: int
    connector_id: int
    purpose: str
    stack_level: int
    transaction_id: int | None
    profile: dict[str, Any]  # csChargingProfiles as the central system sent it


class ProfileStore:
    """One row per installed profile; a replacement is one atomic delete-and-insert."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def all(self) -> list[ProfileRecord]:
        rows = self._db.query(
            "SELECT id, connector_id, purpose, stack_level, transaction_id, profile "
            "FROM charging_profiles ORDER BY id"
        )
        return [
            ProfileRecord(
                int(r["id"]),
                int(r["connector_id"]),
                r["purpose"],
                int(r["stack_level"]),
                r["transaction_id"],
                json.loads(r["profile"]),
            )
            for r in rows
        ]

    def install(
        self, connector_id: int, profile: dict[str, Any], replaces: Iterable[int] = ()
    ) -> None:
        """Store `profile`, removing the ones it replaces in the same transaction."""
        with self._db.transaction() as conn:
            conn.executemany("DELETE FROM charging_profiles WHERE id = ?", [(i,) for i in replaces])
            conn.execute(
                "DELETE FROM charging_profiles WHERE id = ? OR "
                "(connector_id = ? AND purpose = ? AND stack_level = ?)",
                (
                    profile["chargingProfileId"],
                    connector_id,
                    profile["chargingProfilePurpose"],
                    profile["stackLevel"],
                ),
            )
            conn.execute(
                "INSERT INTO charging_profiles (id, connector_id, purpose, stack_level, "
                "transaction_id, profile, installed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    profile["chargingProfileId"],
                    connector_id,
                    profile["chargingProfilePurpose"],
                    profile["stackLevel"],
                    profile.get("transactionId"),
                    json.dumps(profile, sort_keys=True, allow_nan=False),
                    utc_now(),
                ),
            )

    def delete(self, ids: Iterable[int]) -> int:
        """Remove profiles by id; the number removed."""
        with self._db.transaction() as conn:
            return sum(
                conn.execute("DELETE FROM charging_profiles WHERE id = ?", (i,)).rowcount
                for i in ids
            )
