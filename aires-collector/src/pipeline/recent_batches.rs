//! Retries of a batch that this collector already has are not stored twice,
//! and a batch id cannot be reused for other content.
//!
//! An SDK retries a batch (same `batch_id`, same bytes) when its call
//! failed or timed out, which can happen while the first attempt is still
//! in the pipeline, or after it was stored but the answer was lost. The
//! collector remembers the batches it is processing and, per client scope,
//! the last [`REMEMBERED`] that it stored rows of, each by its [`BatchKey`]
//! (the client's scope and the batch id) with its [`Digest`]:
//! - a retry with the same digest is answered with the first attempt's
//!   outcome instead of being stored again;
//! - the same id with another digest is a conflict: the client reused an
//!   id, and its batch is refused (`ALREADY_EXISTS`), never answered as
//!   stored;
//! - keys are per scope, so one client's ids never touch another's, and
//!   one scope's batches never push another's out of memory.
//!
//! A retry's answer counts the events accepted and refused; it names no
//! reasons (the first attempt's answer did), so each remembered batch
//! costs about a hundred bytes whatever it held. Batches that stored no
//! rows are not remembered: processing one again stores nothing either.
//!
//! This covers retries that reach the same instance while it runs (one SDK
//! keeps one HTTP/2 connection, so its retries do).

use std::collections::{HashMap, VecDeque};

use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::AckOutcome;
use crate::identity::{BatchKey, Digest, Scope};

/// Stored batch ids remembered per scope.
pub const REMEMBERED: usize = 65_536;

#[derive(Debug)]
enum Entry {
    /// Being processed; these receivers want its outcome.
    InFlight {
        digest: Digest,
        waiting: Vec<oneshot::Sender<AckOutcome>>,
    },
    /// Stored with this outcome.
    Stored { digest: Digest, outcome: AckOutcome },
}

impl Entry {
    fn digest(&self) -> Digest {
        match self {
            Entry::InFlight { digest, .. } | Entry::Stored { digest, .. } => *digest,
        }
    }
}

/// Batches in flight or recently stored.
#[derive(Debug, Default)]
pub struct RecentBatches {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<BatchKey, Entry>,
    /// Per scope, the stored batches in the order they were stored.
    stored_order: HashMap<Scope, VecDeque<[u8; 16]>>,
}

/// What to do with a batch.
#[derive(Debug)]
pub enum Admission {
    /// First time seen: process it, then call [`RecentBatches::finish`].
    New,
    /// A retry: the receiver gets the first attempt's outcome.
    Known(oneshot::Receiver<AckOutcome>),
    /// The id is taken by a batch with other content.
    Conflict,
}

impl RecentBatches {
    /// Registers batch `key` with content `digest`.
    pub fn admit(&self, key: BatchKey, digest: Digest) -> Admission {
        let mut state = self.state.lock();
        let Some(entry) = state.entries.get_mut(&key) else {
            state.entries.insert(
                key,
                Entry::InFlight {
                    digest,
                    waiting: Vec::new(),
                },
            );
            return Admission::New;
        };
        if entry.digest() != digest {
            return Admission::Conflict;
        }
        let (tx, rx) = oneshot::channel();
        match entry {
            Entry::InFlight { waiting, .. } => waiting.push(tx),
            Entry::Stored { outcome, .. } => {
                let _ = tx.send(outcome.clone());
            }
        }
        Admission::Known(rx)
    }

    /// Records the outcome of batch `key` and answers every retry waiting
    /// for it. A batch that stored rows is remembered; a failed one is
    /// forgotten, so a retry is processed afresh.
    pub fn finish(&self, key: BatchKey, outcome: &AckOutcome) {
        let outcome = remembered(outcome);
        let mut state = self.state.lock();
        let (digest, waiting) = match state.entries.remove(&key) {
            Some(Entry::InFlight { digest, waiting }) => (digest, waiting),
            Some(stored @ Entry::Stored { .. }) => {
                // Already settled: keep what is remembered.
                state.entries.insert(key, stored);
                return;
            }
            None => return,
        };
        for tx in waiting {
            let _ = tx.send(outcome.clone());
        }
        if !matches!(outcome, AckOutcome::Stored { accepted, .. } if accepted > 0) {
            return;
        }
        state.entries.insert(key, Entry::Stored { digest, outcome });
        let order = state.stored_order.entry(key.scope).or_default();
        order.push_back(key.batch_id);
        let oldest = (order.len() > REMEMBERED)
            .then(|| order.pop_front())
            .flatten();
        if let Some(batch_id) = oldest {
            state.entries.remove(&BatchKey {
                scope: key.scope,
                batch_id,
            });
        }
    }
}

