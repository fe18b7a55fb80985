//! Acknowledgement of one ingest request: answered once every row it
//! produced is stored (or has failed), so an answer means "stored".

use std::sync::Arc;

use aires_proto::v1 as proto;
use parking_lot::Mutex;
use tokio::sync::{oneshot, OwnedSemaphorePermit};

use super::budget::BytesHeld;
use super::recent_batches::RecentBatches;
use crate::identity::BatchKey;

/// Rejections named in an answer at most; `rejected` counts them all. A
/// request of millions of invalid events would otherwise get an answer of
/// tens of megabytes, and the memory of recent batches would keep it.
pub const MAX_NAMED_REJECTIONS: usize = 1000;

/// What the pipeline did with a request's events.
#[derive(Clone, Debug)]
pub enum AckOutcome {
    /// Every accepted event is stored; `rejected` were refused, the first
    /// [`MAX_NAMED_REJECTIONS`] of them named with their reasons.
    Stored {
        accepted: u32,
        rejected: u32,
        rejections: Vec<proto::Rejection>,
    },
    /// The store refused the batch (or the pipeline shut down without
    /// storing it); nothing of it should be assumed stored.
    Failed { code: tonic::Code, message: String },
}

/// The answer to a request: what happened to it, and its share of the
/// memory budget, to give back once the answer is handed to the client's
/// connection.
#[derive(Debug)]
pub struct Answer {
    pub outcome: AckOutcome,
    pub held: Option<BytesHeld>,
}

/// Tracks one request's rows through the pipeline.
#[derive(Debug)]
pub struct Ack {
    state: Mutex<State>,
}

/// Where a request's outcome is recorded for retries of its batch.
#[derive(Debug)]
pub struct Settlement {
    pub recent: Arc<RecentBatches>,
    pub key: BatchKey,
}

#[derive(Debug)]
struct State {
    /// Rows not yet stored or failed; `None` until transformed.
    remaining: Option<usize>,
    accepted: u32,
    rejected: u32,
    rejections: Vec<proto::Rejection>,
    failure: Option<(tonic::Code, String)>,
    reply: Option<oneshot::Sender<Answer>>,
    /// The request's share of the pipeline's event capacity, given back
    /// when the request is answered.
    permit: Option<OwnedSemaphorePermit>,
    /// The request's share of the memory budget, handed over with the
    /// answer.
    held: Option<BytesHeld>,
    settlement: Option<Settlement>,
    /// Answer once transformed (the batch is in the write-ahead log), not
    /// once stored; the permit and the memory are still held until then.
    answer_when_logged: bool,
}

impl Ack {
    /// A tracker answering on `reply`, holding `permit` until then, and
    /// `held` until the answer is handed on. `settlement` is told the
    /// outcome before the reply is sent.
    pub fn new(
        reply: oneshot::Sender<Answer>,
        permit: OwnedSemaphorePermit,
        held: Option<BytesHeld>,
        settlement: Option<Settlement>,
    ) -> Self {
        Ack {
            state: Mutex::new(State {
                remaining: None,
                accepted: 0,
                rejected: 0,
                rejections: Vec::new(),
                failure: None,
                reply: Some(reply),
                permit: Some(permit),
                held,
                settlement,
                answer_when_logged: false,
            }),
        }
    }

    /// Answers as soon as the request is transformed: its batch is in the
    /// write-ahead log (`--ack persisted`).
    pub fn answer_when_logged(self) -> Self {
        self.state.lock().answer_when_logged = true;
        self
    }

    /// The request, decoded, holds `bytes` of memory: its share of the
    /// budget becomes that.
    pub fn holds(&self, bytes: usize) {
        if let Some(held) = self.state.lock().held.as_mut() {
            held.resize(bytes);
        }
    }

    /// Records the transform's outcome: `rows` rows are on their way to the
    /// sink, `rejections` were refused.
    pub fn transformed(&self, rows: usize, mut rejections: Vec<proto::Rejection>) {
        let mut state = self.state.lock();
        state.remaining = Some(rows);
        state.rejected = rejections.len() as u32;
        rejections.truncate(MAX_NAMED_REJECTIONS);
        state.rejections = rejections;
        if state.answer_when_logged {
            state.accepted = rows as u32;
            Self::answer(&mut state, None);
        }
        Self::answer_if_done(&mut state);
    }

    /// `rows` of this request's rows are stored.
    pub fn stored(&self, rows: usize) {
        let mut state = self.state.lock();
        if !state.answer_when_logged {
            state.accepted += rows as u32;
        }
        Self::settle(&mut state, rows);
    }

