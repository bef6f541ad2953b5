-- 0005_users: web login. Users with a role (operator < installer < admin, a role includes the
-- lower ones), login sessions (only a hash of the cookie's token is kept), failed-login
-- counters for the lockout, and the audit log of every change made through the web or the API.

CREATE TABLE users (
    id              INTEGER PRIMARY KEY,
    username        TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash   TEXT NOT NULL,                             -- argon2id, PHC string
    role            TEXT NOT NULL CHECK (role IN ('operator', 'installer', 'admin')),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

CREATE TABLE web_sessions (
    token_hash      TEXT PRIMARY KEY NOT NULL,                 -- sha256 of the cookie token
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token      TEXT NOT NULL,
    created_at      REAL NOT NULL,                             -- unix time
    last_seen       REAL NOT NULL,
    client          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX ix_web_sessions_user ON web_sessions (user_id);

CREATE TABLE login_attempts (
    scope           TEXT NOT NULL CHECK (scope IN ('user', 'client')),
    key             TEXT NOT NULL,
    failures        INTEGER NOT NULL,
    first_failure   REAL NOT NULL,
    locked_until    REAL,
    PRIMARY KEY (scope, key)
);

CREATE TABLE audit_log (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    at              TEXT NOT NULL,                             -- store timestamp, UTC
    actor           TEXT NOT NULL,                             -- username, "api-token", "system"
    action          TEXT NOT NULL,                             -- e.g. "login", "setting.change"
    target          TEXT NOT NULL DEFAULT '',                  -- what changed (key, path, user)
    old_value       TEXT,
    new_value       TEXT,
    client          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX ix_audit_log_at ON audit_log (at);
