//! Recovery: storing what the write-ahead log held and had not settled
//! when the collector stopped (killed, crashed, or out of time at
//! shutdown).
//!
//! A batch not settled may have been stored before the crash (its insert
//! reached ClickHouse, and the answer did not come back), or meanwhile by
//! another collector, if its client retried there. So each is looked up in
//! the sink's ledger first: found, it is done; absent, it is taken into the
//! pipeline again and inserted on its own, under a token naming only the
//! batch ([`crate::identity::alone_token`]), the same token another
//! collector uses for a retry it does not know: whichever stores it first,
//! ClickHouse drops the other.
//!
//! The batches are registered among the recent batches before the
//! collector serves, so a client's retry of one (marked as a retry or not)
//! waits for its outcome; the look-ups and inserts run in the background.

use std::time::Duration;

use super::ack::{AckOutcome, Settlement, MAX_NAMED_REJECTIONS};
use super::batcher::look_up;
use super::journal::{LoggedBatch, Unsettled};
use super::recent_batches::Admission;
use super::Pipeline;
use crate::decode::EncodedBatch;
use crate::identity::{BatchKey, Digest};

/// Batches looked up in one query.
const LOOKUP_CHUNK: usize = 500;

/// A logged batch, read again, and the entry its retries wait on (none if
/// the batch was already known).
type Registered = (LoggedBatch, EncodedBatch, Option<Settlement>);

/// Registers `unsettled` and starts storing it in the background.
pub(super) fn start(pipeline: Pipeline, unsettled: Unsettled, backoff: Duration) {
    if unsettled.truncated_bytes > 0 {
        tracing::warn!(
            bytes = unsettled.truncated_bytes,
            "the write-ahead log ended in a torn write, cut off (its batch was never answered)"
        );
    }
    for (path, why) in &unsettled.corrupt {
        tracing::error!(
            segment = %path.display(),
            "a write-ahead log segment is damaged ({why}); its records from the damage on are skipped"
        );
    }
    if unsettled.batches.is_empty() {
        return;
    }
    tracing::info!(
        batches = unsettled.batches.len(),
        in_inserts = unsettled.in_inserts,
        "storing what the write-ahead log held from before the restart"
    );
    let batches = register(&pipeline, unsettled.batches);
    tokio::spawn(async move {
        let mut batches = batches.into_iter().peekable();
        while batches.peek().is_some() {
            let chunk: Vec<Registered> = batches.by_ref().take(LOOKUP_CHUNK).collect();
            let digests: Vec<Digest> = chunk.iter().map(|(b, _, _)| b.digest).collect();
            let stored = look_up(&*pipeline.ledger.0, &pipeline.metrics, &digests, backoff).await;
            for (logged, encoded, settlement) in chunk {
                if stored.contains(&logged.digest) {
                    done(&pipeline, logged, encoded, settlement);
                } else if let Err(error) = pipeline.resubmit(logged, encoded, settlement).await {
                    // The collector is stopping: the rest stays in the log
                    // for the next start, and retries waiting on these
                    // batches are told to send them again.
                    tracing::warn!("recovery stopped: {error}");
                    for (_, _, settlement) in batches.by_ref() {
                        if let Some(settlement) = settlement {
                            settlement
                                .recent
                                .finish(settlement.key, &super::ack::stopped());
                        }
                    }
                    return;
                }
            }
        }
    });
}

/// Reads each batch's top level again and registers it among the recent
/// batches.
fn register(pipeline: &Pipeline, logged: Vec<LoggedBatch>) -> Vec<Registered> {
    logged
        .into_iter()
        .filter_map(|batch| {
            let encoded = match EncodedBatch::scan(batch.encoded.clone()) {
                Ok(encoded) => encoded,
                // It decoded when it was taken: the log is damaged.
                Err(error) => {
                    tracing::error!(
                        lsn = batch.lsn,
                        "a logged batch does not decode ({error}); skipped"
                    );
                    if let Some(journal) = &pipeline.journal {
                        journal.forget(&[batch.lsn]);
                    }
                    return None;
                }
            };
            let key = BatchKey {
                scope: batch.scope,
                batch_id: encoded.batch_id.as_ref().try_into().unwrap_or_default(),
            };
            let settlement = matches!(pipeline.recent.admit(key, batch.digest), Admission::New)
                .then(|| Settlement {
                    recent: pipeline.recent.clone(),
                    key,
                });
            Some((batch, encoded, settlement))
        })
        .collect()
}

/// A logged batch the ledger holds: settled in the log, and its retries
/// answered as its first attempt was (decoding it again gives the same
/// counts and rejections).
fn done(
    pipeline: &Pipeline,
    logged: LoggedBatch,
    encoded: EncodedBatch,
    settlement: Option<Settlement>,
) {
    pipeline.metrics.batches_deduplicated.inc();
    if let Some(journal) = &pipeline.journal {
        journal.forget(&[logged.lsn]);
    }
    let Some(settlement) = settlement else {
        return;
    };
    let out = encoded.decode(logged.received_ns, logged.digest);
    let rejected = out.rejections.len() as u32;
    let mut rejections = out.rejections;
    rejections.truncate(MAX_NAMED_REJECTIONS);
    let outcome = AckOutcome::Stored {
        accepted: out.rows.len() as u32,
        rejected,
        rejections,
    };
    settlement.recent.finish(settlement.key, &outcome);
}
