-- Every event of one trace, in time order (uses the trace_id bloom filter).
-- Parameters: trace_id String (32 lower-case hex digits).
SELECT
    timestamp,
    service,
    severity,
    message,
    span_id,
    http_method,
    http_route,
    http_status,
    error_type
FROM events
WHERE trace_id = {trace_id:String}
ORDER BY timestamp
