"""Persistent FIFO of outbound OCPP CALLs that must not be lost.

StartTransaction, StopTransaction and transaction-related MeterValues have to
reach the CSMS even across an outage or a crash: a message is committed to disk
before ``enqueue`` returns and leaves only through ``remove``.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from chargebox.store.db import Database, StoreError, utc_now

__all__ = ["MessageQueue", "QueuedMessage"]

_COLUMNS = "id, action, payload, tx_local_id, attempts, enqueued_at"


@dataclass(frozen=True)
class QueuedMessage:
    """One queued CALL; ``id`` is strictly increasing (send order)."""

    id: int
    action: str
    payload: dict[str, Any]
    tx_local_id: int | None
    attempts: int
    enqueued_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> QueuedMessage:
        return cls(
            id=row["id"],
            action=row["action"],
            payload=json.loads(row["payload"]),
            tx_local_id=row["tx_local_id"],
            attempts=row["attempts"],
            enqueued_at=row["enqueued_at"],
        )


class MessageQueue:
    """The outbound queue; the sender peeks, sends, then removes."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def enqueue(
        self,
        action: str,
        payload: dict[str, Any],
        tx_local_id: int | None,
        *,
        now: str | None = None,
    ) -> int:
        """Append a CALL durably and return its queue id."""
        try:
            encoded = json.dumps(payload, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"{action} payload is not JSON-serialisable: {exc}") from exc
        cursor = self._db.execute(
            "INSERT INTO message_queue (action, payload, tx_local_id, enqueued_at) "
            "VALUES (?, ?, ?, ?)",
            (action, encoded, tx_local_id, now or utc_now()),
        )
        if cursor.lastrowid is None:
            raise StoreError("queue insert returned no id")
        return cursor.lastrowid

    def peek(self) -> QueuedMessage | None:
        """The oldest message, or None when the queue is empty."""
        row = self._db.query_one(f"SELECT {_COLUMNS} FROM message_queue ORDER BY id LIMIT 1")
        return None if row is None else QueuedMessage.from_row(row)

    def items(self) -> list[QueuedMessage]:
        """All messages in send order."""
        rows = self._db.query(f"SELECT {_COLUMNS} FROM message_queue ORDER BY id")
        return [QueuedMessage.from_row(row) for row in rows]

    def record_attempt(self, msg_id: int) -> int:
        """Count one more send attempt (for retry limits) and return the new total."""
        with self._db.transaction() as conn:
            conn.execute("UPDATE message_queue SET attempts = attempts + 1 WHERE id = ?", (msg_id,))
            row = conn.execute("SELECT attempts FROM message_queue WHERE id = ?", (msg_id,))
            found = row.fetchone()
            if found is None:
                raise StoreError(f"no queued message with id {msg_id}")
            return int(found[0])

    def remove(self, msg_id: int) -> bool:
        """Drop a message once the CSMS answered it; True if it was queued.

        Not fsynced: losing this delete in a power cut only re-sends the message.
        """
        cursor = self._db.execute_relaxed("DELETE FROM message_queue WHERE id = ?", (msg_id,))
        return cursor.rowcount > 0

    def __len__(self) -> int:
        row = self._db.query_one("SELECT COUNT(*) AS n FROM message_queue")
        return 0 if row is None else int(row["n"])
