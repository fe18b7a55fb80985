//! The pipeline: a bounded queue of requests -> N processors (decode into
//! rows) -> a batcher (1000 rows or 500 ms) -> one sink writer.
//!
//! **Backpressure.** A request takes one permit per event (up to
//! `queue_capacity`) and its share of the memory budget
//! (`max_pending_bytes`, see [`budget`]) before it enters the queue. It
//! gives the events back when it is answered, and its share of the budget
//! once its answer is handed to the client's connection (the answer keeps
//! only its own size until then). When the sink is slow, capacity
//! runs out, `submit` waits, the gRPC handlers stop reading, and HTTP/2
//! flow control slows the clients. A request too large for the whole
//! budget is refused.
//!
//! **Acknowledgement.** `submit` returns a receiver that is answered only
//! once every row of the request is stored (or has failed for good), so an
//! ingest answer means "stored" (at-least-once). Retries of a batch this
//! collector has are answered from [`recent_batches`].
//!
//! **Retries from before a restart, or sent to another instance.** A batch
//! the client marks as a retry (`EventBatch.attempt` > 1) that this
//! collector does not know is looked up in the sink's ledger of stored
//! batches ([`Sink::stored_batches`]; in ClickHouse, the `batches` table a
//! materialized view fills from the same insert as the rows). Found, it is
//! decoded for its answer (the same accepted count and rejections as the
//! first time) but not stored again. First attempts are not looked up
//! (the batcher looks up those of an insert failing for 10 s).
//!
//! **Batching under load.** While a write is in flight the next batch keeps
//! growing until it holds `max_batch_rows` (plus at most one request's
//! rows): a slow store gets fewer, larger writes, which is what ClickHouse
//! does best.

mod ack;
mod batcher;
pub mod budget;
pub mod journal;
pub mod recent_batches;
mod replay;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, Semaphore};
use tokio::task::JoinHandle;

use ack::{abandoned, stopped, Settlement};
pub use ack::{Ack, AckOutcome, Answer};
use batcher::{Batcher, Chunk};
use budget::ByteBudget;
use journal::{Journal, LoggedBatch, Unsettled};
use recent_batches::{Admission, RecentBatches};

use crate::decode::EncodedBatch;
use crate::identity::{BatchKey, Digest, Part, Scope};
use crate::sink::Sink;
use crate::telemetry::Metrics;

/// Pipeline options.
#[derive(Clone, Debug)]
pub struct PipelineConfig {
    /// Rows per sink write when the sink keeps up.
    pub batch_size: usize,
    /// A partial batch is written this long after its first row.
    pub batch_timeout: Duration,
    /// Threads decoding requests into rows.
    pub processors: usize,
    /// Events accepted and not yet answered, at most.
    pub queue_capacity: usize,
    /// Bytes held by requests accepted and not yet answered, at most (see
    /// [`budget`]).
    pub max_pending_bytes: usize,
    /// The growing batch stops taking rows at this size (it may exceed it by
    /// the rows of one request).
    pub max_batch_rows: usize,
    /// First delay before retrying a transient sink failure (doubles to 5 s).
    pub retry_backoff: Duration,
    /// What an answer to a client means.
    pub ack: AckMode,
}

/// What the collector's answer to a batch means.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AckMode {
    /// Every accepted event is stored in the sink (ClickHouse). The default:
    /// the answer is the end-to-end guarantee.
    #[default]
    Stored,
    /// Every accepted event is in the write-ahead log (`--data-dir`), to be
    /// stored even if the collector is killed first: lower latency, and a
    /// store outage holds the collector's memory and disk, not its
    /// clients.
    Persisted,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            batch_size: 1000,
            batch_timeout: Duration::from_millis(500),
            processors: std::thread::available_parallelism().map_or(2, |n| n.get()),
            queue_capacity: 100_000,
            max_pending_bytes: 256 << 20,
            max_batch_rows: 100_000,
            retry_backoff: Duration::from_millis(100),
            ack: AckMode::Stored,
        }
    }
}

/// Work for a processor: one request, still encoded.
struct Work {
    batch: EncodedBatch,
    received_ns: i64,
    digest: Digest,
    ack: Arc<Ack>,
    /// The sink's ledger has this batch: answer it, do not store it again.
    stored_before: bool,
    /// Where the batch is in the write-ahead log, if there is one.
    lsn: Option<u64>,
    /// The batch may be stored by another collector meanwhile: insert it
    /// on its own (see [`crate::identity::alone_token`]).
    alone: bool,
}

