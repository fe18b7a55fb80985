//! A sink that discards rows, for benchmarks.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{RowBatch, Sink, SinkFuture};

/// Accepts and discards every batch, counting rows.
#[derive(Debug, Default)]
pub struct NullSink {
    rows: AtomicU64,
}

impl NullSink {
    /// Rows accepted so far.
    pub fn rows(&self) -> u64 {
        self.rows.load(Ordering::Relaxed)
    }
}

impl Sink for NullSink {
    fn write<'a>(&'a self, batch: &'a RowBatch) -> SinkFuture<'a> {
        self.rows.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Box::pin(std::future::ready(Ok(())))
    }

    fn name(&self) -> &'static str {
        "null"
    }
}
