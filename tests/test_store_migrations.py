"""Schema migrations: fresh install, upgrade from version 1, refusal of newer databases."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from chargebox.store import Database, StoreError, TransactionStore, WhitelistEntry, WhitelistStore
from chargebox.store.db import load_migrations

LATEST = load_migrations()[-1].version


def _columns(database: Database, table: str) -> set[str]:
    return {row["name"] for row in database.query(f"PRAGMA table_xinfo({table})")}


def test_migration_files_are_numbered_and_loaded() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, LATEST + 1))
    assert migrations[0].name == "initial" and migrations[1].name == "history"
    assert LATEST >= 2


def test_fresh_database_records_every_migration(tmp_path: Path) -> None:
    with Database(tmp_path / "db.sqlite") as database:
        assert database.schema_version == LATEST
        rows = database.query("SELECT version, name, applied_at FROM schema_migrations")
        assert [(r["version"], r["name"]) for r in rows] == [
            (m.version, m.name) for m in load_migrations()
        ]
        assert all(r["applied_at"] for r in rows)


def test_reopen_does_not_reapply(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    Database(path).close()
    with Database(path) as database:
        assert database.schema_version == LATEST
        count = database.query_one("SELECT COUNT(*) AS n FROM schema_migrations")
        assert count is not None and count["n"] == LATEST


def test_upgrade_from_version_1_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with Database(path, target_version=1) as old:
        assert old.schema_version == 1
        assert "energy_wh" not in _columns(old, "transactions")
        old.execute(
            "INSERT INTO transactions (connector_id, id_tag, meter_start_wh, start_time, "
            "last_meter_wh, last_meter_time, meter_stop_wh, stop_time, stop_reason) VALUES "
            "(1, 'OLD', 1000, '2024-01-01T10:00:00.000Z', 4000, "
            "'2024-01-01T12:00:00.000Z', 4000, '2024-01-01T12:00:00.000Z', 'Local')"
        )
        old.execute(
            "INSERT INTO transactions (connector_id, id_tag, meter_start_wh, start_time, "
            "last_meter_wh, last_meter_time) VALUES "
            "(2, 'OPEN', 50, '2024-01-02T10:00:00.000Z', 80, '2024-01-02T10:05:00.000Z')"
        )
        WhitelistStore(old).upsert(WhitelistEntry("CARD1", gid="G"))

    with Database(path) as database:
        assert database.schema_version == LATEST
        assert {"energy_wh", "duration_s"} <= _columns(database, "transactions")
        indexes = {r["name"] for r in database.query("PRAGMA index_list(transactions)")}
        assert {"ix_transactions_stop_time", "ix_transactions_id_tag"} <= indexes
        txs = TransactionStore(database)
        finished, still_open = txs.history()[::-1]
        assert (finished.id_tag, finished.energy_wh, finished.duration_s) == ("OLD", 3000, 7200)
        assert (still_open.id_tag, still_open.energy_wh, still_open.duration_s) == (
            "OPEN",
            30,
            None,
        )
        assert WhitelistStore(database).get("card1") == WhitelistEntry("CARD1", gid="G")
        new_id = txs.create(1, "NEW", 10, "2024-02-01T00:00:00Z")
        assert new_id > still_open.local_id
        txs.update_meter(new_id, 25, "2024-02-01T00:10:00Z")
        assert txs.get(new_id).energy_wh == 15  # type: ignore[union-attr]


def test_unknown_future_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite"
    Database(path).close()
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO schema_migrations VALUES (?, 'from_the_future', '2030-01-01T00:00:00Z')",
        (LATEST + 7,),
    )
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=f"schema version {LATEST + 7}"):
        Database(path)


def test_target_version_out_of_range() -> None:
    with pytest.raises(StoreError):
        Database.memory(target_version=LATEST + 1)
    assert Database.memory(target_version=0).schema_version == 0


def test_cannot_open_newer_database_with_lower_target(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    Database(path).close()
    with pytest.raises(StoreError, match="above 1"):
        Database(path, target_version=1)


def test_failed_migration_rolls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from chargebox.store import db as db_module

    real = db_module.load_migrations()
    broken = db_module.Migration(LATEST + 1, "broken", "CREATE TABLE x (a);\nNOT VALID SQL;")
    monkeypatch.setattr(db_module, "load_migrations", lambda: [*real, broken])
    path = tmp_path / "db.sqlite"
    with pytest.raises(StoreError, match=f"{LATEST + 1:04d}_broken"):
        Database(path)
    monkeypatch.undo()
    with Database(path) as database:
        assert database.schema_version == LATEST
        assert database.query_one("SELECT name FROM sqlite_master WHERE name = 'x'") is None