/// An outcome as retries are answered with it: the counts, no reasons.
fn remembered(outcome: &AckOutcome) -> AckOutcome {
    match outcome {
        AckOutcome::Stored {
            accepted, rejected, ..
        } => AckOutcome::Stored {
            accepted: *accepted,
            rejected: *rejected,
            rejections: Vec::new(),
        },
        failed => failed.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Scope;

    fn stored(accepted: u32) -> AckOutcome {
        AckOutcome::Stored {
            accepted,
            rejected: 0,
            rejections: Vec::new(),
        }
    }

    fn key(n: u8) -> BatchKey {
        BatchKey {
            scope: Scope::ANONYMOUS,
            batch_id: [n; 16],
        }
    }

    const CONTENT: Digest = Digest([7; 16]);

    #[test]
    fn a_retry_in_flight_waits_for_the_first_attempt() {
        let recent = RecentBatches::default();
        assert!(matches!(recent.admit(key(1), CONTENT), Admission::New));
        let Admission::Known(mut retry) = recent.admit(key(1), CONTENT) else {
            panic!("known")
        };
        assert!(retry.try_recv().is_err(), "not answered before the first");
        recent.finish(key(1), &stored(5));
        assert!(matches!(
            retry.try_recv().unwrap(),
            AckOutcome::Stored { accepted: 5, .. }
        ));
        // Later retries are answered at once, from memory.
        let Admission::Known(mut late) = recent.admit(key(1), CONTENT) else {
            panic!("known")
        };
        assert!(matches!(
            late.try_recv().unwrap(),
            AckOutcome::Stored { accepted: 5, .. }
        ));
    }

    #[test]
    fn the_same_id_with_other_content_is_a_conflict_in_flight_and_after() {
        let recent = RecentBatches::default();
        assert!(matches!(recent.admit(key(1), CONTENT), Admission::New));
        assert!(matches!(
            recent.admit(key(1), Digest([8; 16])),
            Admission::Conflict
        ));
        recent.finish(key(1), &stored(5));
        assert!(matches!(
            recent.admit(key(1), Digest([8; 16])),
            Admission::Conflict
        ));
    }

    #[test]
    fn ids_are_per_scope() {
        let recent = RecentBatches::default();
        assert!(matches!(recent.admit(key(1), CONTENT), Admission::New));
        recent.finish(key(1), &stored(5));
        let other = BatchKey {
            scope: Scope::of_api_key("tenant-b"),
            batch_id: [1; 16],
        };
        assert!(matches!(
            recent.admit(other, Digest([8; 16])),
            Admission::New
        ));
    }

    #[test]
    fn a_remembered_answer_keeps_its_counts_and_no_reasons() {
        let recent = RecentBatches::default();
        assert!(matches!(recent.admit(key(3), CONTENT), Admission::New));
        let Admission::Known(mut waiting) = recent.admit(key(3), CONTENT) else {
            panic!("known")
        };
        let rejections = vec![aires_proto::v1::Rejection::default(); 100];
        recent.finish(
            key(3),
            &AckOutcome::Stored {
                accepted: 1,
                rejected: 100,
                rejections,
            },
        );
        let Admission::Known(mut late) = recent.admit(key(3), CONTENT) else {
            panic!("known")
        };
        for answer in [waiting.try_recv().unwrap(), late.try_recv().unwrap()] {
            match answer {
                AckOutcome::Stored {
                    accepted,
                    rejected,
                    rejections,
                } => {
                    assert_eq!((accepted, rejected), (1, 100));
                    assert!(rejections.is_empty());
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_batch_that_stored_nothing_is_not_remembered() {
        let recent = RecentBatches::default();
        assert!(matches!(recent.admit(key(4), CONTENT), Admission::New));
        recent.finish(key(4), &stored(0));
        assert!(recent.state.lock().entries.is_empty());
        assert!(matches!(recent.admit(key(4), CONTENT), Admission::New));
    }

    #[test]
    fn one_scope_cannot_push_another_out_of_memory() {
        let recent = RecentBatches::default();
        assert!(matches!(recent.admit(key(1), CONTENT), Admission::New));
        recent.finish(key(1), &stored(1));
        let flood = Scope::of_api_key("flood");
        for n in 0..(REMEMBERED as u32 + 10) {
            let mut batch_id = [0; 16];
            batch_id[..4].copy_from_slice(&n.to_be_bytes());
            let key = BatchKey {
                scope: flood,
                batch_id,
            };
            assert!(matches!(recent.admit(key, CONTENT), Admission::New));
            recent.finish(key, &stored(1));
        }
        assert!(matches!(recent.admit(key(1), CONTENT), Admission::Known(_)));
    }

    #[test]
    fn a_failed_batch_is_forgotten() {
        let recent = RecentBatches::default();
        assert!(matches!(recent.admit(key(2), CONTENT), Admission::New));
        recent.finish(
            key(2),
            &AckOutcome::Failed {
                code: tonic::Code::Unavailable,
                message: "down".into(),
            },
        );
        assert!(matches!(
            recent.admit(key(2), Digest([9; 16])),
            Admission::New
        ));
    }

    #[test]
    fn remembers_a_bounded_number_of_batches() {
        let recent = RecentBatches::default();
        for n in 0..(REMEMBERED as u32 + 10) {
            let mut id = [0; 16];
            id[..4].copy_from_slice(&n.to_be_bytes());
            let key = BatchKey {
                scope: Scope::ANONYMOUS,
                batch_id: id,
            };
            assert!(matches!(recent.admit(key, CONTENT), Admission::New));
            recent.finish(key, &stored(1));
        }
        assert_eq!(recent.state.lock().entries.len(), REMEMBERED);
        assert_eq!(
            recent.state.lock().stored_order[&Scope::ANONYMOUS].len(),
            REMEMBERED
        );
        assert!(
            matches!(recent.admit(key(0), CONTENT), Admission::New),
            "the oldest was forgotten"
        );
    }
}
