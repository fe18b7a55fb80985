-- The ledger of stored batches: one row per received batch (per insert
-- that stored it), keyed by the batch's digest, which the collector puts in
-- every row's batch_digest column. A materialized view fills it from the
-- same insert as the rows, so the rows and their ledger entry are stored
-- and deduplicated together. The collector looks up only batches that a
-- client marks as retries (EventBatch.attempt > 1) and that it does not
-- know itself: after its own restart, or when the first attempt went to
-- another collector writing to the same ClickHouse.
ALTER TABLE {database}.events
    ADD COLUMN IF NOT EXISTS batch_digest UInt128 CODEC(ZSTD(1)) AFTER batch_id;

CREATE TABLE IF NOT EXISTS {database}.batches
(
    batch_digest UInt128,
    batch_id     UUID,
    rows         UInt64,
    stored_at    DateTime64(9, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY batch_digest
TTL toDateTime(stored_at) + INTERVAL {ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.mv_batches
TO {database}.batches
AS SELECT
    batch_digest,
    any(batch_id) AS batch_id,
    count() AS rows,
    max(received_at) AS stored_at
FROM {database}.events
GROUP BY batch_digest
