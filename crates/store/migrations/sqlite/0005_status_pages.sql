-- Status pages (SQLite): pages declared in the config file or made through the API,
-- the public badge ids of monitors, public incident updates, when each monitor was
-- first seen (uptime does not count the time before), and hourly and daily rollups of
-- check results (region '*' is all regions together).

CREATE TABLE status_pages (
    slug       TEXT    NOT NULL PRIMARY KEY,
    config     TEXT    NOT NULL,
    domain     TEXT    UNIQUE,
    source     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE monitor_badges (
    monitor_id BLOB    NOT NULL PRIMARY KEY REFERENCES monitors (id) ON DELETE CASCADE,
    badge_id   TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE incident_updates (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id BLOB    NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    status      TEXT    NOT NULL,
    text        TEXT    NOT NULL,
    title       TEXT,
    author      TEXT
) STRICT;

CREATE INDEX incident_updates_by_incident ON incident_updates (incident_id, id);

CREATE TABLE monitor_first_seen (
    monitor_id BLOB    NOT NULL PRIMARY KEY REFERENCES monitors (id) ON DELETE CASCADE,
    first_at   INTEGER NOT NULL
) STRICT;

CREATE TABLE rollups_hourly (
    monitor_id   BLOB    NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    region       TEXT    NOT NULL,
    bucket_start INTEGER NOT NULL,
    checks       INTEGER NOT NULL,
    failures     INTEGER NOT NULL,
    degraded     INTEGER NOT NULL,
    duration_min INTEGER,
    duration_max INTEGER,
    duration_sum INTEGER NOT NULL,
    duration_p95 INTEGER,
    histogram    TEXT    NOT NULL,
    PRIMARY KEY (monitor_id, region, bucket_start)
) STRICT;

CREATE INDEX rollups_hourly_by_time ON rollups_hourly (bucket_start);

CREATE TABLE rollups_daily (
    monitor_id   BLOB    NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    region       TEXT    NOT NULL,
    bucket_start INTEGER NOT NULL,
    checks       INTEGER NOT NULL,
    failures     INTEGER NOT NULL,
    degraded     INTEGER NOT NULL,
    duration_min INTEGER,
    duration_max INTEGER,
    duration_sum INTEGER NOT NULL,
    duration_p95 INTEGER,
    histogram    TEXT    NOT NULL,
    PRIMARY KEY (monitor_id, region, bucket_start)
) STRICT;
