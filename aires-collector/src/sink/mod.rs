//! The `Sink` seam: where the pipeline's row batches are stored.
//!
//! A sink stores one batch at a time and says whether a failure is
//! transient (the pipeline retries the same batch, with the same token,
//! while backpressure holds the clients) or permanent (the batch's events
//! are answered with an error). Built in: [`ClickHouseSink`],
//! [`StdoutSink`] (JSON lines) and [`NullSink`] (discards, for benchmarks).

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::identity::{alone_token, insert_token, Digest, Part};
use crate::row::Row;

pub mod clickhouse;
mod null;
mod stdout;

pub use self::clickhouse::{ClickHouseConfig, ClickHouseSink};
pub use null::NullSink;
pub use stdout::StdoutSink;

/// Rows to store together, kept as the chunks they arrived in (one per
/// batch received): gathering a batch moves chunk handles, not rows (a row
/// is several hundred bytes).
#[derive(Clone, Debug, Default)]
pub struct RowBatch {
    chunks: Vec<Vec<Row>>,
    parts: Vec<Part>,
    len: usize,
    token: String,
}

impl RowBatch {
    /// A batch of `chunks` of rows, each the rows of the received batch
    /// named by the same entry of `parts`.
    ///
    /// # Panics
    /// If `chunks` and `parts` differ in length.
    pub fn new(chunks: Vec<Vec<Row>>, parts: Vec<Part>) -> Self {
        assert_eq!(chunks.len(), parts.len(), "one part per chunk");
        let len = chunks.iter().map(Vec::len).sum();
        let token = insert_token(&parts);
        RowBatch {
            chunks,
            parts,
            len,
            token,
        }
    }

    /// The rows of one batch that may already be stored by another
    /// collector, to be inserted on their own: the token names only the
    /// batch (see [`alone_token`]).
    pub fn alone(rows: Vec<Row>, part: Part) -> Self {
        RowBatch {
            len: rows.len(),
            token: alone_token(&part.digest),
            chunks: vec![rows],
            parts: vec![part],
        }
    }

    /// The rows of each received batch, and which batch each is.
    pub fn into_chunks(self) -> (Vec<Vec<Row>>, Vec<Part>) {
        (self.chunks, self.parts)
    }

    /// The rows, in order.
    pub fn rows(&self) -> impl Iterator<Item = &Row> {
        self.chunks.iter().flatten()
    }

    /// The received batches the rows come from, in order.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// Identifies exactly these rows (see [`insert_token`]); the same on
    /// every retry of this batch. Stores that deduplicate (ClickHouse's
    /// `insert_deduplication_token`) use it so a retried write is stored
    /// once, and two different writes are never taken for one another.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// How many rows.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The future of one write.
pub type SinkFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SinkError>> + Send + 'a>>;

/// The future of a ledger look-up: the digests found.
pub type LookupFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<Digest>, SinkError>> + Send + 'a>>;

/// Stores row batches.
pub trait Sink: Send + Sync + 'static {
    /// Stores `batch`. Resolve to `Ok` only once it is durably stored.
    fn write<'a>(&'a self, batch: &'a RowBatch) -> SinkFuture<'a>;

    /// Which of `digests` name received batches whose rows this sink has
    /// stored, by any collector writing to it, at any time within its
    /// memory (ClickHouse: the `batches` ledger and its TTL). The pipeline
    /// asks only for retries it does not know itself. A sink that keeps no
    /// ledger finds none, and a retry it cannot recognise is stored again.
    fn stored_batches<'a>(&'a self, digests: &'a [Digest]) -> LookupFuture<'a> {
        let _ = digests;
        Box::pin(async { Ok(Vec::new()) })
    }

    /// A short name for logs and metrics.
    fn name(&self) -> &'static str;
}

/// Whether a failed write may succeed if tried again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinkErrorKind {
    /// Connection refused, timeout, overload: retry.
    Transient,
    /// Schema mismatch, authentication: retrying cannot help.
    Permanent,
}

/// Why a write failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkError {
    pub kind: SinkErrorKind,
    pub message: String,
}

impl SinkError {
    /// A failure worth retrying.
    pub fn transient(message: impl Into<String>) -> Self {
        SinkError {
            kind: SinkErrorKind::Transient,
            message: message.into(),
        }
    }

    /// A failure retrying cannot fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        SinkError {
            kind: SinkErrorKind::Permanent,
            message: message.into(),
        }
    }
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            SinkErrorKind::Transient => "transient",
            SinkErrorKind::Permanent => "permanent",
        };
        write!(f, "{kind} sink error: {}", self.message)
    }
}

impl std::error::Error for SinkError {}
