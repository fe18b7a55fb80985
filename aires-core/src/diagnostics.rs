//! The drop report: a warning, at most once per interval, summing every
//! event dropped since the last one. Drops are never logged one by one, so a
//! flood of drops costs one line per interval, and the caller's thread never
//! writes it.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::metrics::Counters;

/// Where diagnostics go: stderr unless the config names another sink.
pub type DiagnosticSink = Arc<dyn Fn(&str) + Send + Sync>;

/// Writes a diagnostic line to stderr, prefixed with `aires:`.
pub(crate) fn stderr_sink() -> DiagnosticSink {
    Arc::new(|line: &str| eprintln!("aires: {line}"))
}

#[derive(Clone, Copy, Default)]
struct Seen {
    queue_full: u64,
    after_shutdown: u64,
    transport: u64,
    rejected: u64,
    unknown: u64,
}

#[derive(Clone)]
pub(crate) struct DropReporter {
    counters: Arc<Counters>,
    queue_capacity: usize,
    interval: Duration,
    sink: DiagnosticSink,
    seen: Arc<Mutex<Seen>>,
}

impl DropReporter {
    pub(crate) fn new(
        counters: Arc<Counters>,
        queue_capacity: usize,
        interval: Duration,
        sink: DiagnosticSink,
    ) -> Self {
        DropReporter {
            counters,
            queue_capacity,
            interval,
            sink,
            seen: Arc::default(),
        }
    }

    /// Reports every `interval` until aborted.
    pub(crate) async fn run(self) {
        let mut ticks = tokio::time::interval(self.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            self.report();
        }
    }

    /// Writes one line if anything was dropped since the last report.
    pub(crate) fn report(&self) {
        let now = Seen {
            queue_full: self.counters.dropped_queue_full.get(),
            after_shutdown: self.counters.dropped_after_shutdown.get(),
            transport: Counters::get(&self.counters.events_failed),
            rejected: Counters::get(&self.counters.events_rejected),
            unknown: Counters::get(&self.counters.events_outcome_unknown),
        };
        let mut seen = self.seen.lock();
        let queue_full = now.queue_full - seen.queue_full;
        let after_shutdown = now.after_shutdown - seen.after_shutdown;
        let transport = now.transport - seen.transport;
        let rejected = now.rejected - seen.rejected;
        let unknown = now.unknown - seen.unknown;
        *seen = now;
        drop(seen);
        if unknown > 0 {
            let last = self
                .counters
                .last_unknown
                .lock()
                .clone()
                .unwrap_or_default();
            (self.sink)(&format!(
                "gave up on {unknown} events whose delivery is unknown: they may have been \
                 stored, and are not counted as dropped (last error: {last})"
            ));
        }
        let total = queue_full + after_shutdown + transport + rejected;
        if total == 0 {
            return;
        }
        let mut parts = Vec::new();
        if queue_full > 0 {
            parts.push(format!(
                "{queue_full} because the queue was full (capacity {})",
                self.queue_capacity
            ));
        }
        if transport > 0 {
            let last = self.counters.last_error.lock().clone().unwrap_or_default();
            parts.push(format!(
                "{transport} in batches that failed delivery (last error: {last})"
            ));
        }
        if rejected > 0 {
            let reason = self
                .counters
                .last_rejection
                .lock()
                .clone()
                .unwrap_or_default();
            parts.push(format!(
                "{rejected} refused by the receiver (last reason: {reason})"
            ));
        }
        if after_shutdown > 0 {
            parts.push(format!("{after_shutdown} emitted after shutdown"));
        }
        (self.sink)(&format!("dropped {total} events: {}", parts.join("; ")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Lines = Arc<Mutex<Vec<String>>>;

    /// A reporter over fresh counters (queue capacity 8) whose lines are kept.
    fn capturing_reporter() -> (Arc<Counters>, DropReporter, Lines) {
        let counters = Arc::new(Counters::default());
        let lines = Lines::default();
        let captured = lines.clone();
        let reporter = DropReporter::new(
            counters.clone(),
            8,
            Duration::from_secs(10),
            Arc::new(move |line: &str| captured.lock().push(line.to_owned())),
        );
        (counters, reporter, lines)
    }

    #[test]
    fn reports_only_new_drops_once() {
        let (counters, reporter, lines) = capturing_reporter();
        reporter.report();
        assert!(lines.lock().is_empty(), "nothing dropped, nothing said");
        counters.dropped_queue_full.add(5);
        Counters::add(&counters.events_failed, 3);
        *counters.last_error.lock() = Some("unavailable".into());
        reporter.report();
        reporter.report();
        let lines = lines.lock();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("dropped 8 events"), "{}", lines[0]);
        assert!(lines[0].contains("5 because the queue was full (capacity 8)"));
        assert!(lines[0].contains("last error: unavailable"));
    }

    #[test]
    fn reports_unknown_outcomes_apart_from_drops() {
        let (counters, reporter, lines) = capturing_reporter();
        Counters::add(&counters.events_outcome_unknown, 7);
        *counters.last_unknown.lock() = Some("send timed out".into());
        reporter.report();
        let lines = lines.lock();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].starts_with("gave up on 7 events whose delivery is unknown"));
        assert!(lines[0].contains("send timed out"));
        assert!(!lines[0].starts_with("dropped"), "{}", lines[0]);
    }
}
