-- Raw results are partitioned by day on PostgreSQL only (see the PostgreSQL migration of
-- the same number). SQLite serves one node at a smaller scale and keeps one table, expired
-- by batched deletes; this version exists so that both backends count the same.
SELECT 1;
