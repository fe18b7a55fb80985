//! Shared pieces of the integration tests: a lock for tests that use the
//! global pipeline, and transports that fail or stall on purpose, wrapped
//! around the real in-memory transport.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aires::transport::{EncodedBatch, MemoryTransport, SendFuture, Transport, TransportError};
use aires_proto::v1 as proto;
use parking_lot::{Mutex, MutexGuard};

static GLOBAL: Mutex<()> = Mutex::new(());

/// Serializes tests that init the global pipeline (the test harness runs
/// tests of one binary on several threads).
pub fn global_lock() -> MutexGuard<'static, ()> {
    let guard = GLOBAL.lock();
    let _ = aires::shutdown(Duration::from_secs(5));
    guard
}

/// The same lock, without shutting anything down: a shutdown counts as
/// one, so later events would be counted as after shutdown, not before
/// init. Every test shuts its own pipeline down before it ends.
pub fn global_lock_untouched() -> MutexGuard<'static, ()> {
    GLOBAL.lock()
}

/// A config for tests: no environment overrides, short timers.
pub fn test_config(transport: impl Transport) -> aires::Config {
    aires::Config::new("test-service")
        .environment("test")
        .env_overrides(false)
        .level(aires::LevelFilter::TRACE)
        .transport(transport)
}

/// Polls `condition` until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The attribute `key` of a decoded event.
pub fn attr<'a>(event: &'a proto::Event, key: &str) -> Option<&'a proto::attribute::Value> {
    event
        .attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref())
}

pub fn int_attr(event: &proto::Event, key: &str) -> i64 {
    match attr(event, key) {
        Some(proto::attribute::Value::IntValue(v)) => *v,
        other => panic!("attribute {key} is not an int: {other:?}"),
    }
}

/// What a [`ScriptedTransport`] does with one send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Deliver,
    /// Not delivered, worth retrying.
    Retryable,
    Permanent,
    /// Delivered, but the answer is lost: the sender cannot know.
    DeliverAnswerLost,
}

/// Plays a script of outcomes, then `after` for every later send; delivered
/// batches land in `memory`.
#[derive(Clone)]
pub struct ScriptedTransport {
    pub memory: MemoryTransport,
    script: Arc<Mutex<VecDeque<Outcome>>>,
    after: Outcome,
    pub attempts: Arc<AtomicUsize>,
    /// The attempt number of every send, in order.
    pub attempt_numbers: Arc<Mutex<Vec<u32>>>,
}

impl ScriptedTransport {
    pub fn new(script: impl IntoIterator<Item = Outcome>, after: Outcome) -> Self {
        ScriptedTransport {
            memory: MemoryTransport::new(),
            script: Arc::new(Mutex::new(script.into_iter().collect())),
            after,
            attempts: Arc::default(),
            attempt_numbers: Arc::default(),
        }
    }

    pub fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }
}

impl Transport for ScriptedTransport {
    fn send(&self, batch: EncodedBatch) -> SendFuture<'_> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        self.attempt_numbers.lock().push(batch.attempt);
        let outcome = self.script.lock().pop_front().unwrap_or(self.after);
        Box::pin(async move {
            match outcome {
                Outcome::Deliver => self.memory.send(batch).await,
                Outcome::Retryable => Err(TransportError::retryable("collector unavailable")),
                Outcome::Permanent => Err(TransportError::permanent("invalid argument")),
                Outcome::DeliverAnswerLost => {
                    self.memory.send(batch).await?;
                    Err(TransportError::outcome_unknown(
                        "connection lost after sending",
                    ))
                }
            }
        })
    }
}

/// Holds every send until [`GatedTransport::open`] is called.
#[derive(Clone)]
pub struct GatedTransport {
    pub memory: MemoryTransport,
    gate: Arc<tokio::sync::Semaphore>,
}

impl GatedTransport {
    pub fn new() -> Self {
        GatedTransport {
            memory: MemoryTransport::new(),
            gate: Arc::new(tokio::sync::Semaphore::new(0)),
        }
    }

    pub fn open(&self) {
        self.gate
            .add_permits(tokio::sync::Semaphore::MAX_PERMITS / 2);
    }
}

impl Default for GatedTransport {
    fn default() -> Self {
        GatedTransport::new()
    }
}

impl Transport for GatedTransport {
    fn send(&self, batch: EncodedBatch) -> SendFuture<'_> {
        Box::pin(async move {
            let _permit = self.gate.acquire().await.expect("gate never closes");
            self.memory.send(batch).await
        })
    }
}
