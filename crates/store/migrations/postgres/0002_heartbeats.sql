-- Heartbeat monitors (PostgreSQL): ping tokens and slugs, the state machine's memory,
-- the ping log, and server-wide settings (such as the ping key of slug URLs).

CREATE TABLE heartbeats (
    monitor_id  UUID    NOT NULL PRIMARY KEY REFERENCES monitors (id) ON DELETE CASCADE,
    token       TEXT    NOT NULL UNIQUE,
    state       TEXT    NOT NULL,
    pings_total BIGINT  NOT NULL DEFAULT 0,
    updated_at  BIGINT  NOT NULL
);

CREATE TABLE pings (
    id             BIGSERIAL PRIMARY KEY,
    monitor_id     UUID    NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    received_at    BIGINT  NOT NULL,
    kind           TEXT    NOT NULL,
    method         TEXT    NOT NULL,
    exit_status    BIGINT,
    rid            TEXT,
    duration_ms    BIGINT,
    source_ip      TEXT,
    user_agent     TEXT,
    body           TEXT,
    body_truncated BOOLEAN NOT NULL,
    failure        TEXT
);

CREATE INDEX pings_by_monitor ON pings (monitor_id, id);

CREATE TABLE settings (
    key   TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);
