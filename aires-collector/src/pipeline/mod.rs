//! The pipeline: a bounded queue of requests -> N processors (decode into
//! rows) -> a batcher (1000 rows or 500 ms) -> one sink writer.
//!
//! **Backpressure.** Capacity is counted in events: a request takes one
//! permit per event before it enters the queue and gives them back when it
//! is answered. When the sink is slow, permits run out, `submit` waits, the
//! gRPC handlers stop reading, and HTTP/2 flow control slows the clients.
//! Memory is bounded by `queue_capacity` events (counted as events, not
//! bytes) plus one request per call or open stream being read.
//!
//! **Acknowledgement.** `submit` returns a receiver that is answered only
//! once every row of the request is stored (or has failed for good), so an
//! ingest answer means "stored" (at-least-once).
//!
//! **Batching under load.** While a write is in flight the next batch keeps
//! growing until it holds `max_batch_rows` (plus at most one request's
//! rows): a slow store gets fewer, larger writes, which is what ClickHouse
//! does best.

mod ack;
mod batcher;
pub mod recent_batches;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinHandle;

pub use ack::{Ack, AckOutcome};
use batcher::{Batcher, Chunk};
use recent_batches::{Admission, RecentBatches};

use crate::decode::EncodedBatch;
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
    /// The growing batch stops taking rows at this size (it may exceed it by
    /// the rows of one request).
    pub max_batch_rows: usize,
    /// First delay before retrying a transient sink failure (doubles to 5 s).
    pub retry_backoff: Duration,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            batch_size: 1000,
            batch_timeout: Duration::from_millis(500),
            processors: std::thread::available_parallelism().map_or(2, |n| n.get()),
            queue_capacity: 100_000,
            max_batch_rows: 100_000,
            retry_backoff: Duration::from_millis(100),
        }
    }
}

/// Work for a processor: one request, still encoded.
struct Work {
    batch: EncodedBatch,
    received_ns: i64,
    ack: Arc<Ack>,
}

/// The running pipeline. Clones share it; it stops once every clone is
/// dropped and the queue is drained (see [`Pipeline::drain`]).
#[derive(Clone, Debug)]
pub struct Pipeline {
    inbox: crossbeam_channel::Sender<Work>,
    recent: Arc<RecentBatches>,
    capacity: Arc<Semaphore>,
    queue_capacity: usize,
    metrics: Arc<Metrics>,
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
        // Unbounded: the permits taken in `submit` are what bound it.
        let (inbox, queue) = crossbeam_channel::unbounded::<Work>();
        let (chunks_tx, chunks_rx) = mpsc::channel::<Chunk>(config.processors.max(1) * 4);
        let processors = (0..config.processors.max(1))
            .map(|n| {
                let queue = queue.clone();
                let chunks = chunks_tx.clone();
                let metrics = metrics.clone();
                std::thread::Builder::new()
                    .name(format!("aires-processor-{n}"))
                    .spawn(move || process(&queue, &chunks, &metrics))
                    .expect("spawning a processor thread")
            })
            .collect();
        drop(chunks_tx);
        let batcher = Batcher::new(config.clone(), sink, metrics.clone(), chunks_rx);
        let batcher = tokio::spawn(batcher.run());
        let capacity = Arc::new(Semaphore::new(config.queue_capacity));
        (
            Pipeline {
                inbox,
                recent: Arc::default(),
                capacity,
                queue_capacity: config.queue_capacity,
                metrics,
            },
            PipelineTasks {
                processors,
                batcher,
            },
        )
    }

    /// Takes a request into the pipeline, waiting while it is full. The
    /// receiver is answered once the request's rows are stored. A retry of
    /// a batch this collector is processing or recently stored is answered
    /// with the first attempt's outcome instead (see [`recent_batches`]).
    pub async fn submit(
        &self,
        batch: EncodedBatch,
        received_ns: i64,
    ) -> Result<oneshot::Receiver<AckOutcome>, SubmitError> {
        let Ok(id) = <[u8; 16]>::try_from(batch.batch_id.as_ref()) else {
            return self.enqueue(batch, received_ns).await;
        };
        let answer = match self.recent.admit(id) {
            Admission::Known(answer) => {
                self.metrics.batches_deduplicated.inc();
                return Ok(answer);
            }
            Admission::New(answer) => answer,
        };
        // Whatever happens to this call from here (even cancellation while
        // waiting for room), the batch's entry is settled.
        let mut settle = Settle {
            recent: self.recent.clone(),
            id,
            armed: true,
        };
        let outcome = self.enqueue(batch, received_ns).await?;
        settle.armed = false;
        let recent = self.recent.clone();
        tokio::spawn(async move {
            let outcome = outcome.await.unwrap_or_else(|_| stopped());
            recent.finish(id, outcome);
        });
        Ok(answer)
    }

    async fn enqueue(
        &self,
        batch: EncodedBatch,
        received_ns: i64,
    ) -> Result<oneshot::Receiver<AckOutcome>, SubmitError> {
        let events = batch.events.clamp(1, self.queue_capacity) as u32;
        let permit = self
            .capacity
            .clone()
            .acquire_many_owned(events)
            .await
            .map_err(|_| SubmitError::Closed)?;
        self.metrics.events_received.inc_by(batch.events as u64);
        let (reply, answer) = oneshot::channel();
        let ack = Arc::new(Ack::new(reply, permit));
        self.inbox
            .send(Work {
                batch,
                received_ns,
                ack,
            })
            .map_err(|_| SubmitError::Closed)?;
        Ok(answer)
    }

    /// A function reading how many events are accepted and not yet
    /// answered, which does not keep the pipeline open.
    pub fn depth_probe(&self) -> impl Fn() -> usize + Send + Sync + 'static {
        let capacity = self.capacity.clone();
        let total = self.queue_capacity;
        move || total - capacity.available_permits()
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

/// A processor thread: decodes requests into rows until the inbox closes.
/// A request whose events do not decode is refused whole, as one whose
/// top level does not decode is refused by the server.
fn process(
    queue: &crossbeam_channel::Receiver<Work>,
    chunks: &mpsc::Sender<Chunk>,
    metrics: &Metrics,
) {
    while let Ok(work) = queue.recv() {
        let out = match work.batch.decode(work.received_ns) {
            Ok(out) => out,
            Err(e) => {
                // Counted as received when queued; the server counts the
                // refused request (see `server`).
                metrics.events_rejected.inc_by(work.batch.events as u64);
                work.ack.refused(
                    tonic::Code::InvalidArgument,
                    format!("malformed protobuf message: {e}"),
                );
                continue;
            }
        };
        metrics.events_rejected.inc_by(out.rejections.len() as u64);
        work.ack.transformed(out.rows.len(), out.rejections);
        if out.rows.is_empty() {
            continue;
        }
        let chunk = Chunk {
            rows: out.rows,
            ack: work.ack,
        };
        if chunks.blocking_send(chunk).is_err() {
            break;
        }
    }
}

/// The outcome for a batch the pipeline dropped without answering (it shut
/// down).
fn stopped() -> AckOutcome {
    AckOutcome::Failed {
        code: tonic::Code::Unavailable,
        message: "the collector stopped before storing the batch".into(),
    }
}

/// Settles a batch's entry in [`RecentBatches`] if its submission is
/// abandoned.
struct Settle {
    recent: Arc<RecentBatches>,
    id: [u8; 16],
    armed: bool,
}

impl Drop for Settle {
    fn drop(&mut self) {
        if self.armed {
            self.recent.finish(self.id, stopped());
        }
    }
}