    /// `rows` of this request's rows could not be stored.
    pub fn failed(&self, rows: usize, code: tonic::Code, message: &str) {
        let mut state = self.state.lock();
        state
            .failure
            .get_or_insert_with(|| (code, message.to_owned()));
        Self::settle(&mut state, rows);
    }

    fn settle(state: &mut State, rows: usize) {
        if let Some(remaining) = state.remaining.as_mut() {
            *remaining = remaining.saturating_sub(rows);
        }
        Self::answer_if_done(state);
    }

    fn answer_if_done(state: &mut State) {
        if state.remaining != Some(0) {
            return;
        }
        state.permit = None;
        let held = state.held.take();
        if state.reply.is_some() {
            Self::answer(state, held);
        }
        // Answered before (once logged): the rows are settled, and what
        // the request held is given back here.
    }

    /// Sends the answer, handing on `held` (resized to the answer's own
    /// size: the rows are no longer held by it).
    fn answer(state: &mut State, mut held: Option<BytesHeld>) {
        let Some(reply) = state.reply.take() else {
            return;
        };
        let outcome = match state.failure.take() {
            Some((code, message)) => AckOutcome::Failed { code, message },
            None => AckOutcome::Stored {
                accepted: state.accepted,
                rejected: state.rejected,
                rejections: std::mem::take(&mut state.rejections),
            },
        };
        if let Some(settlement) = state.settlement.take() {
            settlement.recent.finish(settlement.key, &outcome);
        }
        if let Some(held) = held.as_mut() {
            held.resize(answer_bytes(&outcome));
        }
        let _ = reply.send(Answer { outcome, held });
    }
}

impl Drop for Ack {
    /// A request dropped unanswered (the pipeline stopped): its batch is
    /// not stored, and retries waiting for it are told so.
    fn drop(&mut self) {
        let state = self.state.get_mut();
        if let Some(settlement) = state.settlement.take() {
            settlement.recent.finish(settlement.key, &stopped());
        }
    }
}

/// Bytes an answer holds: its named rejections and a little more.
fn answer_bytes(outcome: &AckOutcome) -> usize {
    match outcome {
        AckOutcome::Stored { rejections, .. } => {
            256 + rejections
                .iter()
                .map(|r| {
                    std::mem::size_of::<proto::Rejection>() + r.reason.len() + r.event_id.len()
                })
                .sum::<usize>()
        }
        AckOutcome::Failed { message, .. } => 256 + message.len(),
    }
}

/// The outcome for a batch whose first attempt was abandoned before it
/// was taken in (its client went away): retries waiting for it must send
/// it again.
pub fn abandoned() -> AckOutcome {
    AckOutcome::Failed {
        code: tonic::Code::Unavailable,
        message: "the first attempt of this batch was abandoned before it was stored; \
                  send it again"
            .into(),
    }
}

