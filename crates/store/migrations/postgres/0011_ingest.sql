-- What a node that does not coordinate accepted (pings, results, incident actions),
-- waiting for the coordinator to apply it (ARCHITECTURE.md, "Several nodes on one
-- PostgreSQL"). The coordinator deletes a row in the transaction that writes its effect.
CREATE TABLE ingest (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    node UUID NOT NULL,
    received_at BIGINT NOT NULL
);
