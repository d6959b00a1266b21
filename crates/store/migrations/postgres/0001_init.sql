-- Vigilmon schema, version 1 (PostgreSQL).
--
-- Timestamps are epoch milliseconds (BIGINT), like on SQLite, so both backends share
-- one encoding. Every integer column is BIGINT so rows decode to i64 on both backends.
-- JSON columns are JSONB. Enumerated text columns carry no CHECK constraint: the store
-- validates every value when it decodes a row, and new values need no migration.

CREATE TABLE monitors (
    id               UUID    NOT NULL PRIMARY KEY,
    name             TEXT    NOT NULL CONSTRAINT monitors_name_key UNIQUE,
    kind             TEXT    NOT NULL,
    config           JSONB   NOT NULL,
    source           TEXT    NOT NULL,
    paused           BOOLEAN NOT NULL,
    state            TEXT    NOT NULL,
    state_changed_at BIGINT,
    last_checked_at  BIGINT,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL
);

CREATE TABLE monitor_regions (
    monitor_id           UUID   NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    region               TEXT   NOT NULL,
    state                TEXT   NOT NULL,
    consecutive_failures BIGINT NOT NULL,
    checked_at           BIGINT,
    duration_ms          BIGINT,
    error_kind           TEXT,
    error                TEXT,
    PRIMARY KEY (monitor_id, region)
);

CREATE TABLE check_results (
    id              BIGSERIAL PRIMARY KEY,
    monitor_id      UUID      NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    region          TEXT      NOT NULL,
    checked_at      BIGINT    NOT NULL,
    ok              BOOLEAN   NOT NULL,
    state           TEXT      NOT NULL,
    verdict         TEXT      NOT NULL,
    duration_ms     BIGINT    NOT NULL,
    dns_ms          BIGINT,
    connect_ms      BIGINT,
    tls_ms          BIGINT,
    ttfb_ms         BIGINT,
    status_code     BIGINT,
    error_kind      TEXT,
    error           TEXT,
    body_excerpt    TEXT,
    cert_expires_at BIGINT,
    remote_addr     TEXT,
    details         TEXT
);

CREATE INDEX check_results_monitor_checked_at ON check_results (monitor_id, checked_at);
CREATE INDEX check_results_checked_at ON check_results (checked_at);

CREATE TABLE users (
    id            UUID   NOT NULL PRIMARY KEY,
    email         TEXT   NOT NULL CONSTRAINT users_email_key UNIQUE,
    password_hash TEXT   NOT NULL,
    role          TEXT   NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    id           UUID   NOT NULL PRIMARY KEY,
    name         TEXT   NOT NULL,
    token_hash   TEXT   NOT NULL CONSTRAINT api_tokens_token_hash_key UNIQUE,
    scope        TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