/// The running pipeline. Clones share it; it stops once every clone is
/// dropped and the queue is drained (see [`PipelineTasks::drain`]).
#[derive(Clone, Debug)]
pub struct Pipeline {
    inbox: crossbeam_channel::Sender<Work>,
    recent: Arc<RecentBatches>,
    capacity: Arc<Semaphore>,
    queue_capacity: usize,
    bytes: ByteBudget,
    metrics: Arc<Metrics>,
    /// Where retries are looked up.
    ledger: Ledger,
    /// The write-ahead log, with `--data-dir`.
    journal: Option<Arc<Journal>>,
    ack: AckMode,
}

/// The sink, as the place retries are looked up in.
#[derive(Clone)]
struct Ledger(Arc<dyn Sink>);

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ledger({})", self.0.name())
    }
}

/// The pipeline's tasks, to wait on at shutdown.
#[derive(Debug)]
pub struct PipelineTasks {
    processors: Vec<std::thread::JoinHandle<()>>,
    batcher: JoinHandle<()>,
}

/// Why a request was not taken.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The pipeline is shutting down.
    #[error("the collector is shutting down")]
    Closed,
    /// The request would hold more memory than the whole budget.
    #[error(
        "batch too large: {events} events in {bytes} bytes may need {needed} bytes of the \
         collector's memory, more than its --max-pending-bytes ({limit}); send smaller batches"
    )]
    TooLarge {
        events: usize,
        bytes: usize,
        needed: usize,
        limit: usize,
    },
    /// The client already used this batch id for other content.
    #[error(
        "batch_id {0} was already used for a batch with other content; a retry must resend the \
         same bytes, and a new batch needs a new id"
    )]
    Conflict(uuid::Uuid),
    /// A retry could not be looked up among the stored batches, so taking
    /// it might store it twice.
    #[error("cannot check whether this retried batch is already stored ({0}); retry later")]
    CannotCheck(String),
    /// The batch could not be written to the write-ahead log.
    #[error("cannot write the batch to the collector's write-ahead log: {0}; retry later")]
    Log(std::io::Error),
}

/// A request taken: its answer, once it has one.
#[derive(Debug)]
pub enum Pending {
    /// Processed by this request.
    Processing(oneshot::Receiver<Answer>),
    /// A retry of a batch processed or stored before; counted as
    /// deduplicated once it is answered as stored.
    Retry(oneshot::Receiver<AckOutcome>, Arc<Metrics>),
}

impl Pending {
    /// Waits for the answer.
    pub async fn answer(self) -> Answer {
        match self {
            Pending::Processing(answer) => answer.await.unwrap_or(Answer {
                outcome: stopped(),
                held: None,
            }),
            Pending::Retry(outcome, metrics) => {
                let outcome = outcome.await.unwrap_or_else(|_| stopped());
                if matches!(outcome, AckOutcome::Stored { .. }) {
                    metrics.batches_deduplicated.inc();
                }
                Answer {
                    outcome,
                    held: None,
                }
            }
        }
    }
}

impl Pipeline {
    /// Starts the processors (threads of their own: decoding is CPU work
    /// that would stall the async runtime's I/O) and the batcher (a
    /// task on the current runtime).
    pub fn start(
        config: PipelineConfig,
        sink: Arc<dyn Sink>,
        metrics: Arc<Metrics>,
    ) -> (Pipeline, PipelineTasks) {
        Self::start_with_journal(config, sink, metrics, None)
    }

    /// Like [`Pipeline::start`], with a write-ahead log: what it held and
    /// had not settled is stored first (in the background, while new
    /// batches are taken), and every batch taken is logged.
    pub fn start_with_journal(
        config: PipelineConfig,
        sink: Arc<dyn Sink>,
        metrics: Arc<Metrics>,
        journal: Option<(Arc<Journal>, Unsettled)>,
    ) -> (Pipeline, PipelineTasks) {
        let (journal, unsettled) = match journal {
            Some((journal, unsettled)) => (Some(journal), Some(unsettled)),
            None => (None, None),
        };
        // Unbounded: the permits taken in `submit` are what bound it.
        let (inbox, queue) = crossbeam_channel::unbounded::<Work>();
        let (chunks_tx, chunks_rx) =
            tokio::sync::mpsc::channel::<Chunk>(config.processors.max(1) * 4);
        let processors = (0..config.processors.max(1))
            .map(|n| {
                let queue = queue.clone();
                let chunks = chunks_tx.clone();
                let metrics = metrics.clone();
                let journal = journal.clone();
                std::thread::Builder::new()
                    .name(format!("aires-processor-{n}"))
                    .spawn(move || process(&queue, &chunks, &metrics, journal.as_deref()))
                    .expect("spawning a processor thread")
            })
            .collect();
        drop(chunks_tx);
        let batcher = Batcher::new(
            config.clone(),
            sink.clone(),
            metrics.clone(),
            chunks_rx,
            journal.clone(),
        );
        let batcher = tokio::spawn(batcher.run());
        let capacity = Arc::new(Semaphore::new(config.queue_capacity));
        let pipeline = Pipeline {
            inbox,
            recent: Arc::default(),
            capacity,
            queue_capacity: config.queue_capacity,
            bytes: ByteBudget::new(config.max_pending_bytes),
            metrics,
            ledger: Ledger(sink),
            journal,
            ack: config.ack,
        };
        if let Some(unsettled) = unsettled {
            replay::start(pipeline.clone(), unsettled, config.retry_backoff);
        }
        (
            pipeline,
            PipelineTasks {
                processors,
                batcher,
            },
        )
    }

