-- Raw check results partitioned by UTC day (PostgreSQL only): retention drops a whole
-- day's partition instead of deleting its rows one by one (ARCHITECTURE.md, "Storage").
--
-- The partition key, checked_at, is part of the unique (monitor_id, region, checked_at)
-- index, so results stay unique; id stays a sequence-numbered column without an index of
-- its own (a partitioned table cannot have a primary key that leaves out the key).
-- Partitions are named check_results_pYYYYMMDD; rows outside every partition land in
-- check_results_default. The coordinator's retention task creates the days ahead and
-- drops the expired ones; this migration creates the days that hold rows (of the last
-- 400 days; older or future rows go to the default partition), today and the next three,
-- and moves every row over.

CREATE TABLE check_results_partitioned (
    id              BIGINT    NOT NULL DEFAULT nextval('check_results_id_seq'),
    monitor_id      UUID      NOT NULL,
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
) PARTITION BY RANGE (checked_at);

CREATE TABLE check_results_default PARTITION OF check_results_partitioned DEFAULT;

DO $$
DECLARE
    day_ms CONSTANT BIGINT := 86400000;
    today  CONSTANT BIGINT := (floor(extract(epoch FROM now()) * 1000 / 86400000))::BIGINT * 86400000;
    d      BIGINT;
BEGIN
    FOR d IN
        SELECT DISTINCT (checked_at / day_ms) * day_ms FROM check_results
        WHERE checked_at >= today - 400 * day_ms AND checked_at < today
        UNION
        SELECT today + k * day_ms FROM generate_series(0, 3) AS k
        ORDER BY 1
    LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF check_results_partitioned FOR VALUES FROM (%s) TO (%s)',
            'check_results_p' || to_char(to_timestamp(d / 1000) AT TIME ZONE 'UTC', 'YYYYMMDD'),
            d, d + day_ms);
    END LOOP;
END
$$;

INSERT INTO check_results_partitioned (id, monitor_id, region, checked_at, ok, state, verdict, duration_ms, dns_ms, connect_ms,
    tls_ms, ttfb_ms, status_code, error_kind, error, body_excerpt, cert_expires_at, remote_addr,
    details)
SELECT id, monitor_id, region, checked_at, ok, state, verdict, duration_ms, dns_ms, connect_ms,
    tls_ms, ttfb_ms, status_code, error_kind, error, body_excerpt, cert_expires_at, remote_addr,
    details
FROM check_results;

ALTER SEQUENCE check_results_id_seq OWNED BY NONE;
DROP TABLE check_results;
ALTER TABLE check_results_partitioned RENAME TO check_results;
ALTER SEQUENCE check_results_id_seq OWNED BY check_results.id;

ALTER TABLE check_results ADD CONSTRAINT check_results_monitor_id_fkey
    FOREIGN KEY (monitor_id) REFERENCES monitors (id) ON DELETE CASCADE;
CREATE UNIQUE INDEX check_results_once ON check_results (monitor_id, region, checked_at);
CREATE INDEX check_results_by_monitor ON check_results (monitor_id, checked_at) INCLUDE (ok, duration_ms);
CREATE INDEX check_results_checked_at ON check_results (checked_at);
