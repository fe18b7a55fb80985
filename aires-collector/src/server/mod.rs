//! The gRPC front: the `aires.v1.Collector` service (Ingest and
//! IngestStream), API-key authentication, and the message size limit.

mod auth;
pub mod codec;
mod refusals;

// The generated server of `aires.v1.Collector` (module `collector_server`),
// taking batches still encoded (see `build.rs`).
include!(concat!(env!("OUT_DIR"), "/aires.v1.Collector.rs"));

use std::pin::Pin;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aires_proto::v1 as proto;
use collector_server::Collector;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Code, Request, Response, Status, Streaming};

pub use auth::ApiKeys;
pub use refusals::RefusalLayer;

use crate::decode::EncodedBatch;
use crate::pipeline::{AckOutcome, Pipeline};
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
}

impl CollectorService {
    /// A service feeding `pipeline`.
    pub fn new(
        pipeline: Pipeline,
        metrics: Arc<Metrics>,
        stopping: watch::Receiver<bool>,
        max_message_bytes: usize,
    ) -> Self {
        CollectorService {
            pipeline,
            metrics,
            stopping,
            max_message_bytes,
        }
    }

    /// A batch must name itself with a 16-byte id: acks and deduplication
    /// refer to it.
    fn check_batch_id(&self, batch: &EncodedBatch) -> Result<(), Status> {
        if batch.batch_id.len() == 16 {
            return Ok(());
        }
        Err(Status::invalid_argument(format!(
            "batch_id must be 16 bytes (a UUID), got {}",
            batch.batch_id.len()
        )))
    }

    /// Submits a batch and waits until it is stored.
    async fn store(
        &self,
        batch: EncodedBatch,
    ) -> Result<(u32, u32, Vec<proto::Rejection>), Status> {
        self.check_batch_id(&batch)?;
        if *self.stopping.borrow() {
            return Err(Status::unavailable(
                "the collector is shutting down; retry on another instance",
            ));
        }
        let answer = self
            .pipeline
            .submit(batch, now_ns())
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        match answer.await {
            Ok(AckOutcome::Stored {
                accepted,
                rejected,
                rejections,
            }) => Ok((accepted, rejected, rejections)),
            Ok(AckOutcome::Failed { code, message }) => Err(Status::new(code, message)),
            Err(_) => Err(Status::unavailable(
                "the collector stopped before storing the batch",
            )),
        }
    }
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

type AckStream = Pin<Box<dyn Stream<Item = Result<proto::IngestAck, Status>> + Send>>;

#[tonic::async_trait]
impl Collector for CollectorService {
    async fn ingest(
        &self,
        request: Request<EncodedBatch>,
    ) -> Result<Response<proto::IngestResponse>, Status> {
        let (accepted, rejected, rejections) = self.store(request.into_inner()).await?;
        Ok(Response::new(proto::IngestResponse {
            accepted,
            rejected,
            rejections,
        }))
    }

    type IngestStreamStream = AckStream;

    async fn ingest_stream(
        &self,
        request: Request<Streaming<EncodedBatch>>,
    ) -> Result<Response<AckStream>, Status> {
        let mut inbound = request.into_inner();
        let (acks, outbound) = mpsc::channel(64);
        let service = self.clone();
        let mut stopping = self.stopping.clone();
        tokio::spawn(async move {
            let mut waiting = JoinSet::new();
            let end = loop {
                let next = tokio::select! {
                    next = inbound.message() => next,
                    _ = stopping.wait_for(|stop| *stop) => {
                        break Some(Status::unavailable("the collector is shutting down; reconnect"));
                    }
                };
                match next {
                    Ok(Some(batch)) => {
                        // Answered tasks are reaped as the stream goes, not
                        // only when it ends.
                        while waiting.try_join_next().is_some() {}
                        // A copy: a slice would keep the whole request
                        // buffer alive until the batch is answered.
                        let batch_id = bytes::Bytes::copy_from_slice(&batch.batch_id);
                        if let Err(status) = service.check_batch_id(&batch) {
                            service.metrics.requests_rejected.inc();
                            break Some(status);
                        }
                        let service = service.clone();
                        let acks = acks.clone();
                        // Submitting waits while the pipeline is full, so
                        // this stream stops reading: HTTP/2 flow control
                        // then slows the client down.
                        let answer = service.pipeline.submit(batch, now_ns()).await;
                        let metrics = service.metrics.clone();
                        waiting.spawn(async move {
                            let ack = match answer {
                                Ok(answer) => ack_for(batch_id, answer.await.ok()),
                                Err(e) => failed_ack(batch_id, Code::Unavailable, e.to_string()),
                            };
                            if ack.error.is_some() {
                                metrics.requests_rejected.inc();
                            }
                            let _ = acks.send(Ok(ack)).await;
                        });
                    }
                    Ok(None) => break None,
                    Err(status) => {
                        service.metrics.requests_rejected.inc();
                        break Some(refusals::explain(status, service.max_message_bytes));
                    }
                }
            };
            // Answer every batch taken before ending the stream.
            while waiting.join_next().await.is_some() {}
            if let Some(status) = end {
                let _ = acks.send(Err(status)).await;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(outbound))))
    }
}

fn ack_for(batch_id: bytes::Bytes, outcome: Option<AckOutcome>) -> proto::IngestAck {
    match outcome {
        Some(AckOutcome::Stored {
            accepted,
            rejected,
            rejections,
        }) => proto::IngestAck {
            batch_id,
            accepted,
            rejected,
            rejections,
            error: None,
        },
        Some(AckOutcome::Failed { code, message }) => failed_ack(batch_id, code, message),
        None => failed_ack(
            batch_id,
            Code::Unavailable,
            "the collector stopped before storing the batch".into(),
        ),
    }
}

fn failed_ack(batch_id: bytes::Bytes, code: Code, message: String) -> proto::IngestAck {
    proto::IngestAck {
        batch_id,
        error: Some(proto::Status {
            code: code as i32,
            message,
        }),
        ..Default::default()
    }
}