/// The outcome for a batch the pipeline dropped without answering (it shut
/// down).
pub fn stopped() -> AckOutcome {
    AckOutcome::Failed {
        code: tonic::Code::Unavailable,
        message: "the collector stopped before storing the batch".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers as the pipeline's outcomes, for the tests.
    struct Outcomes(oneshot::Receiver<Answer>);

    impl Outcomes {
        fn try_recv(&mut self) -> Result<AckOutcome, oneshot::error::TryRecvError> {
            self.0.try_recv().map(|answer| answer.outcome)
        }
    }

    fn ack() -> (Ack, Outcomes, Arc<tokio::sync::Semaphore>) {
        let capacity = Arc::new(tokio::sync::Semaphore::new(10));
        let permit = capacity.clone().try_acquire_many_owned(4).unwrap();
        let (tx, rx) = oneshot::channel();
        (Ack::new(tx, permit, None, None), Outcomes(rx), capacity)
    }

    #[test]
    fn answers_once_every_row_is_stored_and_frees_capacity() {
        let (ack, mut rx, capacity) = ack();
        ack.transformed(
            3,
            vec![proto::Rejection {
                index: 3,
                ..Default::default()
            }],
        );
        ack.stored(2);
        assert!(rx.try_recv().is_err(), "one row still in flight");
        assert_eq!(capacity.available_permits(), 6);
        ack.stored(1);
        match rx.try_recv().unwrap() {
            AckOutcome::Stored {
                accepted,
                rejected,
                rejections,
            } => {
                assert_eq!((accepted, rejected), (3, 1));
                assert_eq!(rejections.len(), 1);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(capacity.available_permits(), 10);
    }

    #[test]
    fn a_persisted_ack_answers_once_logged_and_holds_capacity_until_stored() {
        let (ack, mut rx, capacity) = ack();
        let ack = ack.answer_when_logged();
        ack.transformed(3, vec![proto::Rejection::default()]);
        match rx.try_recv().unwrap() {
            AckOutcome::Stored {
                accepted, rejected, ..
            } => assert_eq!((accepted, rejected), (3, 1)),
            other => panic!("{other:?}"),
        }
        // Answered, but its rows are not stored yet: the pipeline's
        // capacity stays taken.
        assert_eq!(capacity.available_permits(), 6);
        ack.stored(2);
        assert_eq!(capacity.available_permits(), 6);
        ack.stored(1);
        assert_eq!(capacity.available_permits(), 10);
    }

    #[test]
    fn an_answer_names_the_first_rejections_and_counts_them_all() {
        let (ack, mut rx, _capacity) = ack();
        let rejections = (0..MAX_NAMED_REJECTIONS as u32 + 500)
            .map(|index| proto::Rejection {
                index,
                ..Default::default()
            })
            .collect();
        ack.transformed(0, rejections);
        match rx.try_recv().unwrap() {
            AckOutcome::Stored {
                rejected,
                rejections,
                ..
            } => {
                assert_eq!(rejected as usize, MAX_NAMED_REJECTIONS + 500);
                assert_eq!(rejections.len(), MAX_NAMED_REJECTIONS);
                assert_eq!(
                    rejections.last().unwrap().index as usize,
                    MAX_NAMED_REJECTIONS - 1
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_request_with_no_rows_is_answered_at_once() {
        let (ack, mut rx, _capacity) = ack();
        ack.transformed(0, vec![proto::Rejection::default()]);
        assert!(matches!(
            rx.try_recv().unwrap(),
            AckOutcome::Stored { accepted: 0, .. }
        ));
    }

    /// A batch being processed, its settlement, and a retry of it waiting
    /// for its outcome.
    fn batch_with_a_waiting_retry(n: u8) -> (Settlement, oneshot::Receiver<AckOutcome>) {
        let recent = Arc::new(RecentBatches::default());
        let key = BatchKey {
            scope: crate::identity::Scope::ANONYMOUS,
            batch_id: [n; 16],
        };
        let digest = crate::identity::Digest([n; 16]);
        recent.admit(key, digest);
        let crate::pipeline::recent_batches::Admission::Known(retry) = recent.admit(key, digest)
        else {
            panic!("a retry")
        };
        (Settlement { recent, key }, retry)
    }

    #[test]
    fn the_answer_settles_retries_and_keeps_only_its_own_share_of_memory() {
        let budget = crate::pipeline::budget::ByteBudget::new(1 << 20);
        let held = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(budget.acquire(512 * 1024))
            .unwrap();
        let (settlement, mut retry) = batch_with_a_waiting_retry(1);
        let capacity = Arc::new(tokio::sync::Semaphore::new(10));
        let permit = capacity.clone().try_acquire_many_owned(4).unwrap();
        let (tx, mut rx) = oneshot::channel();
        let ack = Ack::new(tx, permit, Some(held), Some(settlement));
        ack.transformed(2, Vec::new());
        ack.stored(2);
        let answer = rx.try_recv().unwrap();
        assert!(matches!(
            answer.outcome,
            AckOutcome::Stored { accepted: 2, .. }
        ));
        assert!(matches!(
            retry.try_recv().unwrap(),
            AckOutcome::Stored { accepted: 2, .. }
        ));
        // The rows are gone: the answer holds a KiB, not the half MiB taken.
        assert_eq!(answer.held.as_ref().unwrap().bytes(), 1024);
        assert_eq!(budget.in_use(), 1024);
        drop(answer);
        assert_eq!(budget.in_use(), 0);
    }

    #[test]
    fn an_ack_dropped_unanswered_tells_waiting_retries_it_stopped() {
        let (settlement, mut retry) = batch_with_a_waiting_retry(3);
        let capacity = Arc::new(tokio::sync::Semaphore::new(10));
        let permit = capacity.clone().try_acquire_many_owned(4).unwrap();
        let (tx, _rx) = oneshot::channel();
        drop(Ack::new(tx, permit, None, Some(settlement)));
        assert!(matches!(
            retry.try_recv().unwrap(),
            AckOutcome::Failed {
                code: tonic::Code::Unavailable,
                ..
            }
        ));
    }

    #[test]
    fn one_failed_part_fails_the_request() {
        let (ack, mut rx, _capacity) = ack();
        ack.transformed(4, Vec::new());
        ack.stored(2);
        ack.failed(2, tonic::Code::FailedPrecondition, "schema mismatch");
        match rx.try_recv().unwrap() {
            AckOutcome::Failed { code, message } => {
                assert_eq!(code, tonic::Code::FailedPrecondition);
                assert_eq!(message, "schema mismatch");
            }
            other => panic!("{other:?}"),
        }
    }
}
