-- Several nodes on one database (ARCHITECTURE.md, "Several nodes on one PostgreSQL").
-- Every node keeps a row here while it runs; one not seen for a lease TTL is gone.
CREATE TABLE nodes (
    id UUID PRIMARY KEY,
    address TEXT NOT NULL,
    version TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL
);
-- The coordinator lease: one row. `term` grows by one each time another node (or the
-- same node after its lease ran out) takes it; the coordinator's writes are fenced by
-- it. Times are epoch milliseconds on the database's clock.
CREATE TABLE coordinator_lease (
    id SMALLINT PRIMARY KEY CHECK (id = 1),
    holder UUID,
    term BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
INSERT INTO coordinator_lease (id, holder, term, expires_at) VALUES (1, NULL, 0, 0);
