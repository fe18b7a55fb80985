-- The events table: one row per event, as aires-collector writes it.
--
-- {database} and {ttl_days} are filled in by the migration runner
-- (aires-collector --clickhouse-database, --clickhouse-ttl-days).
--
-- Exactly-once on retried inserts needs non_replicated_deduplication_window
-- > 0 here (a plain MergeTree does not deduplicate by default) together
-- with the collector's insert_deduplication_token.
CREATE TABLE IF NOT EXISTS {database}.events
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
    INDEX idx_trace_id   trace_id   TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_id    span_id    TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_session_id session_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_message    message    TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toDate(timestamp)
ORDER BY (service, severity, timestamp)
TTL toDateTime(timestamp) + INTERVAL {ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 1000
