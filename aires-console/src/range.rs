//! Time ranges as people type them: `15m`, `now-1h`, an RFC 3339 time or
//! Unix milliseconds, and the round bucket sizes charts use.

use std::time::{SystemTime, UNIX_EPOCH};

/// The longest range a query may cover.
pub const MAX_RANGE_NS: i64 = 400 * 86_400 * 1_000_000_000;
/// The latest time accepted (2200-01-01): times are Unix nanoseconds from
/// 1970 on, so that no arithmetic on them can overflow.
pub const MAX_TIME_NS: i64 = 7_258_118_400 * 1_000_000_000;

/// A half-open time range `[from, to)`, in Unix nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub from_ns: i64,
    pub to_ns: i64,
}

/// A time or range that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RangeError {
    #[error("`{0}` is not a time: use `now`, `now-15m`, an RFC 3339 time or Unix milliseconds")]
    BadTime(String),
    #[error("`{0}` is not a duration: use a number and a unit, like 30s, 15m, 6h or 7d")]
    BadDuration(String),
    #[error("the range ends before it starts")]
    Backwards,
    #[error("the range is longer than 400 days")]
    TooLong,
}

pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// Reads `30s`, `15m`, `6h`, `7d`, `2w` as nanoseconds.
pub fn parse_duration(text: &str) -> Result<i64, RangeError> {
    let bad = || RangeError::BadDuration(text.to_owned());
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().map_err(|_| bad())?;
    let unit_ns: i64 = match unit {
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60 * 1_000_000_000,
        "h" => 3_600 * 1_000_000_000,
        "d" => 86_400 * 1_000_000_000,
        "w" => 7 * 86_400 * 1_000_000_000,
        _ => return Err(bad()),
    };
    number.checked_mul(unit_ns).ok_or_else(bad)
}

/// Reads a point in time relative to `now` (nanoseconds), between 1970
/// and [`MAX_TIME_NS`].
pub fn parse_time(text: &str, now: i64) -> Result<i64, RangeError> {
    let at = parse_any_time(text, now)?;
    in_bounds(at).ok_or_else(|| RangeError::BadTime(text.trim().to_owned()))
}

/// `ns` if it is a time this module works with.
fn in_bounds(ns: i64) -> Option<i64> {
    (0..=MAX_TIME_NS).contains(&ns).then_some(ns)
}

fn parse_any_time(text: &str, now: i64) -> Result<i64, RangeError> {
    let text = text.trim();
    if text == "now" {
        return Ok(now);
    }
    if let Some(ago) = text.strip_prefix("now-") {
        return Ok(now.saturating_sub(parse_duration(ago)?));
    }
    if let Ok(ms) = text.parse::<i64>() {
        return ms
            .checked_mul(1_000_000)
            .ok_or_else(|| RangeError::BadTime(text.to_owned()));
    }
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(|t| i64::try_from(t.unix_timestamp_nanos()).ok())
        .ok_or_else(|| RangeError::BadTime(text.to_owned()))
}

impl TimeRange {
    /// From `since` (a duration back from now) or `from`/`to` (times);
    /// the last hour when none is given.
    pub fn parse(
        since: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        now: i64,
    ) -> Result<TimeRange, RangeError> {
        let to_ns = match to {
            Some(t) if !t.is_empty() => parse_time(t, now)?,
            _ => now,
        };
        let from_ns = match (since, from) {
            (Some(s), _) if !s.is_empty() => {
                let back = parse_duration(s)?;
                if back > MAX_RANGE_NS {
                    return Err(RangeError::TooLong);
                }
                to_ns - back
            }
            (_, Some(f)) if !f.is_empty() => parse_time(f, now)?,
            _ => to_ns - 3_600 * 1_000_000_000,
        };
        if to_ns <= from_ns {
            return Err(RangeError::Backwards);
        }
        if to_ns - from_ns > MAX_RANGE_NS {
            return Err(RangeError::TooLong);
        }
        Ok(TimeRange { from_ns, to_ns })
    }

