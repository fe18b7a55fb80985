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

use aires_core::transport::{EncodedBatch, Receipt, TransportError};
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(id: [u8; 16]) -> proto::IngestAck {
        proto::IngestAck {
            batch_id: Bytes::copy_from_slice(&id),
            accepted: 1,
            ..Default::default()
        }
    }

    #[test]
    fn each_ack_answers_the_send_of_its_batch_in_any_order() {
        let waiting = Waiting::default();
        let mut first = waiting.add([1; 16]).unwrap();
        let mut second = waiting.add([2; 16]).unwrap();
        waiting.answer(ack([9; 16])); // no such batch: ignored
        waiting.answer(proto::IngestAck {
            batch_id: Bytes::from_static(b"short"),
            ..Default::default()
        }); // not an id: ignored
        assert!(first.try_recv().is_err() && second.try_recv().is_err());
        waiting.answer(ack([2; 16]));
        assert_eq!(
            second.try_recv().unwrap().unwrap().batch_id.as_ref(),
            &[2; 16]
        );
        assert!(first.try_recv().is_err(), "the other send still waits");
        waiting.answer(ack([1; 16]));
        assert_eq!(
            first.try_recv().unwrap().unwrap().batch_id.as_ref(),
            &[1; 16]
        );
        assert!(waiting.senders.lock().is_empty());
    }

    #[test]
    fn a_broken_stream_fails_every_waiting_send_and_takes_no_more() {
        let waiting = Waiting::default();
        let mut a = waiting.add([1; 16]).unwrap();
        let mut b = waiting.add([2; 16]).unwrap();
        waiting.close(&Status::unavailable("connection reset"));
        for rx in [&mut a, &mut b] {
            let status = rx.try_recv().unwrap().unwrap_err();
            assert_eq!(status.code(), Code::Unavailable);
            assert_eq!(status.message(), "connection reset");
        }
        assert!(
            waiting.add([3; 16]).is_none(),
            "a closed stream takes no new sends"
        );
    }

    #[test]
    fn an_abandoned_send_forgets_its_waiter() {
        let waiting = Waiting::default();
        let rx = waiting.add([1; 16]).unwrap();
        drop(Forget {
            waiting: &waiting,
            id: [1; 16],
        });
        drop(rx);
        assert!(waiting.senders.lock().is_empty());
        waiting.answer(ack([1; 16])); // a late ack finds nobody, harmlessly
    }

    #[test]
    fn an_ack_with_an_error_is_the_error_and_rejections_are_counted() {
        let refused = proto::IngestAck {
            error: Some(proto::Status {
                code: Code::InvalidArgument as i32,
                message: "bad batch".into(),
            }),
            ..ack([1; 16])
        };
        let error = ack_result(refused).unwrap_err();
        assert!(!error.is_retryable(), "{error}");
        let busy = proto::IngestAck {
            error: Some(proto::Status {
                code: Code::Unavailable as i32,
                message: "shedding".into(),
            }),
            ..ack([1; 16])
        };
        assert!(ack_result(busy).unwrap_err().is_retryable());
        let partly = proto::IngestAck {
            accepted: 9,
            rejected: 1,
            rejections: vec![proto::Rejection {
                index: 3,
                event_id: Bytes::new(),
                reason: "id is not 16 bytes".into(),
            }],
            ..ack([1; 16])
        };
        let receipt = ack_result(partly).unwrap();
        assert_eq!(receipt.rejected, 1);
        assert!(receipt.reason.unwrap().contains("id is not 16 bytes"));
    }
}
