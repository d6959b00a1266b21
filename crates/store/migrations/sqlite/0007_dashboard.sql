-- The web UI's dashboard reads the recent results of every monitor by time (the
-- 24-hour counts after the rollup watermark, the sparklines' last 30 minutes) and
-- sums the hourly rollups of all regions over 23 hours. These covering indexes let
-- it answer both from the index alone instead of visiting every wide row.

-- Leads with checked_at, so it also serves everything the old index did (retention,
-- the oldest result); the old one goes, so writes keep one index on time.
CREATE INDEX check_results_recent ON check_results (checked_at, monitor_id, ok, duration_ms);
DROP INDEX check_results_checked_at;

-- One region's rollups over a time range (the dashboard reads region '*').
CREATE INDEX rollups_hourly_region_time ON rollups_hourly (region, bucket_start, monitor_id, checks, failures);
