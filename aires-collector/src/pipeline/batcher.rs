//! The batcher: gathers transformed rows into sink batches and runs one
//! sink write at a time, retrying transient failures.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::ack::Ack;
use super::journal::Journal;
use super::PipelineConfig;
use crate::identity::{Digest, Part};
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

/// Batches written alone (retries and replays) at once, at most.
const MAX_ALONE_WRITES: usize = 8;

/// How long a merged insert is retried as it was before its batches are
/// written alone: the SDKs' send timeout (10 s by default), after which a
/// client may retry its batch through another collector.
const ALONE_AFTER: Duration = Duration::from_secs(10);

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
                        // Bounded: after a restart, many clients' retries
                        // would otherwise become as many small inserts at
                        // once. Reading waits meanwhile (backpressure).
                        while alone.len() >= MAX_ALONE_WRITES {
                            let _ = alone.join_next().await;
                        }
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
    ///
    /// A merged insert that keeps failing past [`ALONE_AFTER`] is no longer
    /// retried as it was: its clients may retry their batches through
    /// another collector meanwhile, which inserts each alone. So the retry
    /// looks the batches up in the sink's ledger (the failed attempts, or
    /// another collector, may have stored some), and inserts the others
    /// alone, under the same per-batch tokens another collector would use.
    fn write_rows(&self, batch: Gathering, alone: bool) -> impl std::future::Future<Output = ()> {
        let writer = Writer {
            sink: self.sink.clone(),
            metrics: self.metrics.clone(),
            initial_backoff: self.config.retry_backoff,
        };
        let journal = self.journal.clone();
        async move {
            let Gathering {
                chunks,
                parts,
                lsns,
                owners,
                ..
            } = batch;
            // The insert is named in the log (a hint for a restart: without
            // it, its batches are looked up again).
            let cut = journal
                .as_ref()
                .and_then(|journal| match journal.log_cut(&lsns) {
                    Ok(cut) => Some(cut),
                    Err(error) => {
                        tracing::error!(
                            "cannot write an insert's cut to the write-ahead log: {error}"
                        );
                        None
                    }
                });
            if alone {
                // Looked up already (a retry, or a replay): written alone.
                for ((rows, part), owner) in chunks.into_iter().zip(parts).zip(&owners) {
                    let batch = RowBatch::alone(rows, part);
                    writer
                        .with_retries(batch, std::slice::from_ref(owner), None)
                        .await;
                }
            } else {
                writer.merged(chunks, parts, &owners).await;
            }
            if let Some(journal) = &journal {
                match cut {
                    Some(cut) => journal.settle(cut, &lsns),
                    None => journal.forget(&lsns),
                }
            }
        }
    }
}

/// What a write needs.
struct Writer {
    sink: Arc<dyn Sink>,
    metrics: Arc<Metrics>,
    initial_backoff: Duration,
}

impl Writer {
    /// The merged insert of `chunks`, retried with its own token (so a
    /// write ClickHouse stored without answering is dropped, in the table
    /// and the views) until [`ALONE_AFTER`]; past that, clients may have
    /// retried through another collector, so each batch is written alone
    /// ([`Writer::alone`]).
    async fn merged(&self, chunks: Vec<Vec<Row>>, parts: Vec<Part>, owners: &[(Arc<Ack>, usize)]) {
        let batch = RowBatch::new(chunks, parts);
        let until = Instant::now() + ALONE_AFTER;
        if let Some(batch) = self.with_retries(batch, owners, Some(until)).await {
            let (chunks, parts) = batch.into_chunks();
            self.alone(chunks, parts, owners).await;
        }
    }

    /// Writes each batch on its own, with retries, after looking up which
    /// are stored already.
    async fn alone(&self, chunks: Vec<Vec<Row>>, parts: Vec<Part>, owners: &[(Arc<Ack>, usize)]) {
        let digests: Vec<_> = parts.iter().map(|part| part.digest).collect();
        let stored = look_up(&*self.sink, &self.metrics, &digests, self.initial_backoff).await;
        for ((rows, part), owner) in chunks.into_iter().zip(parts).zip(owners) {
            let owner = std::slice::from_ref(owner);
            if stored.contains(&part.digest) {
                self.metrics.batches_deduplicated.inc();
                for (ack, rows) in owner {
                    ack.stored(*rows);
                }
                continue;
            }
            self.with_retries(RowBatch::alone(rows, part), owner, None)
                .await;
        }
    }

