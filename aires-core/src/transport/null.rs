//! A transport that discards batches, for benchmarks and load tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{EncodedBatch, Receipt, SendFuture, Transport};

/// Accepts and discards every batch, counting what it was given. Clones
/// share the counts.
#[derive(Clone, Debug, Default)]
pub struct NullTransport {
    counts: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    batches: AtomicU64,
    events: AtomicU64,
    bytes: AtomicU64,
}

impl NullTransport {
    /// A transport with zeroed counts.
    pub fn new() -> Self {
        Self::default()
    }

    /// Batches received.
    pub fn batches(&self) -> u64 {
        self.counts.batches.load(Ordering::Relaxed)
    }

    /// Events received.
    pub fn events(&self) -> u64 {
        self.counts.events.load(Ordering::Relaxed)
    }

    /// Encoded bytes received.
    pub fn bytes(&self) -> u64 {
        self.counts.bytes.load(Ordering::Relaxed)
    }
}

impl Transport for NullTransport {
    fn send(&self, batch: EncodedBatch) -> SendFuture<'_> {
        self.counts.batches.fetch_add(1, Ordering::Relaxed);
        self.counts
            .events
            .fetch_add(batch.event_count as u64, Ordering::Relaxed);
        self.counts
            .bytes
            .fetch_add(batch.payload.len() as u64, Ordering::Relaxed);
        Box::pin(std::future::ready(Ok(Receipt::default())))
    }
}
