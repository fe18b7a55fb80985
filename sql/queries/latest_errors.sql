-- The latest errors of one service, newest first.
-- Parameters: service String, limit UInt32.
SELECT timestamp, severity, message, error_type, error_message, error_chain, trace_id
FROM events
WHERE service = {service:String}
  AND severity IN ('error', 'fatal')
ORDER BY timestamp DESC
LIMIT {limit:UInt32}
