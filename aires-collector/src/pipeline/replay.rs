//! Recovery: storing what the write-ahead log held and had not settled
//! when the collector stopped (killed, crashed, or out of time at
//! shutdown).
//!
//! - An insert that was cut is written again exactly as it was cut: the
//!   same batches in the same order, decoded again into the same rows, so
//!   its token is the same and ClickHouse drops it if the first write had
//!   been stored.
//! - A batch in no insert is taken into the pipeline as if its client had
//!   sent it again.
//!
//! Both run in the background while the collector takes new batches.
//! Until a logged batch is settled, a client's retry of it waits for its
//! outcome (it is registered among the recent batches).

use std::time::Duration;

use super::ack::{AckOutcome, Settlement};
use super::journal::{LoggedBatch, Unsettled};
use super::recent_batches::Admission;
use super::Pipeline;
use crate::decode::EncodedBatch;
use crate::identity::{BatchKey, Part};
use crate::sink::{RowBatch, SinkErrorKind};

const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Starts storing `unsettled` in the background.
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
    let cuts = unsettled.cuts.len();
    let batches = unsettled.batches.len();
    if cuts + batches == 0 {
        return;
    }
    tracing::info!(
        inserts = cuts,
        batches,
        "storing what the write-ahead log held from before the restart"
    );
    // Registered before the collector serves: a client's retry of any of
    // these batches, arriving at once, waits for its outcome instead of
    // storing it anew.
    let cuts: Vec<_> = unsettled
        .cuts
        .into_iter()
        .map(|(cut, logged)| (cut, register(&pipeline, logged)))
        .collect();
    let batches = register(&pipeline, unsettled.batches);
    tokio::spawn(async move {
        for (cut, logged) in cuts {
            replay_cut(&pipeline, cut, logged, backoff).await;
        }
        for (logged, encoded, settlement) in batches {
            if let Err(error) = pipeline.resubmit(logged, encoded, settlement).await {
                tracing::warn!("recovery stopped: {error}");
                return;
            }
        }
    });
}

/// A logged batch, read again, and the entry its retries wait on (none if
/// the batch was already known).
type Registered = (LoggedBatch, EncodedBatch, Option<Settlement>);

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

/// Writes the insert `cut` of `logged` again, as it was cut.
async fn replay_cut(pipeline: &Pipeline, cut: u64, logged: Vec<Registered>, backoff: Duration) {
    let mut chunks = Vec::with_capacity(logged.len());
    let mut parts = Vec::with_capacity(logged.len());
    let mut answers = Vec::with_capacity(logged.len());
    let lsns: Vec<u64> = logged.iter().map(|(b, _, _)| b.lsn).collect();
    for (batch, encoded, settlement) in logged {
        let out = encoded.decode(batch.received_ns, batch.digest);
        let rows = out.rows.len();
        if let Some(settlement) = settlement {
            answers.push((settlement, rows as u32, out.rejections));
        }
        parts.push(Part {
            digest: batch.digest,
            received_ns: batch.received_ns,
            rows,
        });
        chunks.push(out.rows);
    }
    let batch = RowBatch::new(chunks, parts);
    let sink = &pipeline.ledger.0;
    let mut delay = backoff;
    let outcome = loop {
        match sink.write(&batch).await {
            Ok(()) => {
                pipeline.metrics.events_inserted.inc_by(batch.len() as u64);
                break None;
            }
            Err(error) if error.kind == SinkErrorKind::Transient => {
                pipeline.metrics.sink_retries.inc();
                tracing::warn!(rows = batch.len(), "{error}; retrying a replayed insert");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_BACKOFF);
            }
            Err(error) => {
                pipeline.metrics.events_failed.inc_by(batch.len() as u64);
                tracing::error!(rows = batch.len(), "{error}; a replayed insert is refused");
                break Some(error.message);
            }
        }
    };
    if let Some(journal) = &pipeline.journal {
        if let Err(error) = journal.settle(cut, &lsns) {
            tracing::error!("updating the write-ahead log failed: {error}");
        }
    }
    for (settlement, accepted, mut rejections) in answers {
        let answer = match &outcome {
            None => {
                let rejected = rejections.len() as u32;
                rejections.truncate(super::ack::MAX_NAMED_REJECTIONS);
                AckOutcome::Stored {
                    accepted,
                    rejected,
                    rejections,
                }
            }
            Some(message) => AckOutcome::Failed {
                code: tonic::Code::FailedPrecondition,
                message: message.clone(),
            },
        };
        settlement.recent.finish(settlement.key, &answer);
    }
}
