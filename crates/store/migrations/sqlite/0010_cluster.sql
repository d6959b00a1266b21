-- Several nodes on one database (ARCHITECTURE.md, "Several nodes on one PostgreSQL").
-- On SQLite there is one node (serve locks the data directory); the tables are the
-- same so that one code path serves both.
CREATE TABLE nodes (
    id BLOB PRIMARY KEY,
    address TEXT NOT NULL,
    version TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    last_seen INTEGER NOT NULL
);
-- The coordinator lease: one row. `term` grows by one each time another node (or the
-- same node after its lease ran out) takes it; the coordinator's writes are fenced by
-- it. Times are epoch milliseconds.
CREATE TABLE coordinator_lease (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    holder BLOB,
    term INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
INSERT INTO coordinator_lease (id, holder, term, expires_at) VALUES (1, NULL, 0, 0);
