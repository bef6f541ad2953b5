"""Web login data: users, login sessions, failed-login counters, the audit log.

Plain repositories over the station database; password hashing, roles and policy live in
``chargebox.web.auth``. Times of sessions and lockouts are unix seconds (the caller's clock).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from chargebox.store.db import Database, StoreError, utc_now

__all__ = [
    "AuditEntry",
    "AuditLog",
    "LoginAttempts",
    "SessionRecord",
    "SessionStore",
    "User",
    "UserStore",
]

ROLES = ("operator", "installer", "admin")


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str
    password_hash: str


@dataclass(frozen=True)
class SessionRecord:
    token_hash: str
    user: User
    csrf_token: str
    created_at: float
    last_seen: float


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: str
    actor: str
    action: str
    target: str
    old_value: str | None
    new_value: str | None
    client: str


def _user(r: sqlite3.Row) -> User:
    return User(int(r["id"]), str(r["username"]), str(r["role"]), str(r["password_hash"]))


class UserStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, username: str) -> User | None:
        row = self._db.query_one("SELECT * FROM users WHERE username = ?", (username,))
        return None if row is None else _user(row)

    def by_id(self, user_id: int) -> User | None:
        row = self._db.query_one("SELECT * FROM users WHERE id = ?", (user_id,))
        return None if row is None else _user(row)

    def all(self) -> list[User]:
        return [_user(r) for r in self._db.query("SELECT * FROM users ORDER BY username")]

    def has_admin(self) -> bool:
        return self._db.query_one("SELECT 1 FROM users WHERE role = 'admin' LIMIT 1") is not None

    def create(self, username: str, password_hash: str, role: str) -> User:
        if role not in ROLES:
            raise StoreError(f"role must be one of {', '.join(ROLES)}")
        now = utc_now()
        self._db.execute(
            "INSERT INTO users (username, password_hash, role, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (username, password_hash, role, now, now),
        )
        user = self.get(username)
        assert user is not None
        return user

    def set_password(self, user_id: int, password_hash: str) -> None:
        self._db.execute(
            "UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?",
            (password_hash, utc_now(), user_id),
        )

    def set_role(self, user_id: int, role: str) -> None:
        if role not in ROLES:
            raise StoreError(f"role must be one of {', '.join(ROLES)}")
        self._db.execute(
            "UPDATE users SET role = ?, updated_at = ? WHERE id = ?", (role, utc_now(), user_id)
        )

    def delete(self, user_id: int) -> bool:
        return self._db.execute("DELETE FROM users WHERE id = ?", (user_id,)).rowcount > 0


class SessionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self, token_hash: str, user_id: int, csrf_token: str, now: float, client: str
    ) -> None:
        self._db.execute(
            "INSERT INTO web_sessions (token_hash, user_id, csrf_token, created_at, last_seen, "
            "client) VALUES (?, ?, ?, ?, ?, ?)",
            (token_hash, user_id, csrf_token, now, now, client),
        )

    def get(self, token_hash: str) -> SessionRecord | None:
        row = self._db.query_one(
            "SELECT s.*, u.id AS uid, u.username, u.role, u.password_hash "
            "FROM web_sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?",
            (token_hash,),
        )
        if row is None:
            return None
        user = User(int(row["uid"]), row["username"], row["role"], row["password_hash"])
        return SessionRecord(
            row["token_hash"],
            user,
            row["csrf_token"],
            float(row["created_at"]),
            float(row["last_seen"]),
        )

    def touch(self, token_hash: str, now: float) -> None:
        # Losing a last-seen update in a power cut only shortens an idle session.
        self._db.execute_relaxed(
            "UPDATE web_sessions SET last_seen = ? WHERE token_hash = ?", (now, token_hash)
        )

    def delete(self, token_hash: str) -> None:
        self._db.execute("DELETE FROM web_sessions WHERE token_hash = ?", (token_hash,))

    def delete_for_user(self, user_id: int) -> None:
        self._db.execute("DELETE FROM web_sessions WHERE user_id = ?", (user_id,))

    def purge(self, idle_before: float, created_before: float) -> int:
        return self._db.execute(
            "DELETE FROM web_sessions WHERE last_seen < ? OR created_at < ?",
            (idle_before, created_before),
        ).rowcount


class LoginAttempts:
    """Failed-login counters per username and per client address."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def locked_until(self, scope: str, key: str, now: float) -> float | None:
        row = self._db.query_one(
            "SELECT locked_until FROM login_attempts WHERE scope = ? AND key = ?", (scope, key)
        )
        if row is None or row["locked_until"] is None or row["locked_until"] <= now:
            return None
        return float(row["locked_until"])

    def fail(self, scope: str, key: str, now: float, *, max_failures: int, window_s: float) -> bool:
        """Count one failure; True when this failure locks the key for ``window_s``."""
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT failures, first_failure, locked_until FROM login_attempts "
                "WHERE scope = ? AND key = ?",
                (scope, key),
            ).fetchone()
            failures, first = 1, now
            if row is not None:
                expired_lock = row["locked_until"] is not None and row["locked_until"] <= now
                stale = now - float(row["first_failure"]) > window_s
                if not (expired_lock or stale):
                    failures, first = int(row["failures"]) + 1, float(row["first_failure"])
            locked = now + window_s if failures >= max_failures else None
            conn.execute(
                "INSERT INTO login_attempts (scope, key, failures, first_failure, locked_until) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (scope, key) DO UPDATE SET "
                "failures = excluded.failures, first_failure = excluded.first_failure, "
                "locked_until = excluded.locked_until",
                (scope, key, failures, first, locked),
            )
        return locked is not None

    def clear(self, scope: str, key: str) -> None:
        self._db.execute("DELETE FROM login_attempts WHERE scope = ? AND key = ?", (scope, key))


class AuditLog:
    """Who changed what, when, from which value to which (never secrets: callers mask them)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record(
        self,
        actor: str,
        action: str,
        target: str = "",
        old_value: str | None = None,
        new_value: str | None = None,
        client: str = "",
    ) -> None:
        self._db.execute(
            "INSERT INTO audit_log (at, actor, action, target, old_value, new_value, client) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (utc_now(), actor, action, target, old_value, new_value, client),
        )

    def recent(self, limit: int = 100, offset: int = 0) -> list[AuditEntry]:
        rows = self._db.query(
            "SELECT * FROM audit_log ORDER BY id DESC LIMIT ? OFFSET ?", (limit, offset)
        )
        return [
            AuditEntry(
                int(r["id"]),
                r["at"],
                r["actor"],
                r["action"],
                r["target"],
                r["old_value"],
                r["new_value"],
                r["client"],
            )
            for r in rows
        ]
