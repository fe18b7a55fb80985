//! The gRPC front: the `aires.v1.Collector` service (Ingest and
//! IngestStream), API-key authentication, the limit on calls in progress,
//! and the message size limit.

mod auth;
pub mod codec;
mod connections;
mod limit;
mod refusals;
mod stream;

// The generated server of `aires.v1.Collector` (module `collector_server`),
// taking batches still encoded (see `build.rs`).
include!(concat!(env!("OUT_DIR"), "/aires.v1.Collector.rs"));

use std::pin::Pin;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aires_proto::v1 as proto;
use collector_server::Collector;
use tokio::sync::watch;
use tokio_stream::Stream;
use tonic::{Code, Request, Response, Status, Streaming};

pub use auth::ApiKeys;
pub use connections::{accept_limited, Limited};
pub use limit::{CallLimit, CallLimitLayer};
pub use refusals::RefusalLayer;

use crate::decode::EncodedBatch;
use crate::identity::Scope;
use crate::pipeline::{AckOutcome, Answer, Pending, Pipeline, SubmitError};
use crate::telemetry::Metrics;

/// The Collector service over a pipeline.
#[derive(Clone, Debug)]
pub struct CollectorService {
    pipeline: Pipeline,
    metrics: Arc<Metrics>,
    /// Becomes true when the collector starts shutting down: open streams
    /// stop taking batches, answer what they took, and end.
    stopping: watch::Receiver<bool>,
    max_message_bytes: usize,
    /// Batches of one stream read and not yet answered, at most.
    max_stream_pending: usize,
    /// A stream that sends nothing for this long is ended.
    stream_idle: std::time::Duration,
}

impl CollectorService {
    /// A service feeding `pipeline`.
    pub fn new(
        pipeline: Pipeline,
        metrics: Arc<Metrics>,
        stopping: watch::Receiver<bool>,
        max_message_bytes: usize,
        max_stream_pending: usize,
        stream_idle: std::time::Duration,
    ) -> Self {
        CollectorService {
            pipeline,
            metrics,
            stopping,
            max_message_bytes,
            max_stream_pending: max_stream_pending.max(1),
            stream_idle,
        }
    }

    /// A batch must name itself with a 16-byte id that is not nil: acks
    /// and deduplication refer to it.
    fn check_batch_id(batch: &EncodedBatch) -> Result<(), Status> {
        match batch.batch_id.len() {
            16 if batch.batch_id.iter().all(|&b| b == 0) => Err(Status::invalid_argument(
                "batch_id is the nil UUID; give each batch its own id (a UUID v7)",
            )),
            16 => Ok(()),
            n => Err(Status::invalid_argument(format!(
                "batch_id must be 16 bytes (a UUID), got {n}"
            ))),
        }
    }

    /// Checks a batch and takes it into the pipeline.
    async fn submit(&self, batch: EncodedBatch, scope: Scope) -> Result<Pending, Status> {
        Self::check_batch_id(&batch)?;
        if *self.stopping.borrow() {
            return Err(Status::unavailable(
                "the collector is shutting down; retry on another instance",
            ));
        }
        self.pipeline
            .submit(batch, scope, now_ns())
            .await
            .map_err(submit_status)
    }
}

/// The status of a batch the pipeline did not take.
pub(crate) fn submit_status(error: SubmitError) -> Status {
    let code = match error {
        SubmitError::Closed => Code::Unavailable,
        SubmitError::TooLarge { .. } => Code::ResourceExhausted,
        SubmitError::Conflict(_) => Code::AlreadyExists,
        SubmitError::CannotCheck(_) | SubmitError::Log(_) => Code::Unavailable,
    };
    Status::new(code, error.to_string())
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// The scope the API-key check gave a request (anonymous without keys).
pub(crate) fn scope_of<T>(request: &Request<T>) -> Scope {
    request
        .extensions()
        .get::<Scope>()
        .copied()
        .unwrap_or(Scope::ANONYMOUS)
}

type AckStream = Pin<Box<dyn Stream<Item = Result<proto::IngestAck, Status>> + Send>>;

#[tonic::async_trait]
impl Collector for CollectorService {
    async fn ingest(
        &self,
        request: Request<EncodedBatch>,
    ) -> Result<Response<proto::IngestResponse>, Status> {
        // A client that goes away before its answer is counted as such.
        let cancelled = CountOnDrop::armed(self.metrics.clone());
        let scope = scope_of(&request);
        let answer = match self.submit(request.into_inner(), scope).await {
            Ok(pending) => pending.answer().await,
            Err(status) => {
                // Counted as refused by `RefusalLayer`, as every failed
                // unary answer is.
                cancelled.disarm();
                return Err(status);
            }
        };
        cancelled.disarm();
        match answer.outcome {
            AckOutcome::Stored {
                accepted,
                rejected,
                rejections,
            } => Ok(Response::new(proto::IngestResponse {
                accepted,
                rejected,
                rejections,
            })),
            AckOutcome::Failed { code, message } => Err(Status::new(code, message)),
        }
    }

    type IngestStreamStream = AckStream;

    async fn ingest_stream(
        &self,
        request: Request<Streaming<EncodedBatch>>,
    ) -> Result<Response<AckStream>, Status> {
        let scope = scope_of(&request);
        Ok(Response::new(stream::serve(
            self.clone(),
            scope,
            request.into_inner(),
        )))
    }
}

/// Counts a cancelled call in `requests_cancelled_total` unless disarmed:
/// a call whose client goes away before its answer is dropped unfinished.
pub(crate) struct CountOnDrop(Option<Arc<Metrics>>);

impl CountOnDrop {
    pub(crate) fn armed(metrics: Arc<Metrics>) -> Self {
        CountOnDrop(Some(metrics))
    }

    /// The call was answered (a failure status is counted where it is
    /// answered).
    pub(crate) fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CountOnDrop {
    fn drop(&mut self) {
        if let Some(metrics) = self.0.take() {
            metrics.requests_cancelled.inc();
        }
    }
}

/// The ack of one stream batch.
fn ack_for(batch_id: bytes::Bytes, answer: Answer) -> proto::IngestAck {
    match answer.outcome {
        AckOutcome::Stored {
            accepted,
            rejected,
            rejections,
        } => proto::IngestAck {
            batch_id,
            accepted,
            rejected,
            rejections,
            error: None,
        },
        AckOutcome::Failed { code, message } => failed_ack(batch_id, &Status::new(code, message)),
    }
}

/// The ack of a stream batch that was not stored.
fn failed_ack(batch_id: bytes::Bytes, status: &Status) -> proto::IngestAck {
    proto::IngestAck {
        batch_id,
        error: Some(proto::Status {
            code: status.code() as i32,
            message: status.message().to_owned(),
        }),
        ..Default::default()
    }
}
