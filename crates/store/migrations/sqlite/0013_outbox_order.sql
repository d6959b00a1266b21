-- An incident's notifications to a channel are sent in the order they were queued:
-- a claim looks for an earlier pending row of the same incident and channel.
CREATE INDEX outbox_incident_order ON outbox (incident_id, channel, id) WHERE status = 'pending';
