-- Agents (SQLite): agent tokens are bound to a region, and results are unique per
-- monitor, region and time, so a batch an agent sends twice is stored once.

ALTER TABLE api_tokens ADD COLUMN region TEXT;

CREATE UNIQUE INDEX check_results_once ON check_results (monitor_id, region, checked_at);
