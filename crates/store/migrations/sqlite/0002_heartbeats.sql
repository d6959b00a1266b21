-- Heartbeat monitors (SQLite): ping tokens and slugs, the state machine's memory, the
-- ping log, and server-wide settings (such as the ping key of slug URLs).

CREATE TABLE heartbeats (
    monitor_id  BLOB    NOT NULL PRIMARY KEY REFERENCES monitors (id) ON DELETE CASCADE,
    token       TEXT    NOT NULL UNIQUE,
    state       TEXT    NOT NULL,
    pings_total INTEGER NOT NULL DEFAULT 0,
    updated_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE pings (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    monitor_id     BLOB    NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    received_at    INTEGER NOT NULL,
    kind           TEXT    NOT NULL,
    method         TEXT    NOT NULL,
    exit_status    INTEGER,
    rid            TEXT,
    duration_ms    INTEGER,
    source_ip      TEXT,
    user_agent     TEXT,
    body           TEXT,
    body_truncated INTEGER NOT NULL,
    failure        TEXT
) STRICT;

CREATE INDEX pings_by_monitor ON pings (monitor_id, id);

CREATE TABLE settings (
    key   TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
