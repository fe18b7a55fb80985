//! A transport that prints each event as one JSON line, for development.

use std::io::{self, Write};
use std::sync::Arc;

use aires_proto::v1 as proto;
use parking_lot::Mutex;
use prost::Message;

use super::json::event_to_json;
use super::{EncodedBatch, Receipt, SendFuture, Transport, TransportError};

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

    fn write_batch(&self, batch: &EncodedBatch) -> Result<Receipt, TransportError> {
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
            .map(|()| Receipt::default())
            .map_err(|e| TransportError::retryable("cannot write to stdout").with_source(e))
    }
}

impl Transport for StdoutTransport {
    fn send(&self, batch: EncodedBatch) -> SendFuture<'_> {
        let result = self.write_batch(&batch);
        Box::pin(async move { result })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Event, HttpInfo, Level, Pipeline, TraceId};
    use std::time::Duration;

    /// A writer whose bytes the test can read afterwards.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn prints_one_json_object_per_event() {
        let out = Shared::default();
        let pipeline = Pipeline::start(
            Config::new("api")
                .environment("dev")
                .env_overrides(false)
                .transport(StdoutTransport::with_writer(out.clone())),
        )
        .unwrap();
        pipeline.emit(
            Event::builder(Level::Warn, "slow")
                .attr("ms", 812)
                .trace_id(TraceId::from_int(0xabc))
                .http(HttpInfo::new("GET", "/x").status(200))
                .build(),
        );
        pipeline.emit(Event::builder(Level::Info, "second").build());
        pipeline.shutdown(Duration::from_secs(10)).unwrap();
        let text = String::from_utf8(out.0.lock().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["level"], "warn");
        assert_eq!(lines[0]["message"], "slow");
        assert_eq!(lines[0]["service"], "api");
        assert_eq!(lines[0]["environment"], "dev");
        assert_eq!(lines[0]["fields"]["ms"], 812);
        assert_eq!(lines[0]["trace_id"], "00000000000000000000000000000abc");
        assert_eq!(lines[0]["http"]["status"], 200);
        assert_eq!(lines[1]["message"], "second");
        assert!(lines[1]["ts"].as_str().unwrap().ends_with('Z'));
    }
}
