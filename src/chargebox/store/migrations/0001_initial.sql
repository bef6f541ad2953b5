-- 0001_initial: base schema of the station's persistent state.
-- Migrations run inside a transaction opened by the loader: no BEGIN/COMMIT here.

-- Runtime configuration overrides (win over defaults and the config file).
CREATE TABLE settings (
    key         TEXT PRIMARY KEY NOT NULL CHECK (length(key) > 0),
    value       TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- Small named JSON values (connector availability, registration status, ...).
CREATE TABLE state (
    namespace   TEXT NOT NULL,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL CHECK (json_valid(value)),
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (namespace, key)
);

-- Every transaction, open and finished. OCPP idTags are case-insensitive (CiString20).
CREATE TABLE transactions (
    local_id         INTEGER PRIMARY KEY AUTOINCREMENT,
    connector_id     INTEGER NOT NULL CHECK (connector_id >= 1),
    id_tag           TEXT NOT NULL COLLATE NOCASE CHECK (length(id_tag) > 0),
    parent_id_tag    TEXT COLLATE NOCASE,
    reservation_id   INTEGER,
    meter_start_wh   INTEGER NOT NULL,
    start_time       TEXT NOT NULL,
    remote_id        INTEGER,
    last_meter_wh    INTEGER NOT NULL,
    last_meter_time  TEXT NOT NULL,
    meter_stop_wh    INTEGER,
    stop_time        TEXT,
    stop_reason      TEXT,
    stop_id_tag      TEXT COLLATE NOCASE,
    id_tag_status    TEXT CHECK (id_tag_status IS NULL OR id_tag_status IN
                         ('Accepted', 'Blocked', 'Expired', 'Invalid', 'ConcurrentTx')),
    CHECK ((stop_time IS NULL) = (meter_stop_wh IS NULL))
);
CREATE INDEX ix_transactions_remote_id ON transactions (remote_id);
CREATE INDEX ix_transactions_open ON transactions (connector_id) WHERE stop_time IS NULL;

-- Outbound OCPP CALLs that must survive a crash. AUTOINCREMENT: ids never reused.
CREATE TABLE message_queue (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    action       TEXT NOT NULL CHECK (length(action) > 0),
    payload      TEXT NOT NULL CHECK (json_valid(payload)),
    tx_local_id  INTEGER REFERENCES transactions (local_id),
    attempts     INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    enqueued_at  TEXT NOT NULL
);

-- OCPP authorization cache. "touched" is a counter, not a clock: the station may
-- have no RTC and its clock can jump, but eviction order must stay right.
CREATE TABLE auth_cache (
    id_tag         TEXT PRIMARY KEY NOT NULL COLLATE NOCASE CHECK (length(id_tag) > 0),
    status         TEXT NOT NULL CHECK (status IN
                       ('Accepted', 'Blocked', 'Expired', 'Invalid', 'ConcurrentTx')),
    expiry_date    TEXT,
    parent_id_tag  TEXT COLLATE NOCASE,
    touched        INTEGER NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX ix_auth_cache_touched ON auth_cache (touched);

-- OCPP Local Authorization List and its version (single row).
CREATE TABLE local_list (
    id_tag         TEXT PRIMARY KEY NOT NULL COLLATE NOCASE CHECK (length(id_tag) > 0),
    status         TEXT NOT NULL CHECK (status IN
                       ('Accepted', 'Blocked', 'Expired', 'Invalid', 'ConcurrentTx')),
    expiry_date    TEXT,
    parent_id_tag  TEXT COLLATE NOCASE
);
CREATE TABLE local_list_meta (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    version  INTEGER NOT NULL
);

-- The station's own RFID whitelist (UID,GID,Expiry,Authorization); soft delete.
CREATE TABLE whitelist (
    uid            TEXT PRIMARY KEY NOT NULL COLLATE NOCASE CHECK (length(uid) > 0),
    gid            TEXT,
    expiry         TEXT,
    authorization  TEXT NOT NULL CHECK (authorization IN ('Accepted', 'Blocked')),
    connector_id   INTEGER CHECK (connector_id IS NULL OR connector_id >= 1),
    deleted        INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    updated_at     TEXT NOT NULL
);
