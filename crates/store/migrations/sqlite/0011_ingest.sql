-- What a node that does not coordinate accepted (pings, results, incident actions),
-- waiting for the coordinator to apply it (ARCHITECTURE.md, "Several nodes on one
-- PostgreSQL"). The coordinator deletes a row in the transaction that writes its effect.
CREATE TABLE ingest (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    node BLOB NOT NULL,
    received_at INTEGER NOT NULL
);
