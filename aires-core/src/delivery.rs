//! Delivery: sends encoded batches through the transport, up to
//! `max_in_flight` at once, retrying retryable failures with backoff for the
//! retry policy's time budget, and settling every batch in exactly one
//! counter: sent, failed (known not stored), or outcome unknown.
//!
//! An attempt that timed out or lost its connection after sending may have
//! been stored. Such a batch is retried like any other (the collector
//! recognises the retry by its batch id and bytes); if it is finally given
//! up on, it is counted as `events_outcome_unknown`, never as dropped.
//!
//! At shutdown, retries stop at the shutdown's deadline (see
//! [`GiveUp`]), so that a shutdown returns with every batch settled and
//! counted instead of leaving retries running into the process's exit.
//!
//! Runs on its own thread with a current-thread Tokio runtime, so transports
//! can be async without the application running Tokio.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch, Semaphore};

use crate::diagnostics::DropReporter;
use crate::metrics::Counters;
use crate::retry::RetryPolicy;
use crate::spool::Spool;
use crate::transport::{EncodedBatch, Transport, TransportError};

/// What the batch worker hands to delivery.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// One or more batches, in order: the worker groups batches cut while
    /// more events were waiting, so that one wake-up carries them all.
    Batches(Vec<EncodedBatch>),
    /// Answer once every batch handed over before this one is settled.
    Flush(crossbeam_channel::Sender<()>),
    /// Settle everything, then stop.
    Shutdown,
}

/// When retrying must stop, whatever the budget left: set by a shutdown to
/// its deadline. Sends still running then are abandoned and counted as
/// outcome unknown.
pub(crate) type GiveUp = watch::Receiver<Option<Instant>>;

pub(crate) struct Delivery {
    pub(crate) inbox: mpsc::Receiver<Outgoing>,
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) retry: RetryPolicy,
    pub(crate) max_in_flight: usize,
    /// One permit per batch that may be in flight; the batch worker looks
    /// at it to grow batches while none is free (see `batch_worker`).
    pub(crate) window: Arc<Semaphore>,
    pub(crate) send_timeout: Duration,
    pub(crate) counters: Arc<Counters>,
    pub(crate) reporter: DropReporter,
    pub(crate) give_up: GiveUp,
    /// Copies of batches on disk until settled, if configured.
    pub(crate) spool: Option<Arc<Spool>>,
    /// Batches an earlier process left in the spool: sent first.
    pub(crate) replay: Vec<EncodedBatch>,
}

impl Delivery {
    pub(crate) async fn run(mut self) {
        let permits = self.window.clone();
        let all = u32::try_from(self.max_in_flight).unwrap_or(u32::MAX);
        let reporter = tokio::spawn(self.reporter.clone().run());
        for batch in std::mem::take(&mut self.replay) {
            Counters::add(&self.counters.events_replayed, batch.event_count as u64);
            self.send(batch, &permits, false).await;
        }
        while let Some(outgoing) = self.inbox.recv().await {
            match outgoing {
                Outgoing::Batches(group) => {
                    for batch in group {
                        self.send(batch, &permits, true).await;
                    }
                }
                Outgoing::Flush(reply) => {
                    let settled = permits.acquire_many(all).await.expect("never closed");
                    drop(settled);
                    let _ = reply.try_send(());
                }
                Outgoing::Shutdown => break,
            }
        }
        let settled = permits.acquire_many(all).await.expect("never closed");
        drop(settled);
        reporter.abort();
        self.reporter.report();
    }

