-- Status pages (PostgreSQL): pages declared in the config file or made through the API,
-- the public badge ids of monitors, public incident updates, when each monitor was
-- first seen (uptime does not count the time before), and hourly and daily rollups of
-- check results (region '*' is all regions together).

CREATE TABLE status_pages (
    slug       TEXT    NOT NULL PRIMARY KEY,
    config     TEXT    NOT NULL,
    domain     TEXT    UNIQUE,
    source     TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL
);

CREATE TABLE monitor_badges (
    monitor_id UUID    NOT NULL PRIMARY KEY REFERENCES monitors (id) ON DELETE CASCADE,
    badge_id   TEXT    NOT NULL UNIQUE,
    created_at BIGINT  NOT NULL
);

CREATE TABLE incident_updates (
    id          BIGSERIAL PRIMARY KEY,
    incident_id UUID    NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    at          BIGINT  NOT NULL,
    status      TEXT    NOT NULL,
    text        TEXT    NOT NULL,
    title       TEXT,
    author      TEXT
);

CREATE INDEX incident_updates_by_incident ON incident_updates (incident_id, id);

CREATE TABLE monitor_first_seen (
    monitor_id UUID    NOT NULL PRIMARY KEY REFERENCES monitors (id) ON DELETE CASCADE,
    first_at   BIGINT  NOT NULL
);

CREATE TABLE rollups_hourly (
    monitor_id   UUID    NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    region       TEXT    NOT NULL,
    bucket_start BIGINT  NOT NULL,
    checks       BIGINT  NOT NULL,
    failures     BIGINT  NOT NULL,
    degraded     BIGINT  NOT NULL,
    duration_min BIGINT,
    duration_max BIGINT,
    duration_sum BIGINT  NOT NULL,
    duration_p95 BIGINT,
    histogram    TEXT    NOT NULL,
    PRIMARY KEY (monitor_id, region, bucket_start)
);

CREATE INDEX rollups_hourly_by_time ON rollups_hourly (bucket_start);

CREATE TABLE rollups_daily (
    monitor_id   UUID    NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    region       TEXT    NOT NULL,
    bucket_start BIGINT  NOT NULL,
    checks       BIGINT  NOT NULL,
    failures     BIGINT  NOT NULL,
    degraded     BIGINT  NOT NULL,
    duration_min BIGINT,
    duration_max BIGINT,
    duration_sum BIGINT  NOT NULL,
    duration_p95 BIGINT,
    histogram    TEXT    NOT NULL,
    PRIMARY KEY (monitor_id, region, bucket_start)
);
