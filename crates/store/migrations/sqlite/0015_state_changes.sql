-- Every change of a monitor's state, kept so that uptime counts the time a monitor was
-- down even where no incident covered it (an incident resolved by hand while checks
-- still failed), in the order they were made (`seq`). Written by triggers, so every
-- path that sets the state is logged.

CREATE TABLE monitor_state_changes (
    seq        INTEGER PRIMARY KEY,
    monitor_id BLOB    NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    at         INTEGER NOT NULL,
    state      TEXT    NOT NULL
) STRICT;

CREATE INDEX monitor_state_changes_by_monitor ON monitor_state_changes (monitor_id, at);

INSERT INTO monitor_state_changes (monitor_id, at, state)
SELECT id, COALESCE(state_changed_at, updated_at), state FROM monitors;

CREATE TRIGGER monitor_state_logged_on_insert AFTER INSERT ON monitors
BEGIN
    INSERT INTO monitor_state_changes (monitor_id, at, state)
    VALUES (NEW.id, COALESCE(NEW.state_changed_at, NEW.created_at), NEW.state);
END;

CREATE TRIGGER monitor_state_logged_on_change AFTER UPDATE OF state ON monitors
WHEN OLD.state IS NOT NEW.state
BEGIN
    INSERT INTO monitor_state_changes (monitor_id, at, state)
    VALUES (NEW.id, COALESCE(NEW.state_changed_at, NEW.updated_at), NEW.state);
END;