    /// Starts delivering `batch` once a slot of the in-flight window is
    /// free, with a copy in the spool (`spool_it`, unless it is there
    /// already) until it is settled.
    async fn send(&self, batch: EncodedBatch, permits: &Arc<Semaphore>, spool_it: bool) {
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        if let (Some(spool), true) = (&self.spool, spool_it) {
            if !spool.keep(&batch) {
                Counters::add(&self.counters.batches_not_spooled, 1);
            }
        }
        Counters::add(&self.counters.in_flight, 1);
        let events = batch.event_count as u64;
        let attempts = Attempts {
            transport: self.transport.clone(),
            retry: self.retry,
            send_timeout: self.send_timeout,
            give_up: self.give_up.clone(),
            counters: self.counters.clone(),
        };
        let spool = self.spool.clone();
        let give_up = self.give_up.clone();
        let counters = self.counters.clone();
        tokio::spawn(async move {
            let task = tokio::spawn(attempts.deliver(batch.clone()));
            let settled = match task.await {
                Ok(settled) => settled,
                // The transport panicked during a send: whether that send
                // reached the receiver is unknown.
                Err(_) => Settled::Unknown {
                    why: "the transport panicked".into(),
                },
            };
            // Cut short by a shutdown and in the spool: the next start
            // sends it, so it is neither dropped nor unknown.
            let cut_short = !matches!(settled, Settled::Sent { .. })
                && give_up.borrow().is_some_and(|at| Instant::now() >= at);
            match &spool {
                Some(spool) if cut_short && spool.holds(&batch) => {
                    Counters::add(&counters.events_left_in_spool, events);
                }
                Some(spool) => {
                    spool.settled(&batch);
                    settled.count(&counters, events);
                }
                None => settled.count(&counters, events),
            }
            counters
                .in_flight
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            drop(permit);
        });
    }
}

/// How one batch ended.
#[derive(Debug, PartialEq, Eq)]
enum Settled {
    /// The receiver has it; it refused `rejected` of its events one by one.
    Sent {
        rejected: u64,
        reason: Option<String>,
    },
    /// Known not stored: every attempt failed before the receiver could
    /// store anything, or the receiver refused it.
    Failed { why: String },
    /// Given up on with at least one attempt whose outcome is unknown: it
    /// may have been stored.
    Unknown { why: String },
}

impl Settled {
    fn count(self, counters: &Counters, events: u64) {
        match self {
            Settled::Sent { rejected, reason } => {
                let rejected = rejected.min(events);
                Counters::add(&counters.batches_sent, 1);
                Counters::add(&counters.events_sent, events - rejected);
                if rejected > 0 {
                    Counters::add(&counters.events_rejected, rejected);
                    *counters.last_rejection.lock() = reason;
                }
            }
            Settled::Failed { why } => {
                Counters::add(&counters.batches_failed, 1);
                Counters::add(&counters.events_failed, events);
                *counters.last_error.lock() = Some(why);
            }
            Settled::Unknown { why } => {
                Counters::add(&counters.batches_outcome_unknown, 1);
                Counters::add(&counters.events_outcome_unknown, events);
                *counters.last_unknown.lock() = Some(why);
            }
        }
    }
}

/// What sending one batch needs.
struct Attempts {
    transport: Arc<dyn Transport>,
    retry: RetryPolicy,
    send_timeout: Duration,
    give_up: GiveUp,
    counters: Arc<Counters>,
}

impl Attempts {
    /// Sends `batch` until it is delivered, fails for good, or the retry
    /// budget (or a shutdown) ends the retries. Each attempt carries its
    /// number, so the receiver knows which sends are retries.
    async fn deliver(mut self, mut batch: EncodedBatch) -> Settled {
        let budget_ends = Instant::now() + self.retry.max_elapsed;
        // A batch replayed from the spool may have been sent before.
        let first_attempt = batch.attempt.max(1);
        let mut retries = 0u32;
        let mut unknown = false;
        loop {
            if retries == 0 && self.give_up.borrow().is_some_and(|at| Instant::now() >= at) {
                return Settled::Failed {
                    why: "the pipeline shut down before the batch could be sent".into(),
                };
            }
            batch.attempt = first_attempt + retries;
            let error = match self.attempt(&batch).await {
                Ok(receipt) => {
                    return Settled::Sent {
                        rejected: receipt.rejected,
                        reason: receipt.reason,
                    }
                }
                Err(error) => error,
            };
            unknown |= error.is_outcome_unknown();
            if error.is_retryable() {
                let delay = self.retry.backoff(retries + 1);
                if self.wait_to_retry(delay, budget_ends).await {
                    retries += 1;
                    Counters::add(&self.counters.retries, 1);
                    continue;
                }
            }
            let why = if error.is_retryable() {
                format!("{error} (gave up after {retries} retries)")
            } else {
                error.to_string()
            };
            return if unknown {
                Settled::Unknown { why }
            } else {
                Settled::Failed { why }
            };
        }
    }

