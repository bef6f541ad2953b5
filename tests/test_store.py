"""Round-trips, ordering, atomicity and crash durability of chargebox.store."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from chargebox.store import (
    AuthCacheStore,
    Database,
    LocalListEntry,
    LocalListStore,
    MessageQueue,
    SettingsStore,
    StateStore,
    StoreError,
    TransactionStore,
    WhitelistEntry,
    WhitelistStore,
    normalize_time,
)
from chargebox.store.db import load_migrations


@pytest.fixture
def db() -> Iterator[Database]:
    database = Database.memory()
    yield database
    database.close()


# -- Database ------------------------------------------------------------------


def test_file_database_settings(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "station.db"
    with Database(path) as database:
        assert path.exists()
        assert database.query_one("PRAGMA journal_mode")[0] == "wal"  # type: ignore[index]
        assert database.query_one("PRAGMA synchronous")[0] == 2  # type: ignore[index]  # FULL
        assert database.query_one("PRAGMA foreign_keys")[0] == 1  # type: ignore[index]
        assert database.schema_version == load_migrations()[-1].version


def test_closed_database_raises(db: Database) -> None:
    db.close()
    db.close()
    with pytest.raises(StoreError, match="closed"):
        SettingsStore(db).get_all()


def test_transaction_rolls_back_and_wraps_sqlite_errors(db: Database) -> None:
    settings = SettingsStore(db)
    with pytest.raises(StoreError), db.transaction() as conn:
        conn.execute("INSERT INTO settings VALUES ('a', '1', 'x')")
        conn.execute("INSERT INTO settings VALUES ('a', '2', 'x')")  # duplicate key
    assert settings.get_all() == {}
    with pytest.raises(RuntimeError), db.transaction() as conn:
        conn.execute("INSERT INTO settings VALUES ('b', '1', 'x')")
        raise RuntimeError("boom")
    assert settings.get_all() == {}


def test_nested_transaction_uses_savepoint(db: Database) -> None:
    settings = SettingsStore(db)
    with db.transaction():
        settings.set("outer", "1")
        with pytest.raises(StoreError), db.transaction():
            settings.set("inner", "1")
            db.execute("INSERT INTO settings VALUES ('outer', 'dup', 'x')")
        settings.set("after", "1")
    assert settings.get_all() == {"after": "1", "outer": "1"}


def test_normalize_time() -> None:
    assert normalize_time("2024-03-01T12:00:00Z") == "2024-03-01T12:00:00.000Z"
    assert normalize_time("2024-03-01T13:00:00.5+01:00") == "2024-03-01T12:00:00.500Z"
    assert normalize_time("2024-03-01T12:00:00") == "2024-03-01T12:00:00.000Z"
    with pytest.raises(StoreError):
        normalize_time("yesterday")


def test_concurrent_threads_share_connection(tmp_path: Path) -> None:
    with Database(tmp_path / "t.db") as database:
        queue = MessageQueue(database)
        errors: list[BaseException] = []

        def worker(n: int) -> None:
            try:
                for i in range(50):
                    queue.enqueue("MeterValues", {"n": n, "i": i}, None)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len(queue) == 200


# -- SettingsStore / StateStore --------------------------------------------------


def test_settings_round_trip(db: Database) -> None:
    settings = SettingsStore(db)
    assert settings.get_all() == {}
    settings.set("HeartbeatInterval", "300")
    settings.set("HeartbeatInterval", "60")
    settings.set_many({"MeterValueSampleInterval": "10", "web.title": "Box"})
    assert settings.get_all() == {
        "HeartbeatInterval": "60",
        "MeterValueSampleInterval": "10",
        "web.title": "Box",
    }
    assert settings.get("web.title") == "Box"
    assert settings.get("missing", "d") == "d"
    assert settings.delete("web.title") is True
    assert settings.delete("web.title") is False
    assert "web.title" not in settings.get_all()


def test_settings_set_many_is_atomic(db: Database) -> None:
    settings = SettingsStore(db)
    settings.set("a", "1")
    with pytest.raises(StoreError):
        settings.set_many({"a": "2", "": "empty key violates CHECK"})
    assert settings.get_all() == {"a": "1"}


def test_state_round_trip(db: Database) -> None:
    state = StateStore(db)
    assert state.get("connector", "1") is None
    assert state.get("connector", "1", "Operative") == "Operative"
    state.set("connector", "1", "Inoperative")
    state.set("connector", "2", {"availability": "Operative", "pending": None})
    state.set("boot", "reason", ["PowerUp", 3, 1.5, True])
    assert state.get("connector", "1") == "Inoperative"
    assert state.items("connector") == {
        "1": "Inoperative",
        "2": {"availability": "Operative", "pending": None},
    }
    assert state.get("boot", "reason") == ["PowerUp", 3, 1.5, True]
    assert state.delete("connector", "1") is True
    assert state.delete("connector", "1") is False
    assert state.items("connector").keys() == {"2"}
    with pytest.raises(StoreError):
        state.set("x", "y", object())


# -- TransactionStore ------------------------------------------------------------


def test_transaction_lifecycle(db: Database) -> None:
    txs = TransactionStore(db)
    local_id = txs.create(1, "TAG1", 1000, "2024-05-01T10:00:00Z", "PARENT", 7)
    record = txs.get(local_id)
    assert record is not None
    assert (record.connector_id, record.id_tag, record.parent_id_tag) == (1, "TAG1", "PARENT")
    assert record.reservation_id == 7
    assert record.start_time == "2024-05-01T10:00:00.000Z"
    assert record.last_meter_wh == 1000 and record.is_open and record.remote_id is None
    assert txs.open_transactions() == [record]

    txs.set_remote_id(local_id, 4242)
    txs.set_id_tag_status(local_id, "Accepted")
    txs.update_meter(local_id, 1500, "2024-05-01T10:30:00Z")
    record = txs.get(local_id)
    assert record is not None
    assert (record.remote_id, record.id_tag_status) == (4242, "Accepted")
    assert (record.last_meter_wh, record.last_meter_time) == (1500, "2024-05-01T10:30:00.000Z")
    assert record.energy_wh == 500 and record.duration_s is None
    assert txs.find_by_remote_id(4242) == record
    assert txs.find_by_remote_id(1) is None

    txs.stop(local_id, 2500, "2024-05-01T11:00:00Z", "EVDisconnected", "TAG2")
    record = txs.get(local_id)
    assert record is not None and not record.is_open
    assert (record.meter_stop_wh, record.stop_reason, record.stop_id_tag) == (
        2500,
        "EVDisconnected",
        "TAG2",
    )
    assert record.energy_wh == 1500 and record.duration_s == 3600
    assert txs.open_transactions() == []
    with pytest.raises(StoreError, match="already stopped"):
        txs.stop(local_id, 2600, "2024-05-01T11:05:00Z", "Local")


def test_transaction_errors(db: Database) -> None:
    txs = TransactionStore(db)
    assert txs.get(99) is None
    for call in (
        lambda: txs.set_remote_id(99, 1),
        lambda: txs.update_meter(99, 1, "2024-01-01T00:00:00Z"),
        lambda: txs.stop(99, 1, "2024-01-01T00:00:00Z", "Local"),
    ):
        with pytest.raises(StoreError, match="no transaction"):
            call()
    local_id = txs.create(1, "T", 0, "2024-01-01T00:00:00Z")
    with pytest.raises(StoreError):
        txs.set_id_tag_status(local_id, "Maybe")
    with pytest.raises(StoreError):
        txs.create(0, "T", 0, "2024-01-01T00:00:00Z")  # transactions need connector >= 1


def test_history_filters_and_order(db: Database) -> None:
    txs = TransactionStore(db)
    ids = []
    for day in range(1, 6):
        connector = 1 if day % 2 else 2
        tag = "alice" if day <= 3 else "BOB"
        local_id = txs.create(connector, tag, day * 100, f"2024-06-0{day}T08:00:00Z")
        txs.stop(local_id, day * 100 + 10, f"2024-06-0{day}T09:00:00+00:00", "Local")
        ids.append(local_id)
    open_id = txs.create(1, "carol", 0, "2024-06-06T08:00:00Z")

    assert [r.local_id for r in txs.history()] == [open_id, *reversed(ids)]
    assert [r.local_id for r in txs.history(limit=2, offset=1)] == [ids[4], ids[3]]
    assert {r.connector_id for r in txs.history(connector_id=2)} == {2}
    assert len(txs.history(connector_id=2)) == 2
    assert [r.local_id for r in txs.history(id_tag="ALICE")] == [ids[2], ids[1], ids[0]]
    window = txs.history(since="2024-06-02T08:00:00Z", until="2024-06-04T08:00:00+00:00")
    assert [r.local_id for r in window] == [ids[2], ids[1]]
    assert txs.count() == 6
    assert txs.count(id_tag="bob", since="2024-06-05T00:00:00Z") == 1
    assert [r.local_id for r in txs.open_transactions()] == [open_id]


# -- MessageQueue ----------------------------------------------------------------


def test_queue_fifo_and_attempts(db: Database) -> None:
    queue = MessageQueue(db)
    txs = TransactionStore(db)
    tx = txs.create(1, "T", 0, "2024-01-01T00:00:00Z")
    assert queue.peek() is None and len(queue) == 0
    first = queue.enqueue("StartTransaction", {"connectorId": 1}, tx, now="2024-01-01T00:00:00Z")
    second = queue.enqueue("MeterValues", {"meterValue": [1.5]}, tx)
    third = queue.enqueue("StopTransaction", {"meterStop": 10}, None)
    assert first < second < third and len(queue) == 3
    head = queue.peek()
    assert head is not None
    assert (head.id, head.action, head.payload, head.tx_local_id, head.attempts) == (
        first,
        "StartTransaction",
        {"connectorId": 1},
        tx,
        0,
    )
    assert head.enqueued_at == "2024-01-01T00:00:00Z"
    assert queue.record_attempt(first) == 1
    assert queue.record_attempt(first) == 2
    assert queue.items()[0].attempts == 2
    assert queue.remove(first) is True and queue.remove(first) is False
    assert [m.action for m in queue.items()] == ["MeterValues", "StopTransaction"]
    # ids are never reused, even after the newest message is removed.
    queue.remove(third)
    fourth = queue.enqueue("StopTransaction", {}, None)
    assert fourth > third
    with pytest.raises(StoreError):
        queue.record_attempt(first)
    with pytest.raises(StoreError):  # foreign key to transactions
        queue.enqueue("MeterValues", {}, 12345)


def test_queue_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    with Database(path) as database:
        queue = MessageQueue(database)
        ids = [queue.enqueue("MeterValues", {"i": i}, None) for i in range(5)]
        queue.remove(ids[0])
    with Database(path) as database:
        queue = MessageQueue(database)
        assert [m.payload["i"] for m in queue.items()] == [1, 2, 3, 4]
        assert queue.enqueue("StopTransaction", {}, None) > ids[-1]


def test_kill_9_durability(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from chargebox.store import Database, MessageQueue, TransactionStore
        db = Database(Path({str(path)!r}))
        txs = TransactionStore(db)
        queue = MessageQueue(db)
        tx = txs.create(2, "CRASH", 777, "2024-07-01T00:00:00Z")
        txs.update_meter(tx, 800, "2024-07-01T00:01:00Z")
        for i in range(3):
            queue.enqueue("MeterValues", {{"i": i}}, tx)
        with db.transaction() as conn:  # never committed: must vanish
            conn.execute("INSERT INTO settings VALUES ('lost', '1', 'x')")
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=30)
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()
    with Database(path) as database:
        records = TransactionStore(database).open_transactions()
        assert len(records) == 1
        assert (records[0].id_tag, records[0].meter_start_wh) == ("CRASH", 777)
        assert records[0].last_meter_wh == 800
        messages = MessageQueue(database).items()
        assert [m.payload for m in messages] == [{"i": 0}, {"i": 1}, {"i": 2}]
        assert all(m.tx_local_id == records[0].local_id for m in messages)
        assert SettingsStore(database).get_all() == {}


# -- AuthCacheStore / LocalListStore ----------------------------------------------


def test_auth_cache(db: Database) -> None:
    cache = AuthCacheStore(db)
    cache.put("tag1", "Accepted", "2030-01-01T00:00:00Z", "P1", now="2024-01-01T00:00:00Z")
    cache.put("tag2", "Blocked", None, None)
    entry = cache.get("TAG1")  # CiString: case-insensitive
    assert entry is not None
    assert (entry.id_tag, entry.status, entry.expiry_date, entry.parent_id_tag) == (
        "tag1",
        "Accepted",
        "2030-01-01T00:00:00Z",
        "P1",
    )
    assert entry.updated_at == "2024-01-01T00:00:00Z"
    cache.put("tag1", "Expired", None, None)
    assert cache.get("tag1").status == "Expired"  # type: ignore[union-attr]
    assert len(cache) == 2 and [e.id_tag for e in cache.all()] == ["tag1", "tag2"]
    assert cache.delete("tag2") is True and cache.get("tag2") is None
    with pytest.raises(StoreError):
        cache.put("tag3", "Whatever", None, None)
    cache.clear()
    assert len(cache) == 0


def test_auth_cache_trim_drops_oldest_updated(db: Database) -> None:
    cache = AuthCacheStore(db)
    for tag in ("a", "b", "c", "d", "e"):
        cache.put(tag, "Accepted", None, None)
    cache.put("a", "Accepted", None, None)  # refreshed: now the newest
    assert cache.trim(3) == 2
    assert sorted(e.id_tag for e in cache.all()) == ["a", "d", "e"]
    assert cache.trim(10) == 0
    assert cache.trim(0) == 3 and len(cache) == 0


def test_local_list(db: Database) -> None:
    local = LocalListStore(db)
    assert local.version() == 0 and len(local) == 0
    local.replace(
        3,
        [
            LocalListEntry("A", "Accepted", "2030-01-01T00:00:00Z", "P"),
            LocalListEntry("B", "Blocked"),
            LocalListEntry("C", None),  # no idTagInfo: not listed
        ],
    )
    assert local.version() == 3 and len(local) == 2
    assert local.get("a") == LocalListEntry("A", "Accepted", "2030-01-01T00:00:00Z", "P")
    local.update(4, [LocalListEntry("B", None), LocalListEntry("D", "Accepted")])
    assert local.version() == 4
    assert [e.id_tag for e in local.all()] == ["A", "D"]
    local.replace(5, [LocalListEntry("Z", "Invalid")])
    assert [e.id_tag for e in local.all()] == ["Z"]
    with pytest.raises(StoreError):
        local.update(6, [LocalListEntry("Y", "Accepted"), LocalListEntry("X", "Bogus")])
    assert local.version() == 5 and [e.id_tag for e in local.all()] == ["Z"]


# -- WhitelistStore --------------------------------------------------------------


def test_whitelist_crud_and_soft_delete(db: Database) -> None:
    wl = WhitelistStore(db)
    card = WhitelistEntry("04A1B2C3", "Accepted", gid="G1", expiry="2030-12-31", connector_id=2)
    wl.upsert(card)
    wl.upsert(WhitelistEntry("deadbeef", "Blocked"))
    assert wl.get("04a1b2c3") == card  # same card, other case; stored as given
    assert len(wl) == 2
    assert wl.delete("04A1B2C3") is True and wl.delete("04A1B2C3") is False
    assert wl.get("04A1B2C3") is None
    deleted = wl.get("04A1B2C3", include_deleted=True)
    assert deleted is not None and deleted.deleted
    assert len(wl) == 1 and [e.uid for e in wl.all()] == ["deadbeef"]
    assert [e.uid for e in wl.all(include_deleted=True)] == ["04A1B2C3", "deadbeef"]
    assert wl.restore("04A1B2C3") is True and wl.restore("04A1B2C3") is False
    assert wl.get("04A1B2C3") == card
    assert wl.purge("04A1B2C3") is True and wl.get("04A1B2C3", include_deleted=True) is None
    assert wl.purge("04A1B2C3") is False


def test_whitelist_paging(db: Database) -> None:
    wl = WhitelistStore(db)
    wl.update_many(WhitelistEntry(f"UID{i:02d}") for i in range(10))
    assert len(wl) == 10
    assert [e.uid for e in wl.all(limit=3, offset=4)] == ["UID04", "UID05", "UID06"]
    assert [e.uid for e in wl.all(offset=8)] == ["UID08", "UID09"]


def test_whitelist_bulk_writes_are_atomic(db: Database) -> None:
    wl = WhitelistStore(db)
    wl.replace_all([WhitelistEntry("AA"), WhitelistEntry("BB", "Blocked")])
    wl.delete("BB")
    bad = [WhitelistEntry("CC"), WhitelistEntry("DD", "Sometimes")]  # violates CHECK
    with pytest.raises(StoreError):
        wl.replace_all(bad)
    with pytest.raises(StoreError):
        wl.update_many(bad)
    assert [(e.uid, e.deleted) for e in wl.all(include_deleted=True)] == [
        ("AA", False),
        ("BB", True),
    ]
    with pytest.raises(StoreError):
        wl.upsert(WhitelistEntry("EE", connector_id=0))
    wl.replace_all([WhitelistEntry("CC"), WhitelistEntry("aa", "Blocked")])
    assert [(e.uid, e.authorization) for e in wl.all(include_deleted=True)] == [
        ("aa", "Blocked"),
        ("CC", "Accepted"),
    ]
