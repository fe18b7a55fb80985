-- Cluster variant of migrations/0001..0004 for users who outgrow one
-- ClickHouse node: each shard keeps its rows in ReplicatedMergeTree tables
-- (replicated within the shard), and Distributed tables spread inserts and
-- fan queries out. Apply by hand (or with your own tooling) after replacing
-- {database}, {cluster} and {ttl_days}, then run the collector with
-- --no-migrate --clickhouse-table events_distributed
-- --clickhouse-ledger-table batches_distributed.
--
-- Replicated tables deduplicate retried inserts by default, so the
-- collector's insert_deduplication_token works as on one node. By default
-- an insert into a Distributed table is answered once it is queued on the
-- node that took it; for the collector's acks to mean "stored on the
-- shard", give the collector's user distributed_foreground_insert = 1
-- (formerly insert_distributed_sync) in its settings profile.
--
-- Kept in step with the migrations by aires-collector/tests/cluster_schema.rs,
-- which applies both to a ClickHouse engine and compares their catalogues
-- (columns, codecs, indexes, keys, TTLs, views). It cannot run ON CLUSTER,
-- the Replicated engines (Keeper) or the Distributed tables on one node.

CREATE DATABASE IF NOT EXISTS {database} ON CLUSTER {cluster};

CREATE TABLE IF NOT EXISTS {database}.events ON CLUSTER {cluster}
(
    timestamp           DateTime64(9, 'UTC') CODEC(Delta(8), ZSTD(1)),
    received_at         DateTime64(9, 'UTC') CODEC(Delta(8), ZSTD(1)),
    id                  UUID,
    service             LowCardinality(String),
    environment         LowCardinality(String),
    severity            LowCardinality(String),
    message             String CODEC(ZSTD(3)),
    trace_id            String CODEC(ZSTD(1)),
    span_id             String CODEC(ZSTD(1)),
    session_id          String CODEC(ZSTD(1)),
    attributes_string   Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    attributes_int      Map(LowCardinality(String), Int64) CODEC(ZSTD(1)),
    attributes_float    Map(LowCardinality(String), Float64) CODEC(ZSTD(1)),
    attributes_bool     Map(LowCardinality(String), Bool) CODEC(ZSTD(1)),
    tags                Array(LowCardinality(String)),
    http_method         LowCardinality(String),
    http_route          LowCardinality(String),
    http_path           String CODEC(ZSTD(1)),
    http_status         UInt16,
    http_duration_ns    UInt64 CODEC(T64, ZSTD(1)),
    http_user_agent     String CODEC(ZSTD(1)),
    http_client_ip      String CODEC(ZSTD(1)),
    http_request_bytes  UInt64 CODEC(T64, ZSTD(1)),
    http_response_bytes UInt64 CODEC(T64, ZSTD(1)),
    http_host           LowCardinality(String),
    http_scheme         LowCardinality(String),
    error_type          LowCardinality(String),
    error_message       String CODEC(ZSTD(3)),
    error_chain         Array(String) CODEC(ZSTD(3)),
    error_backtrace     String CODEC(ZSTD(3)),
    file                LowCardinality(String),
    line                UInt32,
    module              LowCardinality(String),
    function            LowCardinality(String),
    sdk_name            LowCardinality(String),
    sdk_version         LowCardinality(String),
    batch_id            UUID,
    batch_digest        UInt128 CODEC(ZSTD(1)),
    INDEX idx_trace_id   trace_id   TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_id    span_id    TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_session_id session_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_message    message    TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 1
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/events', '{replica}')
PARTITION BY toDate(timestamp)
ORDER BY (service, severity, timestamp)
TTL toDateTime(received_at) + INTERVAL {ttl_days} DAY;

-- Events of one trace land on one shard, so a trace lookup reads one
-- shard; events without a trace spread evenly.
CREATE TABLE IF NOT EXISTS {database}.events_distributed ON CLUSTER {cluster}
AS {database}.events
ENGINE = Distributed({cluster}, {database}, events, if(trace_id = '', rand(), cityHash64(trace_id)));

CREATE TABLE IF NOT EXISTS {database}.error_rate_per_minute ON CLUSTER {cluster}
(
    service LowCardinality(String),
    minute  DateTime('UTC'),
    total   UInt64,
    errors  UInt64
)
ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/{database}/error_rate_per_minute', '{replica}')
PARTITION BY toDate(minute)
ORDER BY (service, minute)
TTL minute + INTERVAL {ttl_days} DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.mv_error_rate ON CLUSTER {cluster}
TO {database}.error_rate_per_minute
AS SELECT service, toStartOfMinute(timestamp) AS minute, count() AS total,
          countIf(severity IN ('error', 'fatal')) AS errors
FROM {database}.events
GROUP BY service, minute;

CREATE TABLE IF NOT EXISTS {database}.error_rate_per_minute_distributed ON CLUSTER {cluster}
AS {database}.error_rate_per_minute
ENGINE = Distributed({cluster}, {database}, error_rate_per_minute);

CREATE TABLE IF NOT EXISTS {database}.http_latency_per_minute ON CLUSTER {cluster}
(
    service     LowCardinality(String),
    route       LowCardinality(String),
    minute      DateTime('UTC'),
    requests    SimpleAggregateFunction(sum, UInt64),
    duration_ms AggregateFunction(quantiles(0.5, 0.95, 0.99), Float64)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/http_latency_per_minute', '{replica}')
PARTITION BY toDate(minute)
ORDER BY (service, route, minute)
TTL minute + INTERVAL {ttl_days} DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.mv_http_latency ON CLUSTER {cluster}
TO {database}.http_latency_per_minute
AS SELECT service, http_route AS route, toStartOfMinute(timestamp) AS minute,
          toUInt64(count()) AS requests,
          quantilesState(0.5, 0.95, 0.99)(http_duration_ns / 1e6) AS duration_ms
FROM {database}.events
WHERE http_route != ''
GROUP BY service, route, minute;

CREATE TABLE IF NOT EXISTS {database}.http_latency_per_minute_distributed ON CLUSTER {cluster}
AS {database}.http_latency_per_minute
ENGINE = Distributed({cluster}, {database}, http_latency_per_minute);

-- The ledger of stored batches (migration 0004): one row per received
-- batch and shard its rows went to, filled by the view where the rows are
-- inserted; look-ups go through the Distributed table, so they see every
-- shard. With distributed_foreground_insert = 1 (above), a batch's ledger
-- rows exist by the time its insert is answered.
CREATE TABLE IF NOT EXISTS {database}.batches ON CLUSTER {cluster}
(
    batch_digest UInt128,
    batch_id     UUID,
    rows         UInt64,
    stored_at    DateTime64(9, 'UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/batches', '{replica}')
ORDER BY batch_digest
TTL toDateTime(stored_at) + INTERVAL {ttl_days} DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.mv_batches ON CLUSTER {cluster}
TO {database}.batches
AS SELECT batch_digest, any(batch_id) AS batch_id, count() AS rows,
          max(received_at) AS stored_at
FROM {database}.events
GROUP BY batch_digest;

CREATE TABLE IF NOT EXISTS {database}.batches_distributed ON CLUSTER {cluster}
AS {database}.batches
ENGINE = Distributed({cluster}, {database}, batches);
