//! Retries of a batch that this collector already has are not stored twice.
//!
//! An SDK retries a batch (same `batch_id`, same events) when its call
//! failed or timed out, which can happen while the first attempt is still
//! in the pipeline, or after it was stored but the answer was lost. The
//! collector remembers the batch ids it is processing and the last
//! [`REMEMBERED`] it stored: a retry of one of those is answered with the
//! first attempt's outcome instead of being stored again.
//!
//! This covers retries that reach the same instance (one SDK keeps one
//! HTTP/2 connection, so its retries do); across instances the store's own
//! deduplication is the remedy.

use std::collections::{HashMap, VecDeque};

use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::AckOutcome;

/// Rejections remembered per stored batch, for the answer to a retry.
const REMEMBERED_REJECTIONS: usize = 8;

/// Stored batch ids remembered.
pub const REMEMBERED: usize = 65_536;

#[derive(Debug)]
enum Entry {
    /// Being processed; these receivers want its outcome.
    InFlight(Vec<oneshot::Sender<AckOutcome>>),
    /// Stored with this outcome.
    Stored(AckOutcome),
}

/// Batch ids in flight or recently stored.
#[derive(Debug, Default)]
pub struct RecentBatches {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<[u8; 16], Entry>,
    stored_order: VecDeque<[u8; 16]>,
}

/// What to do with a batch.
#[derive(Debug)]
pub enum Admission {
    /// First time seen: process it, then call [`RecentBatches::finish`].
    New(oneshot::Receiver<AckOutcome>),
    /// A retry: the receiver gets the first attempt's outcome.
    Known(oneshot::Receiver<AckOutcome>),
}

impl RecentBatches {
    /// Registers interest in batch `id`.
    pub fn admit(&self, id: [u8; 16]) -> Admission {
        let (tx, rx) = oneshot::channel();
        let mut state = self.state.lock();
        match state.entries.get_mut(&id) {
            Some(Entry::InFlight(waiting)) => {
                waiting.push(tx);
                Admission::Known(rx)
            }
            Some(Entry::Stored(outcome)) => {
                let _ = tx.send(outcome.clone());
                Admission::Known(rx)
            }
            None => {
                state.entries.insert(id, Entry::InFlight(vec![tx]));
                Admission::New(rx)
            }
        }
    }

    /// Records the outcome of batch `id` and answers everyone waiting. A
    /// stored batch is remembered; a failed one is forgotten, so a retry is
    /// processed afresh.
    pub fn finish(&self, id: [u8; 16], outcome: AckOutcome) {
        let mut state = self.state.lock();
        let waiting = match state.entries.remove(&id) {
            Some(Entry::InFlight(waiting)) => waiting,
            _ => Vec::new(),
        };
        for tx in waiting {
            let _ = tx.send(outcome.clone());
        }
        if let AckOutcome::Stored {
            accepted,
            rejected,
            mut rejections,
        } = outcome
        {
            // A retry's answer names the first few rejections (and counts
            // them all): 65536 remembered batches stay a few megabytes.
            rejections.truncate(REMEMBERED_REJECTIONS);
            let outcome = AckOutcome::Stored {
                accepted,
                rejected,
                rejections,
            };
            state.entries.insert(id, Entry::Stored(outcome));
            state.stored_order.push_back(id);
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

    fn stored(accepted: u32) -> AckOutcome {
        AckOutcome::Stored {
            accepted,
            rejected: 0,
            rejections: Vec::new(),
        }
    }

    #[test]
    fn a_retry_in_flight_waits_for_the_first_attempt() {
        let recent = RecentBatches::default();
        let Admission::New(mut first) = recent.admit([1; 16]) else {
            panic!("new")
        };
        let Admission::Known(mut retry) = recent.admit([1; 16]) else {
            panic!("known")
        };
        assert!(retry.try_recv().is_err(), "not answered before the first");
        recent.finish([1; 16], stored(5));
        assert!(matches!(
            first.try_recv().unwrap(),
            AckOutcome::Stored { accepted: 5, .. }
        ));
        assert!(matches!(
            retry.try_recv().unwrap(),
            AckOutcome::Stored { accepted: 5, .. }
        ));
        // Later retries are answered at once, from memory.
        let Admission::Known(mut late) = recent.admit([1; 16]) else {
            panic!("known")
        };
        assert!(matches!(
            late.try_recv().unwrap(),
            AckOutcome::Stored { accepted: 5, .. }
        ));
    }

    #[test]
    fn a_remembered_answer_keeps_its_count_and_a_few_reasons() {
        let recent = RecentBatches::default();
        let Admission::New(_) = recent.admit([3; 16]) else {
            panic!("new")
        };
        let rejections = vec![aires_proto::v1::Rejection::default(); 100];
        recent.finish(
            [3; 16],
            AckOutcome::Stored {
                accepted: 1,
                rejected: 100,
                rejections,
            },
        );
        let Admission::Known(mut late) = recent.admit([3; 16]) else {
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
        let Admission::New(_) = recent.admit([2; 16]) else {
            panic!("new")
        };
        recent.finish(
            [2; 16],
            AckOutcome::Failed {
                code: tonic::Code::Unavailable,
                message: "down".into(),
            },
        );
        assert!(matches!(recent.admit([2; 16]), Admission::New(_)));
    }

    #[test]
    fn remembers_a_bounded_number_of_batches() {
        let recent = RecentBatches::default();
        for n in 0..(REMEMBERED as u32 + 10) {
            let mut id = [0; 16];
            id[..4].copy_from_slice(&n.to_be_bytes());
            let Admission::New(_) = recent.admit(id) else {
                panic!("new")
            };
            recent.finish(id, stored(1));
        }
        assert_eq!(recent.state.lock().entries.len(), REMEMBERED);
        assert!(
            matches!(recent.admit([0; 16]), Admission::New(_)),
            "the oldest was forgotten"
        );
    }
}
