//! Retryable failures are retried with backoff for the retry budget, then
//! counted and reported: as dropped when the batch is known not to be
//! stored, as outcome unknown when an attempt may have delivered it.
//! Permanent failures are not retried.

mod common;

use std::sync::Arc;
use std::time::Duration;

use aires::{Event, Level, RetryPolicy};
use aires_core::Pipeline;
use common::{test_config, Outcome, ScriptedTransport};
use parking_lot::Mutex;

const DEADLINE: Duration = Duration::from_secs(20);

fn fast_retries(max_elapsed: Duration) -> RetryPolicy {
    RetryPolicy::default()
        .max_elapsed(max_elapsed)
        .initial_backoff(Duration::from_millis(1))
        .max_backoff(Duration::from_millis(5))
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
    let pipeline =
        Pipeline::start(test_config(transport.clone()).retry(fast_retries(DEADLINE))).unwrap();
    emit(&pipeline, 5);
    pipeline.flush(DEADLINE).unwrap();
    assert_eq!(transport.attempts(), 3);
    // Each attempt says which it is, so a receiver can tell retries.
    assert_eq!(*transport.attempt_numbers.lock(), [1, 2, 3]);
    assert_eq!(transport.memory.event_count(), 5);
    let metrics = pipeline.metrics();
    assert_eq!(metrics.batch_retries, 2);
    assert_eq!(metrics.batches_sent, 1);
    assert_eq!(metrics.events_dropped(), 0);
    // A retried batch is the same batch: same id, same bytes.
    assert_eq!(transport.memory.decoded_batches().len(), 1);
}

#[test]
fn a_batch_never_delivered_is_retried_for_the_whole_budget_then_dropped_and_reported_once() {
    let transport = ScriptedTransport::new([], Outcome::Retryable);
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let captured = lines.clone();
    let budget = Duration::from_millis(300);
    let pipeline = Pipeline::start(
        test_config(transport.clone())
            .retry(fast_retries(budget))
            .batch_size(5)
            .drop_report_interval(Duration::from_secs(3600))
            .diagnostics(move |line| captured.lock().push(line.to_owned())),
    )
    .unwrap();
    let started = std::time::Instant::now();
    emit(&pipeline, 10);
    pipeline.flush(DEADLINE).unwrap();
    // Retried until the budget ran out, not for a fixed count.
    assert!(started.elapsed() >= budget - Duration::from_millis(10));
    let attempts = transport.attempts() as u64;
    assert!(attempts > 2 * 4, "two batches, {attempts} attempts");
    let metrics = pipeline.metrics();
    assert_eq!(metrics.batches_failed, 2);
    assert_eq!(metrics.events_dropped_transport, 10);
    assert_eq!(metrics.events_outcome_unknown, 0);
    assert_eq!(metrics.batch_retries, attempts - 2);
    assert_eq!(metrics.events_sent, 0);
    // The report is rate limited: nothing until the interval or shutdown...
    assert!(lines.lock().is_empty(), "{:?}", lines.lock());
    pipeline.shutdown(DEADLINE).unwrap();
    // ...then one line for all ten events, naming the cause.
    let lines = lines.lock();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("dropped 10 events"), "{}", lines[0]);
    assert!(lines[0].contains("collector unavailable"), "{}", lines[0]);
    assert!(lines[0].contains("gave up after"), "{}", lines[0]);
}

#[test]
fn retries_outlast_an_outage_of_seconds_at_the_default_policy() {
    /// Unavailable until `until`, then delivers: a collector restarting.
    struct Restarting(ScriptedTransport, std::time::Instant);
    impl aires::transport::Transport for Restarting {
        fn send(&self, batch: aires::transport::EncodedBatch) -> aires::transport::SendFuture<'_> {
            if std::time::Instant::now() < self.1 {
                return Box::pin(async {
                    Err(aires::transport::TransportError::retryable(
                        "connection refused",
                    ))
                });
            }
            self.0.send(batch)
        }
    }
    let scripted = ScriptedTransport::new([], Outcome::Deliver);
    let back_at = std::time::Instant::now() + Duration::from_secs(3);
    let pipeline =
        Pipeline::start(test_config(Restarting(scripted.clone(), back_at)).batch_size(10)).unwrap();
    emit(&pipeline, 100);
    pipeline.flush(DEADLINE).unwrap();
    let metrics = pipeline.metrics();
    assert_eq!(scripted.memory.event_count(), 100);
    assert_eq!(metrics.events_sent, 100);
    assert_eq!(metrics.events_dropped(), 0);
    assert!(metrics.batch_retries >= 10, "{metrics:?}");
}