    /// Writes `batch` until it is stored or refused for good, or a
    /// transient failure comes at or past `until`: then the batch is given
    /// back, its owners not yet settled.
    async fn with_retries(
        &self,
        batch: RowBatch,
        owners: &[(Arc<Ack>, usize)],
        until: Option<Instant>,
    ) -> Option<RowBatch> {
        let count = batch.len();
        self.metrics.batch_rows.observe(count as f64);
        let mut backoff = self.initial_backoff;
        loop {
            let started = Instant::now();
            match self.sink.write(&batch).await {
                Ok(()) => {
                    self.stored(&batch, started, owners);
                    return None;
                }
                Err(error) if error.kind == SinkErrorKind::Transient => {
                    self.metrics.sink_retries.inc();
                    let give_back = until.is_some_and(|until| Instant::now() + backoff >= until);
                    tracing::warn!(
                        sink = self.sink.name(),
                        rows = count,
                        retry_in_ms = backoff.as_millis() as u64,
                        "{error}; retrying{}, clients wait for their acks",
                        if give_back { " batch by batch" } else { "" }
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    if give_back {
                        return Some(batch);
                    }
                }
                Err(error) => {
                    self.refused(&error, count, owners);
                    return None;
                }
            }
        }
    }

    fn stored(&self, batch: &RowBatch, started: Instant, owners: &[(Arc<Ack>, usize)]) {
        self.metrics
            .sink_latency
            .observe(started.elapsed().as_secs_f64());
        self.metrics.events_inserted.inc_by(batch.len() as u64);
        for (ack, rows) in owners {
            ack.stored(*rows);
        }
    }

    fn refused(&self, error: &crate::sink::SinkError, count: usize, owners: &[(Arc<Ack>, usize)]) {
        self.metrics.events_failed.inc_by(count as u64);
        tracing::error!(
            sink = self.sink.name(),
            rows = count,
            "{error}; the batch is refused and its clients are told"
        );
        for (ack, rows) in owners {
            ack.failed(*rows, tonic::Code::FailedPrecondition, &error.message);
        }
    }
}

/// The digests among `digests` that `sink`'s ledger holds, asking until it
/// answers (the batches' clients wait meanwhile).
pub(super) async fn look_up(
    sink: &dyn Sink,
    metrics: &Metrics,
    digests: &[Digest],
    initial_backoff: Duration,
) -> Vec<Digest> {
    let mut backoff = initial_backoff;
    loop {
        metrics.ledger_lookups.inc_by(digests.len() as u64);
        match sink.stored_batches(digests).await {
            Ok(found) => return found,
            Err(error) => {
                metrics.sink_retries.inc();
                tracing::warn!(
                    sink = sink.name(),
                    retry_in_ms = backoff.as_millis() as u64,
                    "{error}; cannot yet look batches up in the ledger"
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{alone_token, insert_token};
    use crate::sink::{SinkError, SinkFuture};
    use parking_lot::Mutex;
    use std::collections::VecDeque;
    use tokio::sync::{oneshot, Semaphore};

    /// A sink answering writes from a script (storing once it is spent),
    /// and keeping each write's token and row count.
    #[derive(Default)]
    struct Scripted {
        answers: Mutex<VecDeque<Result<(), SinkError>>>,
        writes: Mutex<Vec<(String, usize)>>,
    }

    impl Sink for Scripted {
        fn write<'a>(&'a self, batch: &'a RowBatch) -> SinkFuture<'a> {
            self.writes
                .lock()
                .push((batch.token().to_owned(), batch.len()));
            let answer = self.answers.lock().pop_front().unwrap_or(Ok(()));
            Box::pin(async move { answer })
        }
        fn name(&self) -> &'static str {
            "scripted"
        }
    }

    fn part(n: u8, rows: usize) -> Part {
        Part {
            digest: Digest([n; 16]),
            received_ns: 0,
            rows,
        }
    }

    /// A chunk of `rows` rows and the receiver of its request's answer.
    fn chunk(
        n: u8,
        rows: usize,
        alone: bool,
    ) -> (Chunk, oneshot::Receiver<super::super::ack::Answer>) {
        let (reply, answer) = oneshot::channel();
        let permit = Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap();
        let ack = Arc::new(Ack::new(reply, permit, None, None));
        ack.transformed(rows, Vec::new());
        let chunk = Chunk {
            rows: vec![Row::default(); rows],
            ack,
            part: part(n, rows),
            lsn: None,
            alone,
        };
        (chunk, answer)
    }

    async fn run(sink: Arc<Scripted>, batch_size: usize, chunks: Vec<Chunk>) {
        let config = PipelineConfig {
            batch_size,
            batch_timeout: Duration::from_millis(10),
            retry_backoff: Duration::from_millis(1),
            ..PipelineConfig::default()
        };
        let (tx, rx) = mpsc::channel(64);
        for chunk in chunks {
            tx.send(chunk).await.unwrap();
        }
        drop(tx); // the batcher writes what it has and stops
        Batcher::new(config, sink, Arc::new(Metrics::default()), rx, None)
            .run()
            .await;
    }

    fn accepted(answer: &mut oneshot::Receiver<super::super::ack::Answer>) -> u32 {
        match answer.try_recv().expect("answered").outcome {
            super::super::ack::AckOutcome::Stored { accepted, .. } => accepted,
            other => panic!("not stored: {other:?}"),
        }
    }

    #[tokio::test]
    async fn requests_are_merged_into_one_insert_named_by_all_their_batches() {
        let sink = Arc::new(Scripted::default());
        let (a, mut answer_a) = chunk(1, 3, false);
        let (b, mut answer_b) = chunk(2, 4, false);
        run(sink.clone(), 1000, vec![a, b]).await;
        let writes = sink.writes.lock().clone();
        assert_eq!(writes, [(insert_token(&[part(1, 3), part(2, 4)]), 7)]);
        assert_eq!((accepted(&mut answer_a), accepted(&mut answer_b)), (3, 4));
    }

    #[tokio::test]
    async fn a_write_is_cut_at_the_batch_size_and_the_next_stops_growing_at_max_batch_rows() {
        let sink = Arc::new(Scripted::default());
        let config = PipelineConfig {
            batch_size: 6,
            max_batch_rows: 6,
            batch_timeout: Duration::from_secs(600),
            retry_backoff: Duration::from_millis(1),
            ..PipelineConfig::default()
        };
        let (tx, rx) = mpsc::channel(64);
        for n in 1..=5 {
            tx.send(chunk(n, 3, false).0).await.unwrap();
        }
        drop(tx);
        Batcher::new(config, sink.clone(), Arc::new(Metrics::default()), rx, None)
            .run()
            .await;
        // 6 rows cut the first write; the second gathers while the first
        // is written, up to max_batch_rows; the last 3 leave at the end.
        let sizes: Vec<usize> = sink.writes.lock().iter().map(|(_, n)| *n).collect();
        assert_eq!(sizes, [6, 6, 3]);
    }

    #[tokio::test]
    async fn a_partial_write_leaves_at_its_timeout_while_the_input_stays_open() {
        const TIMEOUT: Duration = Duration::from_millis(200);
        let sink = Arc::new(Scripted::default());
        let config = PipelineConfig {
            batch_size: 1000,
            batch_timeout: TIMEOUT,
            retry_backoff: Duration::from_millis(1),
            ..PipelineConfig::default()
        };
        let (tx, rx) = mpsc::channel(64);
        let batcher = tokio::spawn(
            Batcher::new(config, sink.clone(), Arc::new(Metrics::default()), rx, None).run(),
        );
        let (a, mut answer) = chunk(1, 3, false);
        let sent = Instant::now();
        tx.send(a).await.unwrap();
        // The input stays open: only the timeout can cut this write.
        let deadline = Instant::now() + Duration::from_secs(20);
        while sink.writes.lock().is_empty() {
            assert!(Instant::now() < deadline, "the partial write never left");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(
            sent.elapsed() >= TIMEOUT,
            "the write left after {:?}, before its {TIMEOUT:?}",
            sent.elapsed()
        );
        // Answered once stored, without waiting for the input to close.
        while answer.try_recv().is_err() {
            assert!(Instant::now() < deadline, "never answered");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(tx);
        batcher.await.unwrap();
    }

    #[tokio::test]
    async fn a_batch_that_may_be_stored_elsewhere_is_inserted_alone_under_its_own_token() {
        let sink = Arc::new(Scripted::default());
        let (merged, _a) = chunk(1, 2, false);
        let (alone, mut answer) = chunk(2, 5, true);
        run(sink.clone(), 1000, vec![merged, alone]).await;
        let writes = sink.writes.lock().clone();
        assert!(
            writes.contains(&(alone_token(&Digest([2; 16])), 5)),
            "{writes:?}"
        );
        assert!(
            writes.contains(&(insert_token(&[part(1, 2)]), 2)),
            "{writes:?}"
        );
        assert_eq!(accepted(&mut answer), 5);
    }

    #[tokio::test]
    async fn a_transient_failure_is_retried_with_the_same_token_and_answered_once() {
        let sink = Arc::new(Scripted::default());
        sink.answers.lock().extend([
            Err(SinkError::transient("connection refused")),
            Err(SinkError::transient("connection refused")),
        ]);
        let (a, mut answer) = chunk(1, 3, false);
        run(sink.clone(), 1000, vec![a]).await;
        let writes = sink.writes.lock().clone();
        assert_eq!(writes.len(), 3);
        assert!(
            writes.iter().all(|w| w == &writes[0]),
            "one token: {writes:?}"
        );
        assert_eq!(accepted(&mut answer), 3);
    }

    #[tokio::test]
    async fn a_refused_insert_fails_its_requests() {
        let sink = Arc::new(Scripted::default());
        sink.answers
            .lock()
            .push_back(Err(SinkError::permanent("no such table")));
        let (a, mut answer) = chunk(1, 3, false);
        run(sink.clone(), 1000, vec![a]).await;
        match answer.try_recv().unwrap().outcome {
            super::super::ack::AckOutcome::Failed { message, .. } => {
                assert!(message.contains("no such table"))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(sink.writes.lock().len(), 1, "not retried");
    }
}
