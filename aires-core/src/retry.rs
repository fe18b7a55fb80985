//! Retry policy: how long a failed batch is retried, and how long to wait
//! between attempts. Exponential backoff with "equal jitter": half of each
//! delay is fixed, half random, so many SDKs that failed together do not
//! retry in lockstep.
//!
//! Retries are bounded by time, not by count: what a retry has to outlast
//! is a collector restart or a short outage, and those are measured in
//! seconds, whatever the backoff.

use std::time::Duration;

use crate::uuid7::random_u64;

/// Retries of one batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// How long after its first attempt a batch may still be retried;
    /// `Duration::ZERO` disables retrying. Default 120 s: longer than a
    /// collector restart (1–2 s) or a rolling deploy of a few instances, and
    /// than the ClickHouse outages a collector rides out holding its
    /// clients' batches; short enough that an endpoint that is gone for
    /// good shows up as counted drops within minutes.
    pub max_elapsed: Duration,
    /// The delay before the first retry, before jitter. Default 100 ms.
    pub initial_backoff: Duration,
    /// The cap on any delay. Default 5 s.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_elapsed: Duration::from_secs(120),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// Sets [`RetryPolicy::max_elapsed`](#structfield.max_elapsed).
    ///
    /// ```
    /// use std::time::Duration;
    /// let retry = aires_core::RetryPolicy::default()
    ///     .max_elapsed(Duration::from_secs(30))
    ///     .initial_backoff(Duration::from_millis(50));
    /// assert_eq!(retry.max_backoff, Duration::from_secs(5));
    /// ```
    pub fn max_elapsed(mut self, max_elapsed: Duration) -> Self {
        self.max_elapsed = max_elapsed;
        self
    }

    /// Sets [`RetryPolicy::initial_backoff`](#structfield.initial_backoff).
    pub fn initial_backoff(mut self, initial_backoff: Duration) -> Self {
        self.initial_backoff = initial_backoff;
        self
    }

    /// Sets [`RetryPolicy::max_backoff`](#structfield.max_backoff).
    pub fn max_backoff(mut self, max_backoff: Duration) -> Self {
        self.max_backoff = max_backoff;
        self
    }

    /// The delay before retry number `retry` (1-based): between half and all
    /// of `min(max_backoff, initial_backoff * 2^(retry-1))`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(1u32 << retry.saturating_sub(1).min(30))
            .min(self.max_backoff);
        let half = exp / 2;
        let nanos = half.as_nanos() as u64;
        let jitter = if nanos == 0 {
            0
        } else {
            random_u64() % (nanos + 1)
        };
        half + Duration::from_nanos(jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let policy = RetryPolicy {
            max_elapsed: Duration::from_secs(60),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        for _ in 0..100 {
            let first = policy.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = policy.backoff(3);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            let capped = policy.backoff(30);
            assert!(capped >= Duration::from_millis(500) && capped <= Duration::from_secs(1));
        }
    }

    #[test]
    fn jitter_varies() {
        let policy = RetryPolicy::default();
        let delays: std::collections::HashSet<_> = (0..20).map(|_| policy.backoff(2)).collect();
        assert!(delays.len() > 1);
    }

    #[test]
    fn the_default_budget_outlasts_a_minute_long_outage() {
        assert!(RetryPolicy::default().max_elapsed >= Duration::from_secs(60));
    }
}
