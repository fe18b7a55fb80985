-- Errors per service per minute, kept up to date as events are inserted.
-- SummingMergeTree adds up the rows of a (service, minute) as parts merge;
-- queries still sum() because merging happens in the background.
CREATE TABLE IF NOT EXISTS {database}.error_rate_per_minute
(
    service LowCardinality(String),
    minute  DateTime('UTC'),
    total   UInt64,
    errors  UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toDate(minute)
ORDER BY (service, minute)
TTL minute + INTERVAL {ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.mv_error_rate
TO {database}.error_rate_per_minute
AS SELECT
    service,
    toStartOfMinute(timestamp) AS minute,
    count() AS total,
    countIf(severity IN ('error', 'fatal')) AS errors
FROM {database}.events
GROUP BY service, minute
