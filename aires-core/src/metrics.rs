//! Self-metrics: what the pipeline did with the events it was given.
//!
//! Counters written on the caller's thread (drops) are striped over
//! cache-padded cells so that producers on several cores do not fight over
//! one cache line. Counters written only by the worker threads are plain
//! atomics. An accepted event increments nothing on the caller's thread:
//! `events_enqueued` is derived from the queue's claims (one position) and
//! the events ever appended to the overflow list.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

const STRIPES: usize = 8;

/// A counter that many threads add to without sharing a cache line.
#[derive(Debug)]
pub(crate) struct StripedCounter {
    stripes: [CachePadded<AtomicU64>; STRIPES],
}

thread_local! {
    static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
}

static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

fn stripe_index() -> usize {
    STRIPE
        .try_with(|cell| {
            let mut index = cell.get();
            if index == usize::MAX {
                index = NEXT_STRIPE.fetch_add(1, Ordering::Relaxed) % STRIPES;
                cell.set(index);
            }
            index
        })
        .unwrap_or(0)
}

impl Default for StripedCounter {
    fn default() -> Self {
        StripedCounter::new()
    }
}

impl StripedCounter {
    pub(crate) const fn new() -> Self {
        StripedCounter {
            stripes: [const { CachePadded::new(AtomicU64::new(0)) }; STRIPES],
        }
    }

    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.stripes[stripe_index()].fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.stripes.iter().map(|s| s.load(Ordering::Relaxed)).sum()
    }
}

/// The live counters of one pipeline.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) dropped_queue_full: StripedCounter,
    pub(crate) dropped_after_shutdown: StripedCounter,
    pub(crate) dropped_abandoned: StripedCounter,
    pub(crate) events_sent: AtomicU64,
    pub(crate) events_failed: AtomicU64,
    pub(crate) events_rejected: AtomicU64,
    pub(crate) batches_sent: AtomicU64,
    pub(crate) batches_failed: AtomicU64,
    pub(crate) events_outcome_unknown: AtomicU64,
    pub(crate) batches_outcome_unknown: AtomicU64,
    pub(crate) events_replayed: AtomicU64,
    pub(crate) events_left_in_spool: AtomicU64,
    pub(crate) batches_not_spooled: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) values_truncated: AtomicU64,
    pub(crate) in_flight: AtomicU64,
    /// The last delivery error, for the rate-limited drop report.
    pub(crate) last_error: Mutex<Option<String>>,
    /// Why the last batch of unknown outcome was given up on.
    pub(crate) last_unknown: Mutex<Option<String>>,
    /// The last reason the receiver gave for refusing an event.
    pub(crate) last_rejection: Mutex<Option<String>>,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// A snapshot of a pipeline's self-metrics. Every event handed to Aires (or
/// replayed from the spool) ends up in exactly one of: still queued or in
/// flight, `events_sent`, `events_outcome_unknown`, `events_left_in_spool`,
/// or one of the `events_dropped_*` counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Events accepted into the queue (or the overflow list), whatever
    /// became of them since; it only grows.
    pub events_enqueued: u64,
    /// Events the transport confirmed.
    pub events_sent: u64,
    /// Events dropped because the queue was full (or, with the blocking
    /// policy, stayed full for the whole timeout).
    pub events_dropped_queue_full: u64,
    /// Events below the runtime level, skipped before they were built.
    /// Only macro call sites that reach the runtime check count here.
    pub events_dropped_filtered: u64,
    /// Events emitted before `init`.
    pub events_dropped_before_init: u64,
    /// Events emitted after `shutdown`.
    pub events_dropped_after_shutdown: u64,
    /// Events in batches known not to be stored: refused by the receiver,
    /// or every attempt failed before it could be delivered, until the
    /// retry budget ran out.
    pub events_dropped_transport: u64,
    /// Events in batches given up on (retry budget spent, or shutdown)
    /// after an attempt whose outcome is unknown: a send that timed out, or
    /// a connection lost after sending. They may have been stored; they
    /// are not counted as dropped. Re-sending them risks duplicates.
    pub events_outcome_unknown: u64,
    /// Batches given up on with their outcome unknown.
    pub batches_outcome_unknown: u64,
    /// Events of batches an earlier process left in the spool, sent again
    /// by this one (counted in sent, dropped or unknown like the others).
    pub events_replayed: u64,
    /// Events of batches a shutdown's deadline cut short, left in the spool
    /// for the next start to send.
    pub events_left_in_spool: u64,
    /// Batches sent without a copy in the spool (it was full, or could not
    /// be written).
    pub batches_not_spooled: u64,
    /// Events the receiver refused one by one (the rest of their batch was
    /// stored), for example for an id of the wrong length.
    pub events_dropped_rejected: u64,
    /// Events whose building unwound: a field's conversion panicked after
    /// the event had its queue slot.
    pub events_dropped_abandoned: u64,
    /// Batches the transport confirmed.
    pub batches_sent: u64,
    /// Batches known not to be stored, given up on.
    pub batches_failed: u64,
    /// Send attempts that were retried.
    pub batch_retries: u64,
    /// Messages or values cut at the size limits (see `Limits`).
    pub values_truncated: u64,
    /// Events waiting in the queue right now.
    pub queue_depth: u64,
    /// Batches being sent right now.
    pub batches_in_flight: u64,
}

