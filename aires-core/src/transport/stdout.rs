//! A transport that prints each event as one JSON line, for development.
//!
//! Lines are written whole and never twice, also when the descriptor is
//! non-blocking, as Node makes it: each `write(2)` carries whole lines and
//! at most `PIPE_BUF` bytes, which a pipe takes atomically, and a full pipe
//! is waited on (`EAGAIN` polls) rather than failed. A line longer than
//! `PIPE_BUF` cannot be atomic; it is written in one piece as far as the
//! pipe allows. Other writers to the same pipe (`console.log`, `print`)
//! get the same guarantee only for their own writes of up to `PIPE_BUF`:
//! a larger write of theirs may be split by the pipe, with our lines in
//! between.

use std::io::{self, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aires_proto::v1 as proto;
use parking_lot::Mutex;
use prost::Message;

use super::json::event_to_json;
use super::{EncodedBatch, Receipt, SendFuture, Transport, TransportError};

/// The most one `write(2)` may carry and still be atomic on a pipe
/// (POSIX guarantees 512; Linux and macOS give 4096 and 512 at least).
const ATOMIC_WRITE: usize = 4096;

/// How long a reader may take no bytes at all before the rest of the batch
/// is given up (counted as rejected, since those lines are not written).
const STALL_LIMIT: Duration = Duration::from_secs(10);

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
        Self::with_writer(ProcessStdout)
    }

    /// Prints to `writer` instead (a file, a buffer in a test). A writer
    /// that answers `WouldBlock` is waited on, a millisecond at a time.
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
        match write_lines(&mut **out, text.as_bytes()) {
            Ok(()) => Ok(Receipt::default()),
            // Nothing went out: trying the whole batch again is safe.
            Err((0, e)) => Err(TransportError::retryable("cannot write to stdout").with_source(e)),
            // Some lines went out whole; sending them again would print them
            // twice, so the rest are counted as refused.
            Err((written, e)) => Ok(Receipt {
                rejected: (decoded.events.len() - written) as u64,
                reason: Some(format!("stdout stopped taking lines: {e}")),
            }),
        }
    }
}

/// Writes `text` (newline-terminated lines) in chunks of whole lines. On an
/// error, returns how many lines were written whole before it.
fn write_lines(out: &mut dyn Write, text: &[u8]) -> Result<(), (usize, io::Error)> {
    let mut start = 0;
    let mut last_progress = Instant::now();
    while start < text.len() {
        let end = chunk_end(text, start);
        let mut pos = start;
        while pos < end {
            match out.write(&text[pos..end]) {
                Ok(0) => {
                    return Err((lines_in(&text[..pos]), io::ErrorKind::WriteZero.into()));
                }
                Ok(n) => {
                    pos += n;
                    last_progress = Instant::now();
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if last_progress.elapsed() > STALL_LIMIT {
                        return Err((lines_in(&text[..pos]), e));
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => return Err((lines_in(&text[..pos]), e)),
            }
        }
        start = end;
    }
    out.flush().map_err(|e| (lines_in(text), e))
}

/// The end of the chunk that starts at `start`: as many whole lines as fit
/// in [`ATOMIC_WRITE`] bytes, or the one line if it alone is longer.
fn chunk_end(text: &[u8], start: usize) -> usize {
    let limit = (start + ATOMIC_WRITE).min(text.len());
    let first_line_end = match text[start..].iter().position(|&b| b == b'\n') {
        Some(i) => start + i + 1,
        None => return text.len(),
    };
    if first_line_end >= limit {
        return first_line_end;
    }
    match text[start..limit].iter().rposition(|&b| b == b'\n') {
        Some(i) => start + i + 1,
        None => first_line_end,
    }
}

fn lines_in(text: &[u8]) -> usize {
    text.iter().filter(|&&b| b == b'\n').count()
}

/// File descriptor 1, written directly so that each chunk is one
/// `write(2)`, and waited on with `poll(2)` when the descriptor is
/// non-blocking and full. Rust's own `Stdout` is locked and flushed first,
/// so `println!` output is never split by a chunk.
struct ProcessStdout;

impl Write for ProcessStdout {
    #[cfg(unix)]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut std_out = io::stdout().lock();
        std_out.flush()?;
        loop {
            // SAFETY: `buf` is valid for `buf.len()` bytes; fd 1 is only
            // written, never closed, here.
            let n = unsafe { libc::write(1, buf.as_ptr().cast(), buf.len()) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::WouldBlock {
                return Err(error);
            }
            let mut fd = libc::pollfd {
                fd: 1,
                events: libc::POLLOUT,
                revents: 0,
            };
            // SAFETY: one valid pollfd. A timeout returns to write, which
            // answers WouldBlock again and lets the caller's stall limit act.
            let ready = unsafe { libc::poll(&mut fd, 1, 1000) };
            if ready == 0 {
                return Err(error);
            }
        }
    }

    #[cfg(not(unix))]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        io::stdout().lock().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
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

    /// A pipe that takes a few bytes at a time and is often full, as a
    /// non-blocking stdout with a slow reader is.
    struct SlowPipe {
        taken: Vec<u8>,
        calls: usize,
        fail_after: Option<usize>,
        /// Whether a write is all or nothing, as a pipe's are up to `PIPE_BUF`.
        atomic: bool,
    }

    impl Write for SlowPipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.calls += 1;
            if self
                .fail_after
                .is_some_and(|limit| self.taken.len() >= limit)
            {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            if self.calls.is_multiple_of(3) {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = if self.atomic {
                buf.len()
            } else {
                buf.len().min(1 + self.calls % 700)
            };
            self.taken.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn numbered_lines(count: usize, width: usize) -> Vec<u8> {
        (0..count)
            .flat_map(|i| format!("{i:0width$}\n").into_bytes())
            .collect()
    }

    #[test]
    fn a_full_pipe_is_waited_on_and_every_line_arrives_once_and_whole() {
        let text = numbered_lines(2_000, 90);
        let mut pipe = SlowPipe {
            taken: Vec::new(),
            calls: 0,
            fail_after: None,
            atomic: false,
        };
        write_lines(&mut pipe, &text).unwrap();
        assert_eq!(pipe.taken, text);
    }

    #[test]
    fn a_reader_that_goes_away_leaves_whole_lines_and_counts_the_rest() {
        let text = numbered_lines(200, 90);
        let mut pipe = SlowPipe {
            taken: Vec::new(),
            calls: 0,
            fail_after: Some(5_000),
            atomic: true,
        };
        let (written, error) = write_lines(&mut pipe, &text).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
        // Chunks are whole lines, so what was taken ends at a line end.
        assert!(pipe.taken.ends_with(b"\n"));
        assert_eq!(written, lines_in(&pipe.taken));
        assert!(written > 0 && written < 200);
    }

    #[test]
    fn chunks_hold_whole_lines_up_to_the_atomic_size() {
        let text = numbered_lines(100, 99); // 100-byte lines
        let end = chunk_end(&text, 0);
        assert_eq!(end, 4000);
        let long = [vec![b'x'; 9000], b"\nshort\n".to_vec()].concat();
        assert_eq!(chunk_end(&long, 0), 9001, "a long line is one chunk");
        assert_eq!(chunk_end(&long, 9001), long.len());
    }
}
