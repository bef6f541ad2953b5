"""SQLite connection, durability settings and numbered schema migrations.

A charging station loses power without warning, so every committed transaction
must survive a power cut: WAL journal with ``synchronous=FULL``. One connection
is shared by the asyncio thread and the odd worker thread (uvicorn), so every
statement runs under a re-entrant lock.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

__all__ = ["Database", "Migration", "StoreError", "load_migrations", "normalize_time", "utc_now"]

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

Params = Sequence[Any] | dict[str, Any]


class StoreError(Exception):
    """Any persistence failure; callers need to catch only this (wraps sqlite3 errors)."""


def utc_now() -> str:
    """Current UTC time in the store's canonical format (bookkeeping only)."""
    return _format(datetime.now(UTC))


def _format(moment: datetime) -> str:
    # Fixed width with milliseconds so that TEXT comparison equals time order.
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def normalize_time(value: str) -> str:
    """Canonical ``YYYY-MM-DDTHH:MM:SS.mmmZ`` UTC form of an ISO 8601 timestamp.

    Mixed forms ("...Z", "...+00:00", with or without fractions) would not sort
    correctly as TEXT; naive timestamps are taken as UTC.
    """
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"invalid ISO 8601 timestamp: {value!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _format(moment.astimezone(UTC))


@dataclass(frozen=True)
class Migration:
    """One numbered SQL file from ``store/migrations``."""

    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """Read the packaged ``NNNN_name.sql`` files, ordered by version."""
    folder = resources.files(__package__ or "chargebox.store").joinpath("migrations")
    found: dict[int, Migration] = {}
    for item in folder.iterdir():
        match = _MIGRATION_NAME.match(item.name)
        if match is None:
            continue
        version = int(match.group(1))
        if version in found:
            raise StoreError(f"two migrations share version {version:04d}")
        found[version] = Migration(version, match.group(2), item.read_text(encoding="utf-8"))
    if not found:
        raise StoreError("no schema migrations found in chargebox.store/migrations")
    return [found[v] for v in sorted(found)]


class Database:
    """The single SQLite database of the station.

    ``target_version`` stops migrating at that version; it exists so tests can
    build an old-schema database and exercise the upgrade path.
    """

    def __init__(self, path: Path | str, *, target_version: int | None = None) -> None:
        self.path: Path | None
        if str(path) == ":memory:":
            self.path = None
            target = ":memory:"
        else:
            self.path = Path(path)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            target = str(self.path)
        self._lock = threading.RLock()
        self._depth = 0
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, nothing implicit.
            self._conn: sqlite3.Connection | None = sqlite3.connect(
                target, isolation_level=None, check_same_thread=False, timeout=5.0
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open database {target}: {exc}") from exc
        self._conn.row_factory = sqlite3.Row
        try:
            self._configure()
            self._migrate(target_version)
        except BaseException:
            self._conn.close()
            self._conn = None
            raise

    @classmethod
    def memory(cls, *, target_version: int | None = None) -> Database:
        """A private in-memory database for tests."""
        return cls(":memory:", target_version=target_version)

    # -- lifecycle -----------------------------------------------------------

    def _configure(self) -> None:
        conn = self._connection()
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot configure database: {exc}") from exc
        if self.path is not None and str(mode).lower() != "wal":
            log.warning("SQLite refused WAL mode (got %s) for %s", mode, self.path)

    def _migrate(self, target_version: int | None) -> None:
        conn = self._connection()
        migrations = load_migrations()
        latest = migrations[-1].version
        target = latest if target_version is None else target_version
        if not 0 <= target <= latest:
            raise StoreError(f"target schema version {target} outside 0..{latest}")
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read schema version: {exc}") from exc
        known = {m.version for m in migrations}
        unknown = sorted(applied - known)
        if unknown:
            raise StoreError(
                f"database {self.path or ':memory:'} has schema version {unknown[-1]}, "
                f"newer than this chargebox knows (latest {latest}); refusing to open it"
            )
        if applied and max(applied) > target:
            raise StoreError(f"database is at schema version {max(applied)}, above {target}")
        for migration in migrations:
            if migration.version <= target and migration.version not in applied:
                self._apply(migration)

    def _apply(self, migration: Migration) -> None:
        """Run one migration and record it, all in one transaction."""
        conn = self._connection()
        label = f"{migration.version:04d}_{migration.name}"
        try:
            # executescript would COMMIT an open transaction first, so BEGIN goes inside.
            conn.executescript(f"BEGIN IMMEDIATE;\n{migration.sql}\n;")
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, utc_now()),
            )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"migration {label} failed: {exc}") from exc
        log.info("applied schema migration %s", label)

    def close(self) -> None:
        """Close the connection; safe to call twice."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("database is closed")
        return self._conn

    # -- access ----------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        """Highest applied migration (0 for an empty database)."""
        row = self.query_one("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")
        return int(row["v"]) if row is not None else 0

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Atomic unit of work: commit on success, roll back on any exception.

        Nested use joins the outer transaction through a savepoint, so an inner
        failure that the caller handles undoes only the inner part.
        """
        with self._lock:
            conn = self._connection()
            if self._depth:
                savepoint = f"sp{self._depth}"
                conn.execute(f"SAVEPOINT {savepoint}")
                self._depth += 1
                try:
                    yield conn
                except BaseException as exc:
                    conn.execute(f"ROLLBACK TO {savepoint}")
                    conn.execute(f"RELEASE {savepoint}")
                    _reraise(exc)
                else:
                    conn.execute(f"RELEASE {savepoint}")
                finally:
                    self._depth -= 1
                return
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot begin transaction: {exc}") from exc
            self._depth = 1
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                _reraise(exc)
            finally:
                self._depth = 0

    def execute(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        """One write statement; atomic and durable on its own (autocommit)."""
        with self._lock:
            try:
                return self._connection().execute(sql, params)
            except sqlite3.Error as exc:
                raise StoreError(str(exc)) from exc

    def execute_relaxed(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        """A write that may be lost in a power cut (never in a process crash).

        WAL with synchronous=NORMAL skips the fsync of this commit. Only for writes whose
        loss is harmless, such as deleting a message already delivered: at worst it is
        sent again after a power cut.
        """
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("PRAGMA synchronous=NORMAL")
                try:
                    return conn.execute(sql, params)
                finally:
                    conn.execute("PRAGMA synchronous=FULL")
            except sqlite3.Error as exc:
                raise StoreError(str(exc)) from exc

    def query(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """All rows of a SELECT, fetched under the lock (the connection is shared)."""
        with self._lock:
            try:
                return self._connection().execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(str(exc)) from exc

    def query_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """First row of a SELECT, or None."""
        with self._lock:
            try:
                row: sqlite3.Row | None = self._connection().execute(sql, params).fetchone()
            except sqlite3.Error as exc:
                raise StoreError(str(exc)) from exc
            return row


def _reraise(exc: BaseException) -> NoReturn:
    """Re-raise, turning sqlite3 errors into StoreError for callers."""
    if isinstance(exc, sqlite3.Error):
        raise StoreError(str(exc)) from exc
    raise exc
