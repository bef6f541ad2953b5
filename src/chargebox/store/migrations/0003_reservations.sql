-- 0003_reservations: OCPP reservations (ReserveNow), kept across restarts.
-- connector_id 0 reserves "any connector of the station". Expired rows are dropped at boot.

CREATE TABLE reservations (
    reservation_id  INTEGER PRIMARY KEY NOT NULL,
    connector_id    INTEGER NOT NULL CHECK (connector_id >= 0),
    id_tag          TEXT NOT NULL COLLATE NOCASE CHECK (length(id_tag) > 0),
    parent_id_tag   TEXT COLLATE NOCASE,
    expiry_date     TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
