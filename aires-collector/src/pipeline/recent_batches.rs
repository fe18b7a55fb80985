//! Retries of a batch that this collector already has are not stored twice,
//! and a batch id cannot be reused for other content.
//!
//! An SDK retries a batch (same `batch_id`, same bytes) when its call
//! failed or timed out, which can happen while the first attempt is still
//! in the pipeline, or after it was stored but the answer was lost. The
//! collector remembers the batches it is processing and the last
//! [`REMEMBERED`] it stored, each by its [`BatchKey`] (the client's scope
//! and the batch id) with its [`Digest`]:
//! - a retry with the same digest is answered with the first attempt's
//!   outcome instead of being stored again;
//! - the same id with another digest is a conflict: the client reused an
//!   id, and its batch is refused (`ALREADY_EXISTS`), never answered as
//!   stored;
//! - keys are per scope, so one client's ids never touch another's.
//!
//! This covers retries that reach the same instance while it runs (one SDK
//! keeps one HTTP/2 connection, so its retries do).

use std::collections::{HashMap, VecDeque};

use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::AckOutcome;
use crate::identity::{BatchKey, Digest};

/// Rejections remembered per stored batch, for the answer to a retry (which
/// counts them all): the memory of recent batches stays about 30 MB at
/// most, whatever the batches held.
const REMEMBERED_REJECTIONS: usize = 1;

/// Stored batch ids remembered.
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
    stored_order: VecDeque<BatchKey>,
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
    /// for it. A stored batch is remembered; a failed one is forgotten, so
    /// a retry is processed afresh.
    pub fn finish(&self, key: BatchKey, outcome: &AckOutcome) {
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
        if let AckOutcome::Stored {
            accepted,
            rejected,
            rejections,
        } = outcome
        {
            // A retry's answer names the first rejection (and counts them
            // all).
            let outcome = AckOutcome::Stored {
                accepted: *accepted,
                rejected: *rejected,
                rejections: rejections
                    .iter()
                    .take(REMEMBERED_REJECTIONS)
                    .cloned()
                    .collect(),
            };
            state.entries.insert(key, Entry::Stored { digest, outcome });
            state.stored_order.push_back(key);
            while state.stored_order.len() > REMEMBERED {
                if let Some(old) = state.stored_order.pop_front() {
                    state.entries.remove(&old);
                }
            }
        }
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
    fn a_remembered_answer_keeps_its_count_and_a_few_reasons() {
        let recent = RecentBatches::default();
        assert!(matches!(recent.admit(key(3), CONTENT), Admission::New));
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
        match late.try_recv().unwrap() {
            AckOutcome::Stored {
                accepted,
                rejected,
                rejections,
            } => {
                assert_eq!((accepted, rejected), (1, 100));
                assert_eq!(rejections.len(), REMEMBERED_REJECTIONS);
            }
            other => panic!("{other:?}"),
        }
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
        assert!(
            matches!(recent.admit(key(0), CONTENT), Admission::New),
            "the oldest was forgotten"
        );
    }
}
