-- Events whose message contains a word (hasToken uses the tokenbf_v1 index
-- on message), newest first.
-- Parameters: token String (one word, no separators), minutes UInt32, limit UInt32.
SELECT timestamp, service, severity, message, trace_id
FROM events
WHERE hasToken(message, {token:String})
  AND timestamp >= now64(9) - toIntervalMinute({minutes:UInt32})
ORDER BY timestamp DESC
LIMIT {limit:UInt32}