    /// The round bucket size (seconds) that cuts the range into at most
    /// about `buckets` buckets.
    pub fn step_seconds(&self, buckets: u32) -> i64 {
        const STEPS: [i64; 16] = [
            1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 10_800, 21_600, 86_400,
        ];
        let span = (self.to_ns - self.from_ns) / 1_000_000_000;
        let wanted = span / i64::from(buckets.clamp(10, 500)).max(1);
        STEPS
            .iter()
            .copied()
            .find(|s| *s >= wanted)
            .unwrap_or(86_400)
    }

    /// The start of every bucket of `step` seconds overlapping the range,
    /// aligned as ClickHouse's `toStartOfInterval` aligns them (to
    /// multiples of the step since the epoch).
    pub fn bucket_starts(&self, step: i64) -> Vec<i64> {
        let first = self.from_ns.div_euclid(1_000_000_000).div_euclid(step) * step;
        let last = (self.to_ns - 1).div_euclid(1_000_000_000);
        (0..)
            .map(|i| first + i * step)
            .take_while(|t| *t <= last)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_765_000_000_000_000_000;
    const S: i64 = 1_000_000_000;

    #[test]
    fn relative_absolute_and_default_ranges() {
        let r = TimeRange::parse(Some("15m"), None, None, NOW).unwrap();
        assert_eq!((r.from_ns, r.to_ns), (NOW - 900 * S, NOW));
        let r = TimeRange::parse(None, Some("now-2h"), Some("now-1h"), NOW).unwrap();
        assert_eq!((r.from_ns, r.to_ns), (NOW - 7200 * S, NOW - 3600 * S));
        let r = TimeRange::parse(
            None,
            Some("2025-12-06T10:00:00Z"),
            Some("1765016400000"),
            NOW,
        )
        .unwrap();
        assert_eq!(r.from_ns, 1_765_015_200 * S);
        assert_eq!(r.to_ns, 1_765_016_400 * S);
        let r = TimeRange::parse(None, None, None, NOW).unwrap();
        assert_eq!(r.to_ns - r.from_ns, 3600 * S);
    }

    #[test]
    fn bad_ranges_say_why() {
        assert_eq!(
            TimeRange::parse(Some("soon"), None, None, NOW),
            Err(RangeError::BadDuration("soon".into()))
        );
        assert_eq!(
            TimeRange::parse(None, Some("yesterday"), None, NOW),
            Err(RangeError::BadTime("yesterday".into()))
        );
        assert_eq!(
            TimeRange::parse(None, Some("now"), Some("now-1h"), NOW),
            Err(RangeError::Backwards)
        );
        assert_eq!(
            TimeRange::parse(Some("1000d"), None, None, NOW),
            Err(RangeError::TooLong)
        );
        assert!(parse_duration("99999999999999999999h").is_err());
    }

    #[test]
    fn times_far_out_of_range_are_refused_not_wrapped() {
        for (from, to) in [
            ("-9223372036854", "9223372036854"),
            ("-1", "now"),
            ("9223372036854", "now"),
            ("now-99999999999d", "now"),
            ("0", "7258118400001"),
        ] {
            let error = TimeRange::parse(None, Some(from), Some(to), NOW).unwrap_err();
            assert!(
                matches!(error, RangeError::BadTime(_) | RangeError::BadDuration(_)),
                "{from}..{to}: {error:?}"
            );
        }
        assert_eq!(
            TimeRange::parse(Some("9999d"), None, None, NOW),
            Err(RangeError::TooLong)
        );
        // The widest range accepted stays a small number of buckets.
        let widest = TimeRange::parse(Some("400d"), None, None, NOW).unwrap();
        assert!(widest.bucket_starts(widest.step_seconds(10)).len() <= 401);
    }

    #[test]
    fn buckets_are_round_and_cover_the_range() {
        let r = TimeRange::parse(Some("1h"), None, None, NOW).unwrap();
        let step = r.step_seconds(100);
        assert_eq!(step, 60);
        let starts = r.bucket_starts(step);
        assert!(starts.len() <= 61 && starts.len() >= 60);
        assert!(starts[0] * S <= r.from_ns && starts[0] * S + step * S > r.from_ns);
        assert!(*starts.last().unwrap() * S < r.to_ns);
        assert!(starts.windows(2).all(|w| w[1] - w[0] == step));
    }
}
