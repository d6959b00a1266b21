-- Alerting (PostgreSQL): channels and policies, maintenance windows, incidents with their
-- timeline, the per-monitor memory of the alerting engine, and the durable outbox of
-- notifications with every delivery attempt.

CREATE TABLE channels (
    name       TEXT    NOT NULL PRIMARY KEY,
    kind       TEXT    NOT NULL,
    config     TEXT    NOT NULL,
    source     TEXT    NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE policies (
    name       TEXT    NOT NULL PRIMARY KEY,
    config     TEXT    NOT NULL,
    source     TEXT    NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE maintenance_windows (
    id         UUID    NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    config     TEXT    NOT NULL,
    source     TEXT    NOT NULL,
    ended_at   BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE incidents (
    id              UUID    NOT NULL PRIMARY KEY,
    monitor_id      UUID    NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    monitor_name    TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    priority        TEXT    NOT NULL,
    cause           TEXT    NOT NULL,
    regions         TEXT    NOT NULL,
    parent_id       UUID,
    opened_at       BIGINT NOT NULL,
    acknowledged_at BIGINT,
    acknowledged_by TEXT,
    resolved_at     BIGINT,
    resolved_by     TEXT
);

CREATE INDEX incidents_by_monitor ON incidents (monitor_id, opened_at);
CREATE INDEX incidents_by_state ON incidents (state, opened_at);

CREATE TABLE incident_events (
    id          BIGSERIAL PRIMARY KEY,
    incident_id UUID    NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    at          BIGINT NOT NULL,
    kind        TEXT    NOT NULL,
    text        TEXT    NOT NULL,
    actor       TEXT,
    channel     TEXT
);

CREATE INDEX incident_events_by_incident ON incident_events (incident_id, id);

CREATE TABLE monitor_alerting (
    monitor_id UUID    NOT NULL PRIMARY KEY REFERENCES monitors (id) ON DELETE CASCADE,
    state      TEXT    NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    key             TEXT    NOT NULL UNIQUE,
    incident_id     UUID,
    monitor_id      UUID,
    channel         TEXT    NOT NULL,
    event           TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    claimed_until   BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT
);

CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

CREATE TABLE delivery_attempts (
    id          BIGSERIAL PRIMARY KEY,
    outbox_id   BIGINT NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    at          BIGINT NOT NULL,
    outcome     TEXT    NOT NULL,
    error       TEXT,
    duration_ms BIGINT NOT NULL
);

CREATE INDEX delivery_attempts_by_outbox ON delivery_attempts (outbox_id, id);
