-- Every change of a monitor's state, kept so that uptime counts the time a monitor was
-- down even where no incident covered it (an incident resolved by hand while checks
-- still failed), in the order they were made (`seq`). Written by triggers, so every
-- path that sets the state is logged; the update trigger's condition is checked before
-- any function runs, so the updates that leave the state as it was (nearly all of
-- them) cost nothing more.

CREATE TABLE monitor_state_changes (
    seq        BIGSERIAL PRIMARY KEY,
    monitor_id UUID   NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    at         BIGINT NOT NULL,
    state      TEXT   NOT NULL
);

CREATE INDEX monitor_state_changes_by_monitor ON monitor_state_changes (monitor_id, at);

INSERT INTO monitor_state_changes (monitor_id, at, state)
SELECT id, COALESCE(state_changed_at, updated_at), state FROM monitors;

CREATE FUNCTION monitor_state_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO monitor_state_changes (monitor_id, at, state)
    VALUES (NEW.id, COALESCE(NEW.state_changed_at, NEW.updated_at), NEW.state);
    RETURN NULL;
END
$$;

CREATE TRIGGER monitor_state_logged_on_insert AFTER INSERT ON monitors
    FOR EACH ROW EXECUTE FUNCTION monitor_state_log();

CREATE TRIGGER monitor_state_logged_on_change AFTER UPDATE OF state ON monitors
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION monitor_state_log();
