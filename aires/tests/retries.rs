//! Retryable failures are retried with backoff, then dropped, counted and
//! reported; permanent failures are not retried.

mod common;

use std::sync::Arc;
use std::time::Duration;

use aires::{Event, Level, Pipeline, RetryPolicy};
use common::{test_config, Outcome, ScriptedTransport};
use parking_lot::Mutex;

const DEADLINE: Duration = Duration::from_secs(20);

fn fast_retries(max_retries: u32) -> RetryPolicy {
    RetryPolicy {
        max_retries,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
    }
}

fn emit(pipeline: &Pipeline, count: usize) {
    for i in 0..count {
        pipeline.emit(Event::builder(Level::Info, "e").attr("i", i).build());
    }
}

#[test]
fn retryable_failures_are_retried_until_delivered() {
    let transport =
        ScriptedTransport::new([Outcome::Retryable, Outcome::Retryable], Outcome::Deliver);
    let pipeline = Pipeline::start(test_config(transport.clone()).retry(fast_retries(3))).unwrap();
    emit(&pipeline, 5);
    pipeline.flush(DEADLINE).unwrap();
    assert_eq!(transport.attempts(), 3);
    assert_eq!(transport.memory.event_count(), 5);
    let metrics = pipeline.metrics();
    assert_eq!(metrics.batch_retries, 2);
    assert_eq!(metrics.batches_sent, 1);
    assert_eq!(metrics.events_dropped(), 0);
    // A retried batch is the same batch: same id, same bytes.
    assert_eq!(transport.memory.decoded_batches().len(), 1);
}

#[test]
fn exhausted_retries_drop_the_batch_count_it_and_report_once() {
    let transport = ScriptedTransport::new([], Outcome::Retryable);
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let captured = lines.clone();
    let pipeline = Pipeline::start(
        test_config(transport.clone())
            .retry(fast_retries(3))
            .batch_size(5)
            .drop_report_interval(Duration::from_secs(3600))
            .diagnostics(move |line| captured.lock().push(line.to_owned())),
    )
    .unwrap();
    emit(&pipeline, 10);
    pipeline.flush(DEADLINE).unwrap();
    // Two batches, each tried once and retried three times.
    assert_eq!(transport.attempts(), 8);
    let metrics = pipeline.metrics();
    assert_eq!(metrics.batches_failed, 2);
    assert_eq!(metrics.events_dropped_transport, 10);
    assert_eq!(metrics.batch_retries, 6);
    assert_eq!(metrics.events_sent, 0);
    // The report is rate limited: nothing until the interval or shutdown...
    assert!(lines.lock().is_empty(), "{:?}", lines.lock());
    pipeline.shutdown(DEADLINE).unwrap();
    // ...then one line for all ten events, naming the cause.
    let lines = lines.lock();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("dropped 10 events"), "{}", lines[0]);
    assert!(lines[0].contains("collector unavailable"), "{}", lines[0]);
    assert!(lines[0].contains("gave up after 3 retries"), "{}", lines[0]);
}

#[test]
fn permanent_failures_are_not_retried() {
    let transport = ScriptedTransport::new([Outcome::Permanent], Outcome::Deliver);
    let pipeline = Pipeline::start(
        test_config(transport.clone())
            .retry(fast_retries(3))
            .diagnostics(|_| {}),
    )
    .unwrap();
    emit(&pipeline, 4);
    pipeline.flush(DEADLINE).unwrap();
    assert_eq!(transport.attempts(), 1);
    let metrics = pipeline.metrics();
    assert_eq!(metrics.batch_retries, 0);
    assert_eq!(metrics.batches_failed, 1);
    assert_eq!(metrics.events_dropped_transport, 4);
    // The pipeline carries on with the next batch.
    emit(&pipeline, 2);
    pipeline.flush(DEADLINE).unwrap();
    assert_eq!(transport.memory.event_count(), 2);
}

#[test]
fn a_send_that_hangs_times_out_and_is_retried() {
    struct Hangs(ScriptedTransport, std::sync::atomic::AtomicBool);
    impl aires::Transport for Hangs {
        fn send(&self, batch: aires::EncodedBatch) -> aires::SendFuture<'_> {
            if !self.1.swap(true, std::sync::atomic::Ordering::SeqCst) {
                return Box::pin(std::future::pending());
            }
            self.0.send(batch)
        }
    }
    let scripted = ScriptedTransport::new([], Outcome::Deliver);
    let pipeline = Pipeline::start(
        test_config(Hangs(scripted.clone(), Default::default()))
            .retry(fast_retries(1))
            .send_timeout(Duration::from_millis(50)),
    )
    .unwrap();
    emit(&pipeline, 3);
    pipeline.flush(DEADLINE).unwrap();
    assert_eq!(scripted.memory.event_count(), 3);
    assert_eq!(pipeline.metrics().batch_retries, 1);
}

#[test]
fn events_the_receiver_refuses_are_counted_and_reported() {
    /// Stores batches but refuses two events of each, as a collector does
    /// with invalid events.
    struct Refuses(common::ScriptedTransport);
    impl aires::Transport for Refuses {
        fn send(&self, batch: aires::EncodedBatch) -> aires::SendFuture<'_> {
            let stored = self.0.send(batch);
            Box::pin(async move {
                stored.await?;
                Ok(aires::Receipt {
                    rejected: 2,
                    reason: Some("event 1: trace_id must be 16 bytes, got 3".into()),
                })
            })
        }
    }
    let scripted = ScriptedTransport::new([], Outcome::Deliver);
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let captured = lines.clone();
    let pipeline = Pipeline::start(
        test_config(Refuses(scripted.clone()))
            .batch_size(5)
            .diagnostics(move |line| captured.lock().push(line.to_owned())),
    )
    .unwrap();
    emit(&pipeline, 10);
    pipeline.shutdown(DEADLINE).unwrap();
    let metrics = pipeline.metrics();
    assert_eq!(metrics.batches_sent, 2);
    assert_eq!(metrics.events_dropped_rejected, 4);
    assert_eq!(metrics.events_sent, 6);
    let lines = lines.lock();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("4 refused by the receiver"),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains("trace_id must be 16 bytes"),
        "{}",
        lines[0]
    );
}
