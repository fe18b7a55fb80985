//! Delivery: sends encoded batches through the transport, up to
//! `max_in_flight` at once, retrying retryable failures with backoff, and
//! counting every batch that is given up on.
//!
//! Runs on its own thread with a current-thread Tokio runtime, so transports
//! can be async without the application running Tokio.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};

use crate::diagnostics::DropReporter;
use crate::metrics::Counters;
use crate::retry::RetryPolicy;
use crate::transport::{EncodedBatch, Transport, TransportError};

/// What the batch worker hands to delivery.
#[derive(Debug)]
pub(crate) enum Outgoing {
    Batch(EncodedBatch),
    /// Answer once every batch handed over before this one is settled.
    Flush(crossbeam_channel::Sender<()>),
    /// Settle everything, then stop.
    Shutdown,
}

pub(crate) struct Delivery {
    pub(crate) inbox: mpsc::Receiver<Outgoing>,
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) retry: RetryPolicy,
    pub(crate) max_in_flight: usize,
    pub(crate) send_timeout: Duration,
    pub(crate) counters: Arc<Counters>,
    pub(crate) reporter: DropReporter,
}

impl Delivery {
    pub(crate) async fn run(mut self) {
        let permits = Arc::new(Semaphore::new(self.max_in_flight));
        let all = u32::try_from(self.max_in_flight).unwrap_or(u32::MAX);
        let reporter = tokio::spawn(self.reporter.clone().run());
        while let Some(outgoing) = self.inbox.recv().await {
            match outgoing {
                Outgoing::Batch(batch) => {
                    let permit = permits
                        .clone()
                        .acquire_owned()
                        .await
                        .expect("the semaphore is never closed");
                    Counters::add(&self.counters.in_flight, 1);
                    let events = batch.event_count as u64;
                    let task = tokio::spawn(deliver(
                        batch,
                        self.transport.clone(),
                        self.retry,
                        self.send_timeout,
                        self.counters.clone(),
                    ));
                    let counters = self.counters.clone();
                    tokio::spawn(async move {
                        if task.await.is_err() {
                            // The transport panicked: the batch is lost, and
                            // counted as such.
                            Counters::add(&counters.batches_failed, 1);
                            Counters::add(&counters.events_failed, events);
                            *counters.last_error.lock() = Some("transport panicked".into());
                        }
                        counters
                            .in_flight
                            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                        drop(permit);
                    });
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
}

/// Sends one batch, retrying while the error is retryable and retries remain.
async fn deliver(
    batch: EncodedBatch,
    transport: Arc<dyn Transport>,
    retry: RetryPolicy,
    send_timeout: Duration,
    counters: Arc<Counters>,
) {
    let mut retries = 0;
    loop {
        let result = match tokio::time::timeout(send_timeout, transport.send(batch.clone())).await {
            Ok(result) => result,
            Err(_) => Err(TransportError::retryable(format!(
                "send timed out after {send_timeout:?}"
            ))),
        };
        match result {
            Ok(receipt) => {
                let rejected = receipt.rejected.min(batch.event_count as u64);
                Counters::add(&counters.batches_sent, 1);
                Counters::add(&counters.events_sent, batch.event_count as u64 - rejected);
                if rejected > 0 {
                    Counters::add(&counters.events_rejected, rejected);
                    *counters.last_rejection.lock() = receipt.reason;
                }
                return;
            }
            Err(error) if error.is_retryable() && retries < retry.max_retries => {
                retries += 1;
                Counters::add(&counters.retries, 1);
                tokio::time::sleep(retry.backoff(retries)).await;
            }
            Err(error) => {
                Counters::add(&counters.batches_failed, 1);
                Counters::add(&counters.events_failed, batch.event_count as u64);
                let why = if error.is_retryable() {
                    format!("{error} (gave up after {retries} retries)")
                } else {
                    error.to_string()
                };
                *counters.last_error.lock() = Some(why);
                return;
            }
        }
    }
}
