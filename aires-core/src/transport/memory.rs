//! A transport that keeps every batch in memory, for tests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aires_proto::v1 as proto;
use parking_lot::{Condvar, Mutex};
use prost::Message;

use super::{EncodedBatch, Receipt, SendFuture, Transport};

/// Captures batches in memory. Clones share the same store, so a test keeps
/// one clone and gives another to the pipeline.
///
/// ```
/// use std::time::Duration;
/// use aires_core::transport::MemoryTransport;
/// use aires_core::{Config, Event, Level, Pipeline};
///
/// let memory = MemoryTransport::new();
/// let pipeline = Pipeline::start(Config::new("docs").transport(memory.clone())).unwrap();
/// pipeline.emit(Event::builder(Level::Info, "hello").build());
/// pipeline.flush(Duration::from_secs(5)).unwrap();
/// assert_eq!(memory.events()[0].message, "hello");
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemoryTransport {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    batches: Mutex<Vec<EncodedBatch>>,
    changed: Condvar,
}

impl MemoryTransport {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every batch received so far, in arrival order.
    pub fn batches(&self) -> Vec<EncodedBatch> {
        self.inner.batches.lock().clone()
    }

    /// Every batch received so far, decoded.
    pub fn decoded_batches(&self) -> Vec<proto::EventBatch> {
        self.batches()
            .iter()
            .map(|b| {
                proto::EventBatch::decode(b.payload.clone())
                    .expect("pipeline encodes valid protobuf")
            })
            .collect()
    }

    /// Every event received so far, decoded, in arrival order.
    pub fn events(&self) -> Vec<proto::Event> {
        self.decoded_batches()
            .into_iter()
            .flat_map(|b| b.events)
            .collect()
    }

    /// How many events have arrived.
    pub fn event_count(&self) -> usize {
        self.inner
            .batches
            .lock()
            .iter()
            .map(|b| b.event_count)
            .sum()
    }

    /// Waits until at least `count` events have arrived, or `timeout`
    /// passes. Returns whether the count was reached.
    pub fn wait_for_events(&self, count: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut batches = self.inner.batches.lock();
        loop {
            if batches.iter().map(|b| b.event_count).sum::<usize>() >= count {
                return true;
            }
            if self
                .inner
                .changed
                .wait_until(&mut batches, deadline)
                .timed_out()
            {
                return batches.iter().map(|b| b.event_count).sum::<usize>() >= count;
            }
        }
    }

    /// Forgets every batch received so far.
    pub fn clear(&self) {
        self.inner.batches.lock().clear();
    }
}

impl Transport for MemoryTransport {
    fn send(&self, batch: EncodedBatch) -> SendFuture<'_> {
        self.inner.batches.lock().push(batch);
        self.inner.changed.notify_all();
        Box::pin(async { Ok(Receipt::default()) })
    }
}
