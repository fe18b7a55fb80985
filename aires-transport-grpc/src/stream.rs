//! Streaming mode: one long-lived `IngestStream` call carries every batch;
//! each send waits for the ack that names its batch id.
//!
//! If the stream breaks, every waiting send fails with its outcome unknown
//! (the collector may have stored the batch before the stream broke) and
//! the next send opens a new stream; the pipeline then retries the failed
//! batches with the same ids and bytes, which the collector recognises.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use aires_core::{EncodedBatch, Receipt, TransportError};
use aires_proto::v1 as proto;
use bytes::Bytes;
use http::uri::PathAndQuery;
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::codec::PreEncodedCodec;
use crate::status::{call_error, status_to_error};

type AckResult = Result<proto::IngestAck, Status>;

/// The current stream, opened on first use and again after it breaks.
#[derive(Debug, Default)]
pub(crate) struct AckStream {
    open: tokio::sync::Mutex<Option<Open>>,
}

#[derive(Clone, Debug)]
struct Open {
    outbound: mpsc::Sender<Bytes>,
    waiting: Arc<Waiting>,
}

/// Sends waiting for their ack, by batch id.
#[derive(Debug, Default)]
struct Waiting {
    senders: Mutex<HashMap<[u8; 16], oneshot::Sender<AckResult>>>,
    closed: AtomicBool,
}

impl Waiting {
    /// Registers a waiter, unless the stream is already closed.
    fn add(&self, id: [u8; 16]) -> Option<oneshot::Receiver<AckResult>> {
        let mut senders = self.senders.lock();
        if self.closed.load(Ordering::Acquire) {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        senders.insert(id, tx);
        Some(rx)
    }

    fn answer(&self, ack: proto::IngestAck) {
        let Ok(id) = <[u8; 16]>::try_from(ack.batch_id.as_ref()) else {
            return;
        };
        if let Some(tx) = self.senders.lock().remove(&id) {
            let _ = tx.send(Ok(ack));
        }
    }

    /// Fails every waiter with `status` and refuses new ones.
    fn close(&self, status: &Status) {
        let mut senders = self.senders.lock();
        self.closed.store(true, Ordering::Release);
        for (_, tx) in senders.drain() {
            let _ = tx.send(Err(Status::new(status.code(), status.message().to_owned())));
        }
    }
}

/// Removes a waiter whose send was abandoned (timed out or cancelled).
struct Forget<'a> {
    waiting: &'a Waiting,
    id: [u8; 16],
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.waiting.senders.lock().remove(&self.id);
    }
}

impl AckStream {
    pub(crate) async fn send(
        &self,
        grpc: tonic::client::Grpc<Channel>,
        batch: EncodedBatch,
        timeout: std::time::Duration,
        request: impl FnOnce(ReceiverStream<Bytes>) -> tonic::Request<ReceiverStream<Bytes>>,
    ) -> Result<Receipt, TransportError> {
        let open = self.open(grpc, request).await?;
        let id = batch.id.to_bytes();
        let closed = || TransportError::retryable("the ingest stream closed; reopening");
        let ack = open.waiting.add(id).ok_or_else(closed)?;
        let _forget = Forget {
            waiting: &open.waiting,
            id,
        };
        if open
            .outbound
            .send(crate::with_attempt(&batch))
            .await
            .is_err()
        {
            open.waiting
                .close(&Status::unavailable("the ingest stream closed"));
            return Err(closed());
        }
        // From here the batch may have reached the collector.
        let lost = |why: String| TransportError::outcome_unknown(why);
        match tokio::time::timeout(timeout, ack).await {
            Ok(Ok(Ok(ack))) => ack_result(ack),
            Ok(Ok(Err(status))) => Err(lost(format!(
                "the ingest stream ended before the batch's ack: {}",
                call_error(&status)
            ))),
            Ok(Err(_)) => Err(lost(
                "the ingest stream closed before the batch's ack".into(),
            )),
            Err(_) => Err(lost(format!("no ack for the batch within {timeout:?}"))),
        }
    }

    async fn open(
        &self,
        mut grpc: tonic::client::Grpc<Channel>,
        request: impl FnOnce(ReceiverStream<Bytes>) -> tonic::Request<ReceiverStream<Bytes>>,
    ) -> Result<Open, TransportError> {
        let mut slot = self.open.lock().await;
        if let Some(open) = &*slot {
            if !open.waiting.closed.load(Ordering::Acquire) {
                return Ok(open.clone());
            }
        }
        grpc.ready()
            .await
            .map_err(|e| TransportError::retryable("collector unreachable").with_source(e))?;
        let (outbound, queued) = mpsc::channel(64);
        let response = grpc
            .streaming(
                request(ReceiverStream::new(queued)),
                PathAndQuery::from_static(crate::INGEST_STREAM_PATH),
                PreEncodedCodec::<proto::IngestAck>::default(),
            )
            .await
            // No batch has been put on a stream that did not open.
            .map_err(|status| {
                let error = call_error(&status);
                if error.is_retryable() {
                    TransportError::retryable(format!("cannot open the ingest stream: {error}"))
                } else {
                    error
                }
            })?;
        let waiting = Arc::new(Waiting::default());
        let routes = waiting.clone();
        let mut inbound = response.into_inner();
        tokio::spawn(async move {
            let end = loop {
                match inbound.message().await {
                    Ok(Some(ack)) => routes.answer(ack),
                    Ok(None) => break Status::unavailable("the collector ended the ingest stream"),
                    Err(status) => break status,
                }
            };
            routes.close(&end);
        });
        let open = Open { outbound, waiting };
        *slot = Some(open.clone());
        Ok(open)
    }
}

/// A stored batch's ack as a receipt; a failed batch's ack as an error.
fn ack_result(ack: proto::IngestAck) -> Result<Receipt, TransportError> {
    if let Some(error) = ack.error {
        let status = Status::new(Code::from_i32(error.code), error.message);
        return Err(status_to_error(&status));
    }
    Ok(crate::receipt(ack.rejected, &ack.rejections))
}
