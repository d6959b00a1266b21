-- Alerting (SQLite): channels and policies, maintenance windows, incidents with their
-- timeline, the per-monitor memory of the alerting engine, and the durable outbox of
-- notifications with every delivery attempt.

CREATE TABLE channels (
    name       TEXT    NOT NULL PRIMARY KEY,
    kind       TEXT    NOT NULL,
    config     TEXT    NOT NULL,
    source     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE policies (
    name       TEXT    NOT NULL PRIMARY KEY,
    config     TEXT    NOT NULL,
    source     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE maintenance_windows (
    id         BLOB    NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    config     TEXT    NOT NULL,
    source     TEXT    NOT NULL,
    ended_at   INTEGER,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE incidents (
    id              BLOB    NOT NULL PRIMARY KEY,
    monitor_id      BLOB    NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    monitor_name    TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    priority        TEXT    NOT NULL,
    cause           TEXT    NOT NULL,
    regions         TEXT    NOT NULL,
    parent_id       BLOB,
    opened_at       INTEGER NOT NULL,
    acknowledged_at INTEGER,
    acknowledged_by TEXT,
    resolved_at     INTEGER,
    resolved_by     TEXT
) STRICT;

CREATE INDEX incidents_by_monitor ON incidents (monitor_id, opened_at);
CREATE INDEX incidents_by_state ON incidents (state, opened_at);

CREATE TABLE incident_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id BLOB    NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    text        TEXT    NOT NULL,
    actor       TEXT,
    channel     TEXT
) STRICT;

CREATE INDEX incident_events_by_incident ON incident_events (incident_id, id);

CREATE TABLE monitor_alerting (
    monitor_id BLOB    NOT NULL PRIMARY KEY REFERENCES monitors (id) ON DELETE CASCADE,
    state      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    key             TEXT    NOT NULL UNIQUE,
    incident_id     BLOB,
    monitor_id      BLOB,
    channel         TEXT    NOT NULL,
    event           TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    claimed_until   INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER
) STRICT;

CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

CREATE TABLE delivery_attempts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    outbox_id   INTEGER NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    outcome     TEXT    NOT NULL,
    error       TEXT,
    duration_ms INTEGER NOT NULL
) STRICT;

CREATE INDEX delivery_attempts_by_outbox ON delivery_attempts (outbox_id, id);
