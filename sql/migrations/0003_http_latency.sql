-- Request count and latency quantile state per service, route and minute,
-- for events with HTTP information. Read with countMerge-free sums and
-- quantilesMerge(0.5, 0.95, 0.99)(duration_ms).
CREATE TABLE IF NOT EXISTS {database}.http_latency_per_minute
(
    service     LowCardinality(String),
    route       LowCardinality(String),
    minute      DateTime('UTC'),
    requests    SimpleAggregateFunction(sum, UInt64),
    duration_ms AggregateFunction(quantiles(0.5, 0.95, 0.99), Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(minute)
ORDER BY (service, route, minute)
TTL minute + INTERVAL {ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.mv_http_latency
TO {database}.http_latency_per_minute
AS SELECT
    service,
    http_route AS route,
    toStartOfMinute(timestamp) AS minute,
    toUInt64(count()) AS requests,
    quantilesState(0.5, 0.95, 0.99)(http_duration_ns / 1e6) AS duration_ms
FROM {database}.events
WHERE http_route != ''
GROUP BY service, route, minute
