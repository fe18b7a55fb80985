//! A transport that prints each event as one JSON line, for development.

use std::io::{self, Write};
use std::sync::Arc;

use aires_proto::v1 as proto;
use parking_lot::Mutex;
use prost::Message;

use super::json::event_to_json;
use super::{EncodedBatch, SendFuture, Transport, TransportError};

/// Writes events as JSON lines (to stdout unless another writer is given).
/// The batch is decoded back from protobuf, so what is printed is exactly
/// what a collector would receive.
#[derive(Clone)]
pub struct StdoutTransport {
    out: Arc<Mutex<Box<dyn Write + Send>>>,
}

impl std::fmt::Debug for StdoutTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdoutTransport").finish_non_exhaustive()
    }
}

impl Default for StdoutTransport {
    fn default() -> Self {
        Self::new()
    }
}

impl StdoutTransport {
    /// Prints to the process's standard output.
    pub fn new() -> Self {
        Self::with_writer(io::stdout())
    }

    /// Prints to `writer` instead (a file, a buffer in a test).
    pub fn with_writer(writer: impl Write + Send + 'static) -> Self {
        StdoutTransport {
            out: Arc::new(Mutex::new(Box::new(writer))),
        }
    }

    fn write_batch(&self, batch: &EncodedBatch) -> Result<(), TransportError> {
        let decoded = proto::EventBatch::decode(batch.payload.clone())
            .map_err(|e| TransportError::permanent("batch is not valid protobuf").with_source(e))?;
        let mut text = String::with_capacity(decoded.events.len() * 256);
        for event in &decoded.events {
            text.push_str(&event_to_json(&decoded, event).to_string());
            text.push('\n');
        }
        let mut out = self.out.lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| TransportError::retryable("cannot write to stdout").with_source(e))
    }
}

impl Transport for StdoutTransport {
    fn send(&self, batch: EncodedBatch) -> SendFuture<'_> {
        let result = self.write_batch(&batch);
        Box::pin(async move { result })
    }
}