    /// Takes a request from a client of `scope` into the pipeline, waiting
    /// while it is full. The answer comes once the request's rows are
    /// stored. A retry of a batch this collector is processing or recently
    /// stored gets the first attempt's outcome instead (see
    /// [`recent_batches`]). The server has checked that the batch id is 16
    /// bytes.
    pub async fn submit(
        &self,
        batch: EncodedBatch,
        scope: Scope,
        received_ns: i64,
    ) -> Result<Pending, SubmitError> {
        let needed = budget::admission_bytes(batch.encoded.len(), batch.events);
        if !self.bytes.fits(needed) {
            return Err(SubmitError::TooLarge {
                events: batch.events,
                bytes: batch.encoded.len(),
                needed,
                limit: self.bytes.limit(),
            });
        }
        let batch_id: [u8; 16] = batch.batch_id.as_ref().try_into().unwrap_or_default();
        let key = BatchKey { scope, batch_id };
        let digest = batch.digest(scope);
        match self.recent.admit(key, digest) {
            Admission::New => {}
            Admission::Known(answer) => {
                return Ok(Pending::Retry(answer, self.metrics.clone()));
            }
            Admission::Conflict => {
                return Err(SubmitError::Conflict(uuid::Uuid::from_bytes(batch_id)));
            }
        }
        // Whatever happens to this call from here (even cancellation while
        // waiting for room), the batch's entry is settled.
        let mut settle = SettleOnDrop(Some(Settlement {
            recent: self.recent.clone(),
            key,
        }));
        // A retry this collector does not know may have been stored, or
        // may be being stored, by another: looked up, and if absent,
        // inserted on its own so that any other insert of it is dropped.
        let retry = batch.attempt > 1;
        let stored_before = retry && self.stored_before(digest).await?;
        // Room in the log first, holding nothing else: the batches that
        // will free it (a restart's replays among them) must be able to
        // take the pipeline's room meanwhile.
        if let Some(journal) = self.journal.as_ref().filter(|_| !stored_before) {
            journal.room().await;
        }
        let (permit, held) = self.room_for(&batch).await?;
        // In the log before anything else happens to it: from here, a
        // crash does not lose it.
        let lsn = match &self.journal {
            Some(journal) if !stored_before => Some(
                journal
                    .log_batch(scope, digest, received_ns, &batch.encoded)
                    .await
                    .map_err(SubmitError::Log)?,
            ),
            _ => None,
        };
        self.metrics.events_received.inc_by(batch.events as u64);
        let (reply, answer) = oneshot::channel();
        // From here the ack settles the entry, even if it is dropped.
        let mut ack = Ack::new(reply, permit, Some(held), settle.0.take());
        if lsn.is_some() && self.ack == AckMode::Persisted {
            ack = ack.answer_when_logged();
        }
        self.inbox
            .send(Work {
                batch,
                received_ns,
                digest,
                ack: Arc::new(ack),
                stored_before,
                lsn,
                alone: retry,
            })
            .map_err(|_| SubmitError::Closed)?;
        Ok(Pending::Processing(answer))
    }

    /// Waits for `batch`'s share of the pipeline: one permit per event and
    /// its admission charge of the memory budget.
    async fn room_for(
        &self,
        batch: &EncodedBatch,
    ) -> Result<(tokio::sync::OwnedSemaphorePermit, budget::BytesHeld), SubmitError> {
        let events = batch.events.clamp(1, self.queue_capacity) as u32;
        let permit = self
            .capacity
            .clone()
            .acquire_many_owned(events)
            .await
            .map_err(|_| SubmitError::Closed)?;
        let needed = budget::admission_bytes(batch.encoded.len(), batch.events);
        let held = self
            .bytes
            .acquire(needed)
            .await
            .ok_or(SubmitError::Closed)?;
        Ok((permit, held))
    }

