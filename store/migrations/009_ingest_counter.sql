-- The ingest's running counts (messages received, rows stored per table, rejects per reason),
-- added in the same transaction as the batch they count, per worker: the database keeps them,
-- so the live counters in Redis come back after Redis loses them.
CREATE TABLE pingan.ingest_counter (
    worker_id  text NOT NULL,
    name       text NOT NULL,
    value      bigint NOT NULL,
    PRIMARY KEY (worker_id, name)
);
