-- What lists of monitors filter and order by, kept by the store beside each monitor so
-- that a search, a tag filter or one page of the dashboard is answered by the database
-- instead of reading every monitor: the search text (name, type, target and tags, in
-- lower case), the sort key (the name in lower case) and one row per tag with its
-- position (the first tag is the monitor's group on the dashboard). The store fills
-- monitors written before this version when it opens the database.
ALTER TABLE monitors ADD COLUMN search TEXT;
ALTER TABLE monitors ADD COLUMN sort_key TEXT;

CREATE TABLE monitor_tags (
    monitor_id UUID   NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    position   BIGINT NOT NULL,
    tag        TEXT   NOT NULL,
    PRIMARY KEY (monitor_id, position)
);

CREATE INDEX monitor_tags_tag ON monitor_tags (tag, monitor_id);
