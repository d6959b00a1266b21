-- Raw check results in a compact form (docs/BENCHMARKS.md, "Storage per check"): one
-- table clustered by (monitor, time, region) with no other index, small integers
-- instead of text for the monitor, the region, the verdict, the state and the error
-- kind, the peer address as bytes, and text only where a check has some (a failure's
-- message, a failed answer's body excerpt, a Redis check's figures).
--
-- monitors.result_key is the monitor's small number in check_results, given once by
-- the trigger below (never changed; a deleted monitor's results go with it).
ALTER TABLE monitors ADD COLUMN result_key INTEGER;
UPDATE monitors SET result_key = rowid;
CREATE UNIQUE INDEX monitors_result_key ON monitors (result_key);

CREATE TRIGGER monitors_result_key AFTER INSERT ON monitors WHEN NEW.result_key IS NULL
BEGIN
    UPDATE monitors SET result_key = (SELECT COALESCE(MAX(result_key), 0) + 1 FROM monitors)
    WHERE id = NEW.id;
END;

-- Region names by number; never deleted.
CREATE TABLE result_regions (
    key  INTEGER PRIMARY KEY,
    name TEXT    NOT NULL UNIQUE
) STRICT;

-- verdict: 0 up, 1 degraded, 2 down. state and error_kind: the codes of MonitorState
-- and ErrorKind (vigilmon-core). peer: IPv4 address and port (6 bytes), IPv6 (18), or
-- 0xFF followed by the text as given. Times are epoch milliseconds, as everywhere.
CREATE TABLE check_results_compact (
    monitor_key    INTEGER NOT NULL REFERENCES monitors (result_key) ON DELETE CASCADE,
    checked_at     INTEGER NOT NULL,
    region_key     INTEGER NOT NULL,
    verdict        INTEGER NOT NULL,
    state          INTEGER NOT NULL,
    error_kind     INTEGER,
    duration_ms    INTEGER NOT NULL,
    dns_ms         INTEGER,
    connect_ms     INTEGER,
    tls_ms         INTEGER,
    ttfb_ms        INTEGER,
    status_code    INTEGER,
    cert_expires_at INTEGER,
    peer           BLOB,
    message        TEXT,
    body_excerpt   TEXT,
    details        TEXT,
    PRIMARY KEY (monitor_key, checked_at, region_key)
) STRICT, WITHOUT ROWID;

INSERT INTO result_regions (name) SELECT DISTINCT region FROM check_results ORDER BY region;

INSERT INTO check_results_compact (monitor_key, checked_at, region_key, verdict, state,
    error_kind, duration_ms, dns_ms, connect_ms, tls_ms, ttfb_ms, status_code,
    cert_expires_at, peer, message, body_excerpt, details)
SELECT m.result_key, c.checked_at, r.key,
    CASE c.verdict WHEN 'up' THEN 0 WHEN 'degraded' THEN 1 ELSE 2 END,
    CASE c.state WHEN 'up' THEN 0 WHEN 'degraded' THEN 1 WHEN 'down' THEN 2
        WHEN 'pending' THEN 3 WHEN 'paused' THEN 4 ELSE 5 END,
    CASE c.error_kind WHEN 'dns' THEN 1 WHEN 'connect' THEN 2 WHEN 'tls' THEN 3
        WHEN 'timeout' THEN 4 WHEN 'status' THEN 5 WHEN 'assertion' THEN 6
        WHEN 'protocol' THEN 7 END,
    c.duration_ms, c.dns_ms, c.connect_ms, c.tls_ms, c.ttfb_ms, c.status_code,
    c.cert_expires_at,
    CASE WHEN c.remote_addr IS NULL THEN NULL ELSE CAST(x'ff' || c.remote_addr AS BLOB) END,
    c.error, c.body_excerpt, c.details
FROM check_results c
JOIN monitors m ON m.id = c.monitor_id
JOIN result_regions r ON r.name = c.region
WHERE true
ON CONFLICT DO NOTHING;

DROP TABLE check_results;
DELETE FROM sqlite_sequence WHERE name = 'check_results';
ALTER TABLE check_results_compact RENAME TO check_results;
