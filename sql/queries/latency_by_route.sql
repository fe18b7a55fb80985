-- p50/p95/p99 request latency per route of one service over the last
-- {minutes} minutes, from the mv_http_latency aggregates.
-- Parameters: service String, minutes UInt32.
SELECT
    route,
    requests,
    round(q[1], 2) AS p50_ms,
    round(q[2], 2) AS p95_ms,
    round(q[3], 2) AS p99_ms
FROM
(
    SELECT
        route,
        sum(requests) AS requests,
        quantilesMerge(0.5, 0.95, 0.99)(duration_ms) AS q
    FROM http_latency_per_minute
    WHERE service = {service:String}
      AND minute >= now() - toIntervalMinute({minutes:UInt32})
    GROUP BY route
)
ORDER BY requests DESC