impl Metrics {
    /// Every counter by its name (snake case), `events_dropped` (the sum)
    /// included: what the bindings' `metrics()` return, in their own case,
    /// and what an exporter of these metrics iterates. A list, so that a new
    /// counter does not change the type.
    pub fn named(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("events_enqueued", self.events_enqueued),
            ("events_sent", self.events_sent),
            ("events_dropped", self.events_dropped()),
            ("events_dropped_queue_full", self.events_dropped_queue_full),
            ("events_dropped_filtered", self.events_dropped_filtered),
            (
                "events_dropped_before_init",
                self.events_dropped_before_init,
            ),
            (
                "events_dropped_after_shutdown",
                self.events_dropped_after_shutdown,
            ),
            ("events_dropped_transport", self.events_dropped_transport),
            ("events_dropped_rejected", self.events_dropped_rejected),
            ("events_dropped_abandoned", self.events_dropped_abandoned),
            ("events_outcome_unknown", self.events_outcome_unknown),
            ("batches_outcome_unknown", self.batches_outcome_unknown),
            ("events_replayed", self.events_replayed),
            ("events_left_in_spool", self.events_left_in_spool),
            ("batches_not_spooled", self.batches_not_spooled),
            ("batches_sent", self.batches_sent),
            ("batches_failed", self.batches_failed),
            ("batch_retries", self.batch_retries),
            ("values_truncated", self.values_truncated),
            ("queue_depth", self.queue_depth),
            ("batches_in_flight", self.batches_in_flight),
        ]
    }

    /// All dropped events, whatever the reason.
    pub fn events_dropped(&self) -> u64 {
        self.events_dropped_queue_full
            + self.events_dropped_filtered
            + self.events_dropped_before_init
            + self.events_dropped_after_shutdown
            + self.events_dropped_transport
            + self.events_dropped_rejected
            + self.events_dropped_abandoned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn striped_counter_sums_every_thread() {
        static COUNTER: StripedCounter = StripedCounter::new();
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..10_000 {
                        COUNTER.add(1);
                    }
                });
            }
        });
        assert_eq!(COUNTER.get(), 40_000);
    }

    #[test]
    fn named_lists_every_counter_once() {
        // Every field, each with its own value: a new field must be added
        // here (the literal does not compile without it) and to `named`.
        let m = Metrics {
            events_enqueued: 1,
            events_sent: 2,
            events_dropped_queue_full: 3,
            events_dropped_filtered: 4,
            events_dropped_before_init: 5,
            events_dropped_after_shutdown: 6,
            events_dropped_transport: 7,
            events_outcome_unknown: 8,
            batches_outcome_unknown: 9,
            events_replayed: 10,
            events_left_in_spool: 11,
            batches_not_spooled: 12,
            events_dropped_rejected: 13,
            events_dropped_abandoned: 14,
            batches_sent: 15,
            batches_failed: 16,
            batch_retries: 17,
            values_truncated: 18,
            queue_depth: 19,
            batches_in_flight: 20,
        };
        let mut values: Vec<u64> = m
            .named()
            .iter()
            .filter(|(name, _)| *name != "events_dropped")
            .map(|(_, v)| *v)
            .collect();
        values.sort_unstable();
        assert_eq!(values, (1..=20).collect::<Vec<_>>());
        let names: std::collections::HashSet<_> = m.named().iter().map(|(n, _)| *n).collect();
        assert_eq!(names.len(), 21);
    }

    #[test]
    fn dropped_total_adds_every_reason() {
        let m = Metrics {
            events_dropped_queue_full: 1,
            events_dropped_filtered: 2,
            events_dropped_before_init: 3,
            events_dropped_after_shutdown: 4,
            events_dropped_transport: 5,
            events_dropped_rejected: 6,
            events_dropped_abandoned: 7,
            ..Metrics::default()
        };
        assert_eq!(m.events_dropped(), 28);
    }
}
