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
        };
        let mut seen = self.seen.lock();
        let queue_full = now.queue_full - seen.queue_full;
        let after_shutdown = now.after_shutdown - seen.after_shutdown;
        let transport = now.transport - seen.transport;
        let rejected = now.rejected - seen.rejected;
        *seen = now;
        drop(seen);
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

    #[test]
    fn reports_only_new_drops_once() {
        let counters = Arc::new(Counters::default());
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let captured = lines.clone();
        let reporter = DropReporter::new(
            counters.clone(),
            8,
            Duration::from_secs(10),
            Arc::new(move |line: &str| captured.lock().push(line.to_owned())),
        );
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
}
