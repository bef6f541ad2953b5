-- 0002_history: derived columns and indexes for browsing the charging history.
-- VIRTUAL generated columns can be added by ALTER TABLE and need no backfill.

-- Energy delivered so far (open transaction) or in total (finished one).
ALTER TABLE transactions ADD COLUMN energy_wh INTEGER
    GENERATED ALWAYS AS (COALESCE(meter_stop_wh, last_meter_wh) - meter_start_wh) VIRTUAL;

-- Duration in whole seconds, NULL while the transaction is open.
ALTER TABLE transactions ADD COLUMN duration_s INTEGER
    GENERATED ALWAYS AS (
        CAST(round((julianday(stop_time) - julianday(start_time)) * 86400.0) AS INTEGER)
    ) VIRTUAL;

CREATE INDEX ix_transactions_start_time ON transactions (start_time);
CREATE INDEX ix_transactions_stop_time ON transactions (stop_time);
CREATE INDEX ix_transactions_id_tag ON transactions (id_tag);
CREATE INDEX ix_transactions_connector ON transactions (connector_id, start_time);