    /// One send, bounded by the send timeout and by a shutdown's deadline;
    /// either ends it with its outcome unknown.
    async fn attempt(
        &mut self,
        batch: &EncodedBatch,
    ) -> Result<crate::transport::Receipt, TransportError> {
        let send = tokio::time::timeout(self.send_timeout, self.transport.send(batch.clone()));
        tokio::select! {
            result = send => result.unwrap_or_else(|_| {
                Err(TransportError::outcome_unknown(format!(
                    "send timed out after {:?}",
                    self.send_timeout
                )))
            }),
            () = given_up(&mut self.give_up) => Err(TransportError::outcome_unknown(
                "the pipeline shut down while the batch was being sent",
            )),
        }
    }

    /// Waits `delay` before a retry; false if the retry budget or a
    /// shutdown ends first.
    async fn wait_to_retry(&mut self, delay: Duration, budget_ends: Instant) -> bool {
        if Instant::now() + delay > budget_ends {
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => !self.give_up.borrow().is_some_and(|at| Instant::now() >= at),
            () = given_up(&mut self.give_up) => false,
        }
    }
}

/// Resolves once the give-up instant is set and has passed.
async fn given_up(give_up: &mut GiveUp) {
    loop {
        let at = *give_up.borrow_and_update();
        match at {
            Some(at) => {
                tokio::time::sleep_until(at.into()).await;
                return;
            }
            None => {
                if give_up.changed().await.is_err() {
                    // No shutdown will come: never resolves.
                    std::future::pending::<()>().await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::{Receipt, SendFuture};
    use crate::uuid7::Uuid7;
    use parking_lot::Mutex;
    use std::collections::VecDeque;

    /// A transport that answers each attempt from a script (and never
    /// answers once the script is spent), recording the attempt numbers.
    #[derive(Default)]
    struct Scripted {
        answers: Mutex<VecDeque<Result<Receipt, TransportError>>>,
        attempts: Mutex<Vec<u32>>,
    }

    impl Transport for Scripted {
        fn send(&self, batch: EncodedBatch) -> SendFuture<'_> {
            self.attempts.lock().push(batch.attempt);
            let answer = self.answers.lock().pop_front();
            Box::pin(async move {
                match answer {
                    Some(answer) => answer,
                    None => std::future::pending().await,
                }
            })
        }
    }

    fn batch() -> EncodedBatch {
        EncodedBatch {
            id: Uuid7::now(),
            event_count: 10,
            attempt: 1,
            payload: bytes::Bytes::from_static(b"batch"),
        }
    }

    /// Delivers one batch through `answers`, with a short retry budget;
    /// returns how it settled and the attempt numbers sent.
    fn deliver(
        answers: Vec<Result<Receipt, TransportError>>,
        budget: Duration,
        give_up_at: Option<Instant>,
    ) -> (Settled, Vec<u32>, Arc<Counters>) {
        let transport = Arc::new(Scripted {
            answers: Mutex::new(answers.into()),
            ..Scripted::default()
        });
        let counters = Arc::new(Counters::default());
        let (_set_give_up, give_up) = watch::channel(give_up_at);
        let attempts = Attempts {
            transport: transport.clone(),
            retry: RetryPolicy {
                max_elapsed: budget,
                initial_backoff: Duration::from_millis(1),
                max_backoff: Duration::from_millis(2),
            },
            send_timeout: Duration::from_millis(50),
            give_up,
            counters: counters.clone(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let settled = runtime.block_on(attempts.deliver(batch()));
        let numbers = transport.attempts.lock().clone();
        (settled, numbers, counters)
    }

    #[test]
    fn retryable_failures_are_retried_with_numbered_attempts_until_sent() {
        let (settled, attempts, counters) = deliver(
            vec![
                Err(TransportError::retryable("collector restarting")),
                Err(TransportError::retryable("collector restarting")),
                Ok(Receipt::default()),
            ],
            Duration::from_secs(10),
            None,
        );
        assert_eq!(
            settled,
            Settled::Sent {
                rejected: 0,
                reason: None
            }
        );
        assert_eq!(attempts, [1, 2, 3]);
        assert_eq!(
            counters.retries.load(std::sync::atomic::Ordering::Relaxed),
            2
        );
    }

    #[test]
    fn a_permanent_error_fails_at_once() {
        let (settled, attempts, _) = deliver(
            vec![Err(TransportError::permanent("unauthenticated"))],
            Duration::from_secs(10),
            None,
        );
        assert!(matches!(settled, Settled::Failed { why } if why.contains("unauthenticated")));
        assert_eq!(attempts, [1]);
    }

    #[test]
    fn known_failures_until_the_budget_ends_fail_and_one_unknown_makes_it_unknown() {
        let known: Vec<_> = (0..1000)
            .map(|_| Err(TransportError::retryable("connection refused")))
            .collect();
        let (settled, attempts, _) = deliver(known, Duration::from_millis(30), None);
        assert!(
            matches!(&settled, Settled::Failed { why } if why.contains("gave up")),
            "{settled:?}"
        );
        assert!(attempts.len() > 1);

        let mut mixed = vec![Err(TransportError::outcome_unknown(
            "connection lost after sending",
        ))];
        mixed.extend((0..1000).map(|_| Err(TransportError::retryable("connection refused"))));
        let (settled, _, _) = deliver(mixed, Duration::from_millis(30), None);
        assert!(matches!(settled, Settled::Unknown { .. }), "{settled:?}");
    }

    #[test]
    fn a_send_that_never_answers_times_out_as_unknown() {
        let (settled, attempts, _) = deliver(Vec::new(), Duration::ZERO, None);
        assert!(
            matches!(&settled, Settled::Unknown { why } if why.contains("timed out")),
            "{settled:?}"
        );
        assert_eq!(attempts, [1]);
    }

    #[test]
    fn after_the_shutdown_deadline_nothing_more_is_sent() {
        let past = Instant::now() - Duration::from_millis(1);
        let (settled, attempts, _) = deliver(
            vec![Ok(Receipt::default())],
            Duration::from_secs(10),
            Some(past),
        );
        assert!(matches!(settled, Settled::Failed { .. }), "{settled:?}");
        assert!(attempts.is_empty(), "no attempt after the deadline");
    }

    #[test]
    fn each_outcome_is_counted_once_in_its_own_counters() {
        let counters = Counters::default();
        Settled::Sent {
            rejected: 3,
            reason: Some("bad id".into()),
        }
        .count(&counters, 10);
        Settled::Failed {
            why: "refused".into(),
        }
        .count(&counters, 5);
        Settled::Unknown {
            why: "timed out".into(),
        }
        .count(&counters, 7);
        assert_eq!(
            counters
                .events_sent
                .load(std::sync::atomic::Ordering::Relaxed),
            7
        );
        assert_eq!(
            counters
                .events_rejected
                .load(std::sync::atomic::Ordering::Relaxed),
            3
        );
        assert_eq!(
            counters
                .events_failed
                .load(std::sync::atomic::Ordering::Relaxed),
            5
        );
        assert_eq!(
            counters
                .events_outcome_unknown
                .load(std::sync::atomic::Ordering::Relaxed),
            7
        );
        assert_eq!(
            (
                counters
                    .batches_sent
                    .load(std::sync::atomic::Ordering::Relaxed),
                counters
                    .batches_failed
                    .load(std::sync::atomic::Ordering::Relaxed),
                counters
                    .batches_outcome_unknown
                    .load(std::sync::atomic::Ordering::Relaxed)
            ),
            (1, 1, 1)
        );
    }
}
