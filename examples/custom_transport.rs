//! A custom transport: the pluggable seam in about thirty lines.
//!
//! This one appends each encoded batch to a file as a length-prefixed frame
//! (a simple spool another process could ship later), then the example reads
//! the spool back and decodes it.
//!
//!     cargo run --example custom_transport

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use aires::transport::{EncodedBatch, Receipt, SendFuture, Transport, TransportError};
use prost::Message;

/// Appends `[u32 little-endian length][EventBatch bytes]` frames to a file.
struct SpoolTransport {
    file: Mutex<File>,
}

impl Transport for SpoolTransport {
    fn send(&self, batch: EncodedBatch) -> SendFuture<'_> {
        let result = (|| {
            let mut file = self
                .file
                .lock()
                .map_err(|_| TransportError::permanent("spool lock poisoned"))?;
            let len = u32::try_from(batch.payload.len())
                .map_err(|_| TransportError::permanent("batch larger than 4 GiB"))?;
            file.write_all(&len.to_le_bytes())
                .and_then(|()| file.write_all(&batch.payload))
                // A full disk may clear up: let the pipeline retry with backoff.
                .map(|()| Receipt::default())
                .map_err(|e| TransportError::retryable("cannot write spool").with_source(e))
        })();
        // File I/O here is synchronous; a network transport would `.await`.
        Box::pin(async move { result })
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path: PathBuf =
        std::env::temp_dir().join(format!("aires-spool-{}.bin", std::process::id()));
    let file = OpenOptions::new().create(true).append(true).open(&path)?;

    let guard = aires::init(
        aires::Config::new("spooler")
            .transport(SpoolTransport {
                file: Mutex::new(file),
            })
            .batch_size(50),
    )?;
    for i in 0..120 {
        aires::info!("job step", step = i, ok = i % 7 != 0);
    }
    guard.shutdown(Duration::from_secs(5))?;

    // Read the spool back.
    let mut bytes = Vec::new();
    File::open(&path)?.read_to_end(&mut bytes)?;
    let mut rest = bytes.as_slice();
    let mut batches = 0;
    let mut events = 0;
    while rest.len() >= 4 {
        let len = u32::from_le_bytes(rest[..4].try_into()?) as usize;
        let batch = aires_proto::v1::EventBatch::decode(&rest[4..4 + len])?;
        batches += 1;
        events += batch.events.len();
        rest = &rest[4 + len..];
    }
    std::fs::remove_file(&path)?;
    println!(
        "spooled {events} events in {batches} batches to {}",
        path.display()
    );
    let metrics = aires::metrics();
    println!(
        "sent {} events, dropped {}",
        metrics.events_sent,
        metrics.events_dropped()
    );
    Ok(())
}
