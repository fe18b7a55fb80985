//! `IngestStream`: batches are read one at a time and each is answered by
//! an ack once stored, in whatever order they are stored.
//!
//! A stream holds at most `max_stream_pending` batches that it has read and
//! whose acks the connection has not yet taken. Past that it stops reading,
//! and HTTP/2 flow control slows the client: a client that never reads its
//! acks costs that many answers, not one per batch it manages to send. An
//! ack keeps its batch's share of the memory budget until the connection
//! takes it.
//!
//! A stream that sends no batch for the idle timeout while none of its
//! batches is waiting for an answer is ended with UNAVAILABLE: it gives
//! back its slot among `--max-open-streams`, and the SDK reconnects when it
//! has batches again.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::{Code, Status, Streaming};

use super::{ack_for, failed_ack, refusals, AckStream, CollectorService};
use crate::decode::EncodedBatch;
use crate::identity::Scope;
use crate::pipeline::budget::BytesHeld;

/// An ack on its way to the client, with what it holds until taken.
struct Sent {
    ack: aires_proto::v1::IngestAck,
    _room: OwnedSemaphorePermit,
    _held: Option<BytesHeld>,
}

/// Serves one stream from a client of `scope`: reads it in a task of its
/// own and returns the acks.
pub(super) fn serve(
    service: CollectorService,
    scope: Scope,
    inbound: Streaming<EncodedBatch>,
) -> AckStream {
    let (acks, outbound) = mpsc::channel(service.max_stream_pending);
    let room = Arc::new(Semaphore::new(service.max_stream_pending));
    tokio::spawn(read(service, scope, inbound, acks, room));
    // Taking an ack from the channel gives back its room and its memory.
    Box::pin(ReceiverStream::new(outbound).map(|sent: Result<Sent, Status>| sent.map(|s| s.ack)))
}

async fn read(
    service: CollectorService,
    scope: Scope,
    mut inbound: Streaming<EncodedBatch>,
    acks: mpsc::Sender<Result<Sent, Status>>,
    room: Arc<Semaphore>,
) {
    let mut stopping = service.stopping.clone();
    let shutting_down = || Status::unavailable("the collector is shutting down; reconnect");
    let mut waiting = JoinSet::new();
    let mut cancelled = false;
    // Every wait below also ends when the client stops listening (it reset
    // the stream or went away): what it sent and was not yet read is
    // dropped, not taken into the pipeline on a dead stream's behalf.
    let end = loop {
        let slot = tokio::select! {
            slot = room.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            _ = stopping.wait_for(|stop| *stop) => break Some(shutting_down()),
            _ = acks.closed() => break None,
        };
        // Idle: nothing read for the timeout, and nothing waiting.
        let idle = async {
            loop {
                tokio::time::sleep(service.stream_idle).await;
                if room.available_permits() + 1 == service.max_stream_pending {
                    return;
                }
            }
        };
        let next = tokio::select! {
            next = inbound.message() => next,
            _ = stopping.wait_for(|stop| *stop) => break Some(shutting_down()),
            _ = acks.closed() => break None,
            () = idle => break Some(Status::unavailable(format!(
                "the stream sent no batch for {} s and is closed; open a new one when you have batches",
                service.stream_idle.as_secs()
            ))),
        };
        let batch = match next {
            Ok(Some(batch)) => batch,
            Ok(None) => break None,
            Err(status) if is_refusal(&status) => {
                service.metrics.requests_rejected.inc();
                break Some(refusals::explain(status, service.max_message_bytes));
            }
            Err(status) => {
                // The client went away or reset the stream.
                cancelled = true;
                break Some(status);
            }
        };
        // Answered tasks are reaped as the stream goes, not only when it
        // ends.
        while waiting.try_join_next().is_some() {}
        // A copy: a slice would keep the whole request buffer alive until
        // the batch is answered.
        let batch_id = Bytes::copy_from_slice(&batch.batch_id);
        if let Err(status) = CollectorService::check_batch_id(&batch) {
            service.metrics.requests_rejected.inc();
            break Some(status);
        }
        // Submitting waits while the pipeline is full, so this stream
        // stops reading: HTTP/2 flow control then slows the client down.
        let pending = tokio::select! {
            pending = service.submit(batch, scope) => pending,
            _ = acks.closed() => break None,
        };
        let acks = acks.clone();
        let metrics = service.metrics.clone();
        waiting.spawn(async move {
            let (ack, held) = match pending {
                Ok(pending) => {
                    let mut answer = pending.answer().await;
                    let held = answer.held.take();
                    (ack_for(batch_id, answer), held)
                }
                Err(status) => (failed_ack(batch_id, &status), None),
            };
            if ack.error.is_some() {
                metrics.requests_rejected.inc();
            }
            let sent = Sent {
                ack,
                _room: slot,
                _held: held,
            };
            let _ = acks.send(Ok(sent)).await;
        });
    };
    // Answer every batch taken before ending the stream.
    while waiting.join_next().await.is_some() {}
    // A stream whose client stopped listening before the end (it reset
    // the stream, or went away with acks unread) was cancelled, unless the
    // collector had refused it.
    let refused = end.as_ref().is_some_and(is_refusal);
    if cancelled || (acks.is_closed() && !refused) {
        service.metrics.requests_cancelled.inc();
    } else if let Some(status) = end {
        let _ = acks.send(Err(status)).await;
    }
}

/// Whether a failed read is the collector refusing the message (malformed,
/// too large, a compression it cannot undo) rather than the client going
/// away.
fn is_refusal(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::InvalidArgument
            | Code::OutOfRange
            | Code::ResourceExhausted
            | Code::Internal
            | Code::Unimplemented
    )
}
