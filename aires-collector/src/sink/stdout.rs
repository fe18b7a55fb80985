//! A sink that prints each row as a JSON line, for development.

use std::io::Write;

use super::{RowBatch, Sink, SinkError, SinkFuture};

/// Writes rows as JSON lines to standard output.
#[derive(Debug, Default)]
pub struct StdoutSink;

impl Sink for StdoutSink {
    fn write<'a>(&'a self, batch: &'a RowBatch) -> SinkFuture<'a> {
        let mut text = Vec::with_capacity(batch.len() * 512);
        let result = batch
            .rows()
            .try_for_each(|row| {
                serde_json::to_writer(&mut text, row)?;
                text.push(b'\n');
                Ok::<_, serde_json::Error>(())
            })
            .map_err(|e| SinkError::permanent(format!("cannot render a row as JSON: {e}")))
            .and_then(|()| {
                let mut out = std::io::stdout().lock();
                out.write_all(&text)
                    .and_then(|()| out.flush())
                    .map_err(|e| SinkError::transient(format!("cannot write to stdout: {e}")))
            });
        Box::pin(std::future::ready(result))
    }

    fn name(&self) -> &'static str {
        "stdout"
    }
}