    /// Takes a batch read back from the write-ahead log, in no insert yet,
    /// into the pipeline as if its client had sent it again (its retries
    /// wait on `settlement`), waiting while the pipeline is full.
    async fn resubmit(
        &self,
        logged: LoggedBatch,
        batch: EncodedBatch,
        settlement: Option<Settlement>,
    ) -> Result<(), SubmitError> {
        let (permit, held) = self.room_for(&batch).await?;
        let (reply, _nobody_waits) = oneshot::channel();
        self.inbox
            .send(Work {
                batch,
                received_ns: logged.received_ns,
                digest: logged.digest,
                ack: Arc::new(Ack::new(reply, permit, Some(held), settlement)),
                stored_before: false,
                lsn: Some(logged.lsn),
                alone: true,
            })
            .map_err(|_| SubmitError::Closed)
    }

    /// Whether the sink's ledger holds the batch of `digest`.
    async fn stored_before(&self, digest: Digest) -> Result<bool, SubmitError> {
        self.metrics.ledger_lookups.inc();
        match self.ledger.0.stored_batches(&[digest]).await {
            Ok(found) => Ok(found.contains(&digest)),
            Err(error) => {
                tracing::warn!(
                    sink = self.ledger.0.name(),
                    "{error}; a retried batch is refused for now"
                );
                Err(SubmitError::CannotCheck(error.message))
            }
        }
    }

    /// A function reading how many events are accepted and not yet
    /// answered, which does not keep the pipeline open.
    pub fn depth_probe(&self) -> impl Fn() -> usize + Send + Sync + 'static {
        let capacity = self.capacity.clone();
        let total = self.queue_capacity;
        move || total - capacity.available_permits()
    }

    /// A function reading how many bytes the write-ahead log holds on disk
    /// (0 without one).
    pub fn log_bytes_probe(&self) -> impl Fn() -> u64 + Send + Sync + 'static {
        let journal = self.journal.clone();
        move || journal.as_ref().map_or(0, |journal| journal.bytes())
    }

    /// A function reading how many bytes of the memory budget are held.
    pub fn bytes_probe(&self) -> impl Fn() -> usize + Send + Sync + 'static {
        let bytes = self.bytes.clone();
        move || bytes.in_use()
    }
}

/// Settles a batch's entry in [`RecentBatches`] if its submission is
/// abandoned before the batch is handed to an [`Ack`].
struct SettleOnDrop(Option<Settlement>);

impl Drop for SettleOnDrop {
    fn drop(&mut self) {
        if let Some(settlement) = self.0.take() {
            settlement.recent.finish(settlement.key, &abandoned());
        }
    }
}

impl PipelineTasks {
    /// Waits until every queued request is decoded and every row is
    /// written. Call after dropping every [`Pipeline`] clone.
    pub async fn drain(self) {
        let processors = self.processors;
        let _ = tokio::task::spawn_blocking(move || {
            for processor in processors {
                let _ = processor.join();
            }
        })
        .await;
        let _ = self.batcher.await;
    }
}

/// How long a processor waits for work before it counts as idle and gives
/// its freed memory back (see [`crate::allocator`]).
const IDLE: Duration = Duration::from_millis(500);

/// A processor thread: decodes requests into rows until the inbox closes.
fn process(
    queue: &crossbeam_channel::Receiver<Work>,
    chunks: &tokio::sync::mpsc::Sender<Chunk>,
    metrics: &Metrics,
    journal: Option<&Journal>,
) {
    loop {
        let work = match queue.recv_timeout(IDLE) {
            Ok(work) => work,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                crate::allocator::release_idle_memory();
                continue;
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        };
        let out = work.batch.decode(work.received_ns, work.digest);
        // The encoded request is dropped here; the rows stay.
        work.ack.holds(budget::decoded_bytes(&out));
        drop(work.batch);
        metrics.events_rejected.inc_by(out.rejections.len() as u64);
        let rows = out.rows.len();
        work.ack.transformed(rows, out.rejections);
        if rows == 0 {
            // Nothing to store: the log need not keep it (were it replayed,
            // it would give no rows again).
            if let (Some(journal), Some(lsn)) = (journal, work.lsn) {
                journal.forget(&[lsn]);
            }
            continue;
        }
        if work.stored_before {
            metrics.batches_deduplicated.inc();
            work.ack.stored(rows);
            continue;
        }
        let chunk = Chunk {
            rows: out.rows,
            ack: work.ack,
            part: Part {
                digest: work.digest,
                received_ns: work.received_ns,
                rows,
            },
            lsn: work.lsn,
            alone: work.alone,
        };
        if chunks.blocking_send(chunk).is_err() {
            break;
        }
    }
}
