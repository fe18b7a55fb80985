//! The `Transport` seam: where encoded batches leave the process.
//!
//! A transport gets one protobuf-encoded [`EncodedBatch`] at a time and says,
//! asynchronously, whether it was delivered. Everything else (batching,
//! retries with backoff, the in-flight limit, timeouts, counting drops) is
//! the pipeline's job, so a transport stays small. See
//! `examples/custom_transport.rs` for a complete one.
//!
//! Futures returned by [`Transport::send`] run on the pipeline's own
//! current-thread Tokio runtime (with I/O and timers enabled), never on the
//! application's.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

use crate::uuid7::Uuid7;

pub(crate) mod json;
mod memory;
mod null;
mod stdout;

pub use memory::MemoryTransport;
pub use null::NullTransport;
pub use stdout::StdoutTransport;

/// One batch, encoded as an `aires.v1.EventBatch` protobuf message.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EncodedBatch {
    /// The batch's UUID v7; also encoded inside `payload`.
    pub id: Uuid7,
    /// How many events the batch holds.
    pub event_count: usize,
    /// Which attempt at sending it this is: 1 for the first, 2 and up for
    /// retries. A transport that can should tell the receiver (the gRPC
    /// transport sets `EventBatch.attempt`), so it looks retries up among
    /// the batches it already stored.
    pub attempt: u32,
    /// The encoded `aires.v1.EventBatch`. Cheap to clone.
    pub payload: Bytes,
}

impl EncodedBatch {
    /// A batch of `event_count` events encoded in `payload` (tests of a
    /// transport; the pipeline makes the real ones), at its first attempt.
    pub fn new(id: Uuid7, payload: impl Into<Bytes>, event_count: usize) -> Self {
        EncodedBatch {
            id,
            event_count,
            attempt: 1,
            payload: payload.into(),
        }
    }
}

/// The future a transport returns for one send.
pub type SendFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Receipt, TransportError>> + Send + 'a>>;

/// What the receiver said about a batch it took. Most transports return
/// `Receipt::default()`: every event stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Receipt {
    /// Events the receiver refused one by one (for example an invalid id);
    /// the rest of the batch was stored. Counted as
    /// `events_dropped_rejected`.
    pub rejected: u64,
    /// The reason for one of the refusals, for the drop report.
    pub reason: Option<String>,
}

impl Receipt {
    /// `rejected` events were refused one by one, for `reason` (one of
    /// them); the rest of the batch was stored.
    pub fn with_rejections(rejected: u64, reason: Option<String>) -> Self {
        Receipt { rejected, reason }
    }
}

/// Wire messages of `aires.v1`, as [`MemoryTransport`] decodes them
/// (prost's structs, from the `aires-proto` crate).
pub use aires_proto::v1 as wire;

/// Delivers encoded batches somewhere.
///
/// Implementations must be cheap to call concurrently: the pipeline keeps up
/// to `max_in_flight` sends running at once. A send that fails with a
/// [retryable](TransportError::retryable) error is tried again with the same
/// batch (same id, same bytes) after a backoff.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::time::Duration;
/// use aires_core::transport::{EncodedBatch, Receipt, SendFuture, Transport};
/// use aires_core::{Config, Event, Level, Pipeline};
///
/// /// Counts events instead of sending them.
/// #[derive(Default)]
/// struct Counting(AtomicUsize);
///
/// impl Transport for Counting {
///     fn send(&self, batch: EncodedBatch) -> SendFuture<'_> {
///         self.0.fetch_add(batch.event_count, Ordering::Relaxed);
///         Box::pin(async { Ok(Receipt::default()) })
///     }
/// }
///
/// let pipeline = Pipeline::start(Config::new("docs").env_overrides(false).transport(Counting::default()))?;
/// pipeline.emit(Event::builder(Level::Info, "one").build());
/// pipeline.shutdown(Duration::from_secs(5))?;
/// assert_eq!(pipeline.metrics().events_sent, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Transport: Send + Sync + 'static {
    /// Sends one batch. Resolve to `Ok` only once the receiver has it.
    fn send(&self, batch: EncodedBatch) -> SendFuture<'_>;
}

/// Whether a failed send may succeed if tried again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A passing condition: unavailable, timed out, overloaded.
    Retryable,
    /// Trying again cannot help: rejected, unauthenticated, unsupported.
    Permanent,
}

/// Why a transport could not deliver a batch.
#[derive(Debug)]
pub struct TransportError {
    kind: ErrorKind,
    /// The send may have been delivered (see [`TransportError::outcome_unknown`]).
    outcome_unknown: bool,
    message: String,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl TransportError {
    /// A failure worth retrying.
    pub fn retryable(message: impl Into<String>) -> Self {
        TransportError {
            kind: ErrorKind::Retryable,
            outcome_unknown: false,
            message: message.into(),
            source: None,
        }
    }

    /// A failure after which the batch may or may not have been delivered:
    /// the send timed out, or the connection was lost after the batch was
    /// sent. Retryable: the receiver recognises a retry of a batch it has.
    pub fn outcome_unknown(message: impl Into<String>) -> Self {
        TransportError {
            outcome_unknown: true,
            ..TransportError::retryable(message)
        }
    }

    /// A failure that retrying cannot fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        TransportError {
            kind: ErrorKind::Permanent,
            outcome_unknown: false,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the underlying error.
    pub fn with_source(mut self, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Retryable or permanent.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether the pipeline will try again.
    pub fn is_retryable(&self) -> bool {
        self.kind == ErrorKind::Retryable
    }

    /// Whether the batch may have been delivered despite the error.
    pub fn is_outcome_unknown(&self) -> bool {
        self.outcome_unknown
    }

    /// The message given at construction.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match (self.kind, self.outcome_unknown) {
            (_, true) => "outcome unknown",
            (ErrorKind::Retryable, false) => "retryable",
            (ErrorKind::Permanent, false) => "permanent",
        };
        write!(f, "{kind} transport error: {}", self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl StdError for TransportError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_says_its_kind_and_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err = TransportError::retryable("connect failed").with_source(io);
        assert!(err.is_retryable());
        assert_eq!(
            err.to_string(),
            "retryable transport error: connect failed: refused"
        );
        assert!(err.source().is_some());
        assert_eq!(TransportError::permanent("no").kind(), ErrorKind::Permanent);
        let lost = TransportError::outcome_unknown("connection lost");
        assert!(lost.is_retryable() && lost.is_outcome_unknown());
        assert_eq!(
            lost.to_string(),
            "outcome unknown transport error: connection lost"
        );
        assert!(!err.is_outcome_unknown());
    }
}
