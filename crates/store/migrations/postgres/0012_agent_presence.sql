-- Agents as every node last heard from them (ARCHITECTURE.md, "Several nodes on one
-- PostgreSQL"): an agent polls one node, and every node splits the region's work among
-- the same live agents. One row per agent (its token), with the node that heard it.
CREATE TABLE agent_presence (
    agent_id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    region TEXT NOT NULL,
    version TEXT,
    last_seen BIGINT NOT NULL,
    node UUID NOT NULL
);
