//! The batcher: gathers transformed rows into sink batches and runs one
//! sink write at a time, retrying transient failures.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::ack::Ack;
use super::journal::Journal;
use super::PipelineConfig;
use crate::identity::Part;
use crate::row::Row;
use crate::sink::{RowBatch, Sink, SinkErrorKind};
use crate::telemetry::Metrics;

/// Rows of one request, on their way to the sink.
pub(super) struct Chunk {
    pub(super) rows: Vec<Row>,
    pub(super) ack: Arc<Ack>,
    /// Which batch the rows are, for the write's deduplication token.
    pub(super) part: Part,
    /// Where the batch is in the write-ahead log, if there is one.
    pub(super) lsn: Option<u64>,
    /// The batch may already be stored by another collector: it is
    /// inserted on its own, with a token naming only it (see
    /// [`crate::identity::alone_token`]).
    pub(super) alone: bool,
}

/// Rows gathered for the next write, and whose they are.
#[derive(Default)]
struct Gathering {
    /// The rows of each request taken, as they came, and whose they are.
    chunks: Vec<Vec<Row>>,
    parts: Vec<Part>,
    /// The batches' places in the write-ahead log.
    lsns: Vec<u64>,
    rows: usize,
    owners: Vec<(Arc<Ack>, usize)>,
    /// When the first row arrived.
    since: Option<Instant>,
}

impl Gathering {
    fn add(&mut self, chunk: Chunk) {
        self.since.get_or_insert_with(Instant::now);
        self.owners.push((chunk.ack, chunk.rows.len()));
        self.rows += chunk.rows.len();
        self.chunks.push(chunk.rows);
        self.parts.push(chunk.part);
        self.lsns.extend(chunk.lsn);
    }
}

pub(super) struct Batcher {
    config: PipelineConfig,
    sink: Arc<dyn Sink>,
    metrics: Arc<Metrics>,
    chunks: mpsc::Receiver<Chunk>,
    journal: Option<Arc<Journal>>,
}

const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl Batcher {
    pub(super) fn new(
        config: PipelineConfig,
        sink: Arc<dyn Sink>,
        metrics: Arc<Metrics>,
        chunks: mpsc::Receiver<Chunk>,
        journal: Option<Arc<Journal>>,
    ) -> Self {
        Batcher {
            config,
            sink,
            metrics,
            chunks,
            journal,
        }
    }

    pub(super) async fn run(mut self) {
        let mut next = Gathering::default();
        let mut writing: Option<JoinHandle<()>> = None;
        // Batches inserted on their own, beside the gathered writes.
        let mut alone = tokio::task::JoinSet::new();
        let mut open = true;
        loop {
            let due = next.since.map(|since| since + self.config.batch_timeout);
            let full = next.rows >= self.config.batch_size;
            let overfull = next.rows >= self.config.max_batch_rows;
            let ready =
                next.rows > 0 && (full || !open || due.is_some_and(|d| Instant::now() >= d));
            if ready && writing.is_none() {
                writing = Some(self.write(std::mem::take(&mut next)));
                continue;
            }
            if !open && next.rows == 0 {
                if let Some(write) = writing.take() {
                    let _ = write.await;
                }
                while alone.join_next().await.is_some() {}
                return;
            }
            tokio::select! {
                chunk = self.chunks.recv(), if open && !overfull => match chunk {
                    Some(chunk) if chunk.alone => {
                        let mut single = Gathering::default();
                        single.add(chunk);
                        alone.spawn(self.write_rows(single, true));
                    }
                    Some(chunk) => next.add(chunk),
                    None => open = false,
                },
                Some(_) = alone.join_next(), if !alone.is_empty() => {}
                _ = wait(writing.as_mut()), if writing.is_some() => writing = None,
                _ = tokio::time::sleep_until(due.unwrap_or_else(far_future).into()), if due.is_some() && writing.is_none() => {}
            }
        }
    }

    /// Starts writing `batch` with retries; settles its owners' acks.
    fn write(&self, batch: Gathering) -> JoinHandle<()> {
        tokio::spawn(self.write_rows(batch, false))
    }

    /// Writes `batch` (one batch on its own if `alone`) with retries, and
    /// settles its owners' acks.
    fn write_rows(&self, batch: Gathering, alone: bool) -> impl std::future::Future<Output = ()> {
        let sink = self.sink.clone();
        let metrics = self.metrics.clone();
        let initial_backoff = self.config.retry_backoff;
        let journal = self.journal.clone();
        async move {
            let Gathering {
                mut chunks,
                mut parts,
                lsns,
                owners,
                ..
            } = batch;
            let batch = match (alone, chunks.pop(), parts.pop()) {
                (true, Some(rows), Some(part)) => RowBatch::alone(rows, part),
                (_, rows, part) => {
                    chunks.extend(rows);
                    parts.extend(part);
                    RowBatch::new(chunks, parts)
                }
            };
            // The insert is named in the log, to be settled once stored.
            let cut = match &journal {
                Some(journal) => Some(log_cut(journal, &lsns, initial_backoff).await),
                None => None,
            };
            let settle = || {
                if let (Some(journal), Some(cut)) = (&journal, cut) {
                    if let Err(error) = journal.settle(cut, &lsns) {
                        tracing::error!("updating the write-ahead log failed: {error}");
                    }
                }
            };
            let count = batch.len();
            metrics.batch_rows.observe(count as f64);
            let mut backoff = initial_backoff;
            loop {
                let started = Instant::now();
                match sink.write(&batch).await {
                    Ok(()) => {
                        metrics
                            .sink_latency
                            .observe(started.elapsed().as_secs_f64());
                        metrics.events_inserted.inc_by(count as u64);
                        settle();
                        for (ack, rows) in owners {
                            ack.stored(rows);
                        }
                        return;
                    }
                    Err(error) if error.kind == SinkErrorKind::Transient => {
                        metrics.sink_retries.inc();
                        tracing::warn!(
                            sink = sink.name(),
                            rows = count,
                            retry_in_ms = backoff.as_millis() as u64,
                            "{error}; retrying, clients wait for their acks"
                        );
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                    Err(error) => {
                        metrics.events_failed.inc_by(count as u64);
                        tracing::error!(
                            sink = sink.name(),
                            rows = count,
                            "{error}; the batch is refused and its clients are told"
                        );
                        settle();
                        for (ack, rows) in owners {
                            ack.failed(rows, tonic::Code::FailedPrecondition, &error.message);
                        }
                        return;
                    }
                }
            }
        }
    }
}

/// Logs the cut of `lsns`, retrying (the clients wait) until the log
/// takes it.
async fn log_cut(journal: &Journal, lsns: &[u64], initial_backoff: Duration) -> u64 {
    let mut backoff = initial_backoff;
    loop {
        match journal.log_cut(lsns) {
            Ok(cut) => return cut,
            Err(error) => {
                tracing::error!(
                    retry_in_ms = backoff.as_millis() as u64,
                    "cannot write an insert's cut to the write-ahead log: {error}"
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

async fn wait(write: Option<&mut JoinHandle<()>>) {
    if let Some(write) = write {
        if let Err(error) = write.await {
            tracing::error!("a sink write panicked: {error}");
        }
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
}
