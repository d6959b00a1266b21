-- When the certificate a region saw in its latest check expires (HTTPS and rediss://
-- monitors), so the dashboard can say "certificate expires in 12 days" without reading
-- the history.
ALTER TABLE monitor_regions ADD COLUMN cert_expires_at INTEGER;
