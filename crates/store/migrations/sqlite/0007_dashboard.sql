-- The web UI's dashboard reads, for every monitor, the raw results after the rollup
-- watermark (its 24-hour counts), the raw results of the last 30 minutes (its
-- sparklines) and the hourly rollups of all regions over 23 hours. These covering
-- indexes let it answer all three from the index alone instead of visiting every
-- wide row; results are read monitor by monitor, so they come grouped, unsorted.

-- One monitor's results over a time range, with what the counts and sparklines need.
-- Replaces the index on (monitor_id, checked_at), which it serves as well, so writing
-- a result still updates two indexes.
CREATE INDEX check_results_by_monitor ON check_results (monitor_id, checked_at, ok, duration_ms);
DROP INDEX check_results_monitor_checked_at;

-- One region's rollups over a time range (the dashboard reads region '*').
CREATE INDEX rollups_hourly_region_time ON rollups_hourly (region, bucket_start, monitor_id, checks, failures);
