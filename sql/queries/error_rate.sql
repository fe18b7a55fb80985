-- Error rate per minute of one service over the last {minutes} minutes.
-- Parameters: service String, minutes UInt32. Run in the Aires database.
SELECT
    minute,
    sum(total) AS events,
    sum(errors) AS errors,
    round(errors / events, 4) AS error_rate
FROM error_rate_per_minute
WHERE service = {service:String}
  AND minute >= now() - toIntervalMinute({minutes:UInt32})
GROUP BY minute
ORDER BY minute
