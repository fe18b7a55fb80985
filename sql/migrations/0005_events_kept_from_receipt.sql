-- Events are kept {ttl_days} days from when the collector received them,
-- not from their own timestamp. With a TTL on `timestamp`, an event whose
-- time lies further back (logs replayed over OTLP, a device with a wrong
-- clock) was acknowledged as stored and then deleted by the TTL at once:
-- lost without a word. The views' aggregates keep their TTL on their
-- minute (an old minute's counts still expire), the raw events stay.
ALTER TABLE {database}.events
    MODIFY TTL toDateTime(received_at) + INTERVAL {ttl_days} DAY;
