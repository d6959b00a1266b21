-- Vigilmon schema, version 1 (SQLite).
--
-- Timestamps are epoch milliseconds (INTEGER). Ids are UUIDs stored as 16-byte BLOBs.
-- JSON columns are TEXT. Tables are STRICT so a value of the wrong type is refused on
-- write rather than discovered on read. Enumerated text columns (state, verdict, ...)
-- deliberately have no CHECK constraint: SQLite cannot alter one without rebuilding the
-- table, and the store validates every value when it decodes a row.

CREATE TABLE monitors (
    id               BLOB    NOT NULL PRIMARY KEY,
    name             TEXT    NOT NULL UNIQUE,
    kind             TEXT    NOT NULL,
    config           TEXT    NOT NULL,
    source           TEXT    NOT NULL,
    paused           INTEGER NOT NULL,
    state            TEXT    NOT NULL,
    state_changed_at INTEGER,
    last_checked_at  INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;

CREATE TABLE monitor_regions (
    monitor_id           BLOB    NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    region               TEXT    NOT NULL,
    state                TEXT    NOT NULL,
    consecutive_failures INTEGER NOT NULL,
    checked_at           INTEGER,
    duration_ms          INTEGER,
    error_kind           TEXT,
    error                TEXT,
    PRIMARY KEY (monitor_id, region)
) STRICT;

CREATE TABLE check_results (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    monitor_id      BLOB    NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    region          TEXT    NOT NULL,
    checked_at      INTEGER NOT NULL,
    ok              INTEGER NOT NULL,
    state           TEXT    NOT NULL,
    verdict         TEXT    NOT NULL,
    duration_ms     INTEGER NOT NULL,
    dns_ms          INTEGER,
    connect_ms      INTEGER,
    tls_ms          INTEGER,
    ttfb_ms         INTEGER,
    status_code     INTEGER,
    error_kind      TEXT,
    error           TEXT,
    body_excerpt    TEXT,
    cert_expires_at INTEGER,
    remote_addr     TEXT,
    details         TEXT
) STRICT;

CREATE INDEX check_results_monitor_checked_at ON check_results (monitor_id, checked_at);
CREATE INDEX check_results_checked_at ON check_results (checked_at);

CREATE TABLE users (
    id            BLOB    NOT NULL PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE api_tokens (
    id           BLOB    NOT NULL PRIMARY KEY,
    name         TEXT    NOT NULL,
    token_hash   TEXT    NOT NULL UNIQUE,
    scope        TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
) STRICT;