#[test]
fn a_batch_whose_answer_was_lost_is_retried_and_never_counted_as_dropped() {
    // Every attempt reaches the receiver, and every answer is lost.
    let transport = ScriptedTransport::new([], Outcome::DeliverAnswerLost);
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let captured = lines.clone();
    let pipeline = Pipeline::start(
        test_config(transport.clone())
            .retry(fast_retries(Duration::from_millis(100)))
            .batch_size(4)
            .diagnostics(move |line| captured.lock().push(line.to_owned())),
    )
    .unwrap();
    emit(&pipeline, 8);
    pipeline.shutdown(DEADLINE).unwrap();
    let metrics = pipeline.metrics();
    assert!(transport.attempts() > 2, "retried");
    // The receiver has every event (more than once: it is its job to
    // recognise retries); none is reported as dropped.
    assert!(transport.memory.event_count() >= 8);
    assert_eq!(metrics.events_outcome_unknown, 8);
    assert_eq!(metrics.batches_outcome_unknown, 2);
    assert_eq!(metrics.events_dropped(), 0);
    assert_eq!(metrics.events_sent, 0);
    let lines = lines.lock();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("gave up on 8 events whose delivery is unknown"));
}

#[test]
fn one_attempt_of_unknown_outcome_makes_the_batch_unknown_even_if_later_ones_are_refused() {
    let transport = ScriptedTransport::new([Outcome::DeliverAnswerLost], Outcome::Retryable);
    let pipeline = Pipeline::start(
        test_config(transport.clone())
            .retry(fast_retries(Duration::from_millis(50)))
            .diagnostics(|_| {}),
    )
    .unwrap();
    emit(&pipeline, 3);
    pipeline.shutdown(DEADLINE).unwrap();
    let metrics = pipeline.metrics();
    assert_eq!(metrics.events_outcome_unknown, 3);
    assert_eq!(metrics.events_dropped_transport, 0);
}

#[test]
fn shutdown_ends_retries_at_its_deadline_with_every_batch_counted() {
    let transport = ScriptedTransport::new([], Outcome::Retryable);
    let pipeline = Pipeline::start(
        test_config(transport.clone())
            // A budget far longer than the shutdown's.
            .retry(fast_retries(Duration::from_secs(3600)))
            .batch_size(5)
            .diagnostics(|_| {}),
    )
    .unwrap();
    emit(&pipeline, 10);
    assert!(common::wait_until(DEADLINE, || transport.attempts() > 4));
    let started = std::time::Instant::now();
    pipeline.shutdown(Duration::from_secs(1)).unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    let metrics = pipeline.metrics();
    assert_eq!(metrics.events_dropped_transport, 10);
    assert_eq!(metrics.batches_in_flight, 0);
    assert_eq!(
        metrics.events_sent + metrics.events_dropped(),
        metrics.events_enqueued
    );
}

#[test]
fn a_send_still_running_at_shutdown_is_counted_as_unknown() {
    struct Hangs;
    impl aires::transport::Transport for Hangs {
        fn send(&self, _batch: aires::transport::EncodedBatch) -> aires::transport::SendFuture<'_> {
            Box::pin(std::future::pending())
        }
    }
    let pipeline = Pipeline::start(
        test_config(Hangs)
            .send_timeout(Duration::from_secs(3600))
            .diagnostics(|_| {}),
    )
    .unwrap();
    emit(&pipeline, 6);
    assert!(common::wait_until(DEADLINE, || pipeline
        .metrics()
        .batches_in_flight
        == 1));
    pipeline.shutdown(Duration::from_secs(1)).unwrap();
    let metrics = pipeline.metrics();
    assert_eq!(metrics.events_outcome_unknown, 6);
    assert_eq!(metrics.events_dropped(), 0);
}

#[test]
fn permanent_failures_are_not_retried() {
    let transport = ScriptedTransport::new([Outcome::Permanent], Outcome::Deliver);
    let pipeline = Pipeline::start(
        test_config(transport.clone())
            .retry(fast_retries(DEADLINE))
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
    impl aires::transport::Transport for Hangs {
        fn send(&self, batch: aires::transport::EncodedBatch) -> aires::transport::SendFuture<'_> {
            if !self.1.swap(true, std::sync::atomic::Ordering::SeqCst) {
                return Box::pin(std::future::pending());
            }
            self.0.send(batch)
        }
    }
    let scripted = ScriptedTransport::new([], Outcome::Deliver);
    let pipeline = Pipeline::start(
        test_config(Hangs(scripted.clone(), Default::default()))
            .retry(fast_retries(DEADLINE))
            .send_timeout(Duration::from_millis(50)),
    )
    .unwrap();
    emit(&pipeline, 3);
    pipeline.flush(DEADLINE).unwrap();
    assert_eq!(scripted.memory.event_count(), 3);
    let metrics = pipeline.metrics();
    assert_eq!(metrics.batch_retries, 1);
    assert_eq!(metrics.events_sent, 3);
    assert_eq!(metrics.events_outcome_unknown, 0);
}

#[test]
fn events_the_receiver_refuses_are_counted_and_reported() {
    /// Stores batches but refuses two events of each, as a collector does
    /// with invalid events.
    struct Refuses(common::ScriptedTransport);
    impl aires::transport::Transport for Refuses {
        fn send(&self, batch: aires::transport::EncodedBatch) -> aires::transport::SendFuture<'_> {
            let stored = self.0.send(batch);
            Box::pin(async move {
                stored.await?;
                Ok(aires::transport::Receipt::with_rejections(
                    2,
                    Some("event 1: trace_id must be 16 bytes, got 3".into()),
                ))
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
