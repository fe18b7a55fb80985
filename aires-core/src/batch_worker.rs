//! The batch worker: a dedicated thread that drains the queue, cuts batches
//! by size or age, encodes them, and hands them to delivery.
//!
//! It is a plain OS thread reading the event queue and a small control
//! channel, so it works whether or not the application runs Tokio.
//!
//! Batches adapt to the store's pace. A full batch (`batch_size` events)
//! is cut while the in-flight window has room; while every slot of the
//! window is taken, it keeps growing, up to `max_batch_bytes`, instead of
//! the worker waiting behind the window with the queue filling up. The
//! events would wait either way; one larger request then replaces several
//! round trips, and the collector's writes grow with it, which is what a
//! store paying per insert needs (the "natural batching" of the LMAX
//! disruptor). Light traffic never fills the window, so it keeps small,
//! prompt batches. Memory stays within the stated bound: `max_in_flight`
//! batches of at most `max_batch_bytes` each.
//!
//! Hand-offs to delivery are grouped the same way. Each one wakes the
//! delivery thread, a system call that cost the worker a fifth of its time
//! when every batch was handed over alone. While a whole batch more is
//! already waiting in the queue, a cut batch is held and handed over with
//! the ones cut after it, up to [`MAX_HELD`] batches and `max_batch_bytes`
//! in all; the worker hands over what it holds as soon as it stops
//! draining (the queue runs short, a flush, a shutdown). Batches keep their
//! size, ids and order; only the wake-ups are fewer.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{Receiver, TryRecvError};
use crossbeam_utils::Backoff;
use tokio::sync::{mpsc, Semaphore};

use crate::delivery::Outgoing;
use crate::encode::BatchEncoder;
use crate::event::Event;
use crate::metrics::Counters;
use crate::overflow::Overflow;
use crate::queue::{EventQueue, Pop};
use crate::transport::EncodedBatch;
use crate::uuid7::Uuid7;

/// Requests to the worker, on their own small channel beside the event
/// queue. Whoever sends one also wakes the worker.
#[derive(Debug)]
pub(crate) enum Control {
    /// Cut the current batch and answer once everything before it is sent.
    Flush(crossbeam_channel::Sender<()>),
    /// Send everything and stop.
    Shutdown,
}

pub(crate) struct BatchWorker {
    pub(crate) events: Arc<EventQueue>,
    /// The overflow list, with `OverflowPolicy::Grow`.
    pub(crate) overflow: Option<Arc<Overflow>>,
    /// Events taken from the overflow list, to encode before the ring's.
    pub(crate) spilled: VecDeque<(Event, usize)>,
    /// Events encoded from `spilled` so far (a flush counts them).
    pub(crate) listed_taken: usize,
    pub(crate) control: Receiver<Control>,
    pub(crate) delivery: mpsc::Sender<Outgoing>,
    pub(crate) encoder: BatchEncoder,
    pub(crate) batch_size: usize,
    pub(crate) max_batch_bytes: usize,
    pub(crate) batch_timeout: Duration,
    /// Delivery's in-flight window: no free permit means a full batch keeps
    /// growing (see the module's docs).
    pub(crate) window: Arc<Semaphore>,
    pub(crate) counters: Arc<Counters>,
}

/// The bytes a batch's buffer starts with.
const BATCH_BUFFER: usize = 64 * 1024;
/// How often a busy worker looks at the queue.
const POLL_INTERVAL: Duration = Duration::from_micros(200);
/// Empty polls in a row (about 50 ms) before the worker parks.
const POLLS_BEFORE_PARKING: u32 = 250;
/// Looks at a slot still being written before treating it as empty.
const NOT_READY_SPINS: u32 = 32;
/// The longest a parked worker sleeps without being woken.
const MAX_PARK: Duration = Duration::from_secs(1);
/// Under continuous load the queue is never empty; control requests are
/// still looked at every this many events.
const CONTROL_CHECK_EVERY: u64 = 256;
/// The most batches handed to delivery at once (see the module's docs).
const MAX_HELD: usize = 16;

/// The worker's state between messages. The current batch exists only as
/// bytes: each event is encoded from its queue slot and dropped there, so
/// it is never copied or held.
struct Batching {
    buf: Vec<u8>,
    batch_id: Uuid7,
    batch_len: usize,
    dequeued: u64,
    /// When the current batch must be cut, set by its first event.
    deadline: Option<Instant>,
    /// Batches cut while more events were waiting, not yet handed over.
    held: Vec<EncodedBatch>,
    /// Their encoded bytes.
    held_bytes: usize,
}

/// What to do after a control request.
enum Next {
    Continue,
    Stop,
}

impl BatchWorker {
    /// Drains the queue until shutdown or until every handle is gone.
    ///
    /// While events keep coming the worker polls (sleeping
    /// [`POLL_INTERVAL`] between empty polls) instead of blocking: a
    /// blocked worker must be woken by a producer with a system call, which
    /// would cost the caller's thread microseconds. After about 50 ms
    /// without events it parks, so an idle application costs next to no
    /// CPU (one wake-up a second); the next event wakes it.
    pub(crate) fn run(mut self) {
        self.events.register_worker();
        let mut state = Batching {
            buf: Vec::with_capacity(BATCH_BUFFER),
            batch_id: Uuid7::now(),
            batch_len: 0,
            dequeued: 0,
            deadline: None,
            held: Vec::with_capacity(MAX_HELD),
            held_bytes: 0,
        };
        let mut empty_polls = 0;
        let mut not_ready_spins = 0;
        loop {
            match self.take(&mut state) {
                Pop::Event => {
                    empty_polls = 0;
                    not_ready_spins = 0;
                    if state.dequeued.is_multiple_of(CONTROL_CHECK_EVERY)
                        && matches!(self.check_control(&mut state), Next::Stop)
                    {
                        break;
                    }
                    continue;
                }
                Pop::Abandoned => continue,
                // A caller is writing the next slot: the worker has caught
                // up with the callers. Give it a moment (a short spin, the
                // time to write an event), but do not keep polling the slot:
                // that would pull its cache lines away from the caller
                // writing them. Then treat it as empty: serve control
                // requests and deadlines, and look again after the poll
                // interval.
                Pop::NotReady if not_ready_spins < NOT_READY_SPINS => {
                    not_ready_spins += 1;
                    std::hint::spin_loop();
                    continue;
                }
                Pop::NotReady | Pop::Empty => {
                    not_ready_spins = 0;
                    // Caught up: show the callers all the room there is,
                    // and hand over what is held.
                    self.events.publish_head();
                    self.release(&mut state);
                }
            }
            if matches!(self.check_control(&mut state), Next::Stop) {
                break;
            }
            if state.deadline.is_some_and(|at| Instant::now() >= at) || self.may_cut_full(&state) {
                self.cut(&mut state);
                continue;
            }
            // A batch grown while the window was full is not parked on: it
            // leaves as soon as the window has room.
            if empty_polls < POLLS_BEFORE_PARKING || state.batch_len >= self.batch_size {
                empty_polls += 1;
                std::thread::sleep(POLL_INTERVAL);
                continue;
            }
            self.park(&state);
            empty_polls = 0;
        }
        // Shutdown was asked or every handle is gone: send the rest, then
        // let delivery finish.
        self.cut(&mut state);
        self.follow_with(Outgoing::Shutdown, &mut state);
    }

    /// Sleeps until a producer or a control request wakes it, or until the
    /// batch deadline (or [`MAX_PARK`]).
    fn park(&self, state: &Batching) {
        if !self.events.prepare_to_park()
            || !self.control.is_empty()
            || self.overflow.as_ref().is_some_and(|list| list.has_events())
        {
            self.events.awake();
            return;
        }
        // At most a second: a parked worker also looks for a disconnected
        // control channel (every handle dropped) now and then.
        let timeout = state.deadline.map_or(MAX_PARK, |at| {
            at.saturating_duration_since(Instant::now()).min(MAX_PARK)
        });
        std::thread::park_timeout(timeout);
        self.events.awake();
    }

    /// A slot whose event could not be built (the caller panicked in the
    /// middle): counted as dropped.
    fn abandoned(&self, state: &mut Batching) {
        state.dequeued += 1;
        self.counters.dropped_abandoned.add(1);
    }

    /// Takes everything claimed before this call, waiting for slots still
    /// being written; what producers add meanwhile waits for the next turn,
    /// so a flush under continuous load still ends.
    fn drain(&mut self, state: &mut Batching) {
        let until = self.events.tail_position();
        // Listed events are older than the ring's (see `overflow`), and
        // under load the list may keep growing: take as many as it held.
        let listed = self.overflow.as_ref().map_or(0, |list| list.len());
        let backoff = Backoff::new();
        let start = self.listed_taken;
        while self.events.head_position() != until || self.listed_taken - start < listed {
            match self.take(state) {
                Pop::Event | Pop::Abandoned => backoff.reset(),
                Pop::NotReady => backoff.snooze(),
                Pop::Empty => break,
            }
        }
        self.events.publish_head();
    }

    /// Takes the event at the head of the queue, if one is ready: encodes
    /// it from its slot (the queue then drops it there, freeing its heap
    /// parts on this thread rather than the caller's), and only after the
    /// slot is free counts it and cuts the batch if it is full, since
    /// cutting may wait on delivery.
    fn take(&mut self, state: &mut Batching) -> Pop {
        if let Some((event, size)) = self.spilled.pop_front() {
            let len_before = self.encode(&event, state);
            drop(event);
            if let Some(list) = &self.overflow {
                list.settled(size);
            }
            self.listed_taken += 1;
            self.settle(len_before, state);
            return Pop::Event;
        }
        let events = self.events.clone();
        let mut len_before = 0;
        let pop = events.pop_with(|event| len_before = self.encode(event, state));
        match pop {
            Pop::Event => self.settle(len_before, state),
            Pop::Abandoned => self.abandoned(state),
            Pop::Empty if self.take_listed() => return self.take(state),
            Pop::NotReady | Pop::Empty => {}
        }
        pop
    }

    /// The ring is empty: moves a chunk of the overflow list (if any) into
    /// `spilled`, unless the ring got events meanwhile (checked under the
    /// list's lock, see `overflow`).
    fn take_listed(&mut self) -> bool {
        let Some(list) = &self.overflow else {
            return false;
        };
        let events = &self.events;
        list.is_active()
            && list.take(
                || events.tail_position() == events.head_position(),
                &mut self.spilled,
            )
    }

    /// Appends the event to the batch; returns the batch's length in bytes
    /// before it.
    fn encode(&mut self, event: &Event, state: &mut Batching) -> usize {
        if state.batch_len == 0 {
            self.begin(state);
        }
        let truncated_before = self.encoder.truncated();
        let len_before = state.buf.len();
        self.encoder.push(event, &mut state.buf);
        let truncated = self.encoder.truncated() - truncated_before;
        if truncated > 0 {
            Counters::add(&self.counters.values_truncated, truncated);
        }
        state.batch_len += 1;
        len_before
    }

    /// Counts the event just encoded and cuts the batch at its limits.
    fn settle(&mut self, len_before: usize, state: &mut Batching) {
        state.dequeued += 1;
        if state.buf.len() > self.max_batch_bytes && state.batch_len > 1 {
            // This event would push the batch past its byte limit: send the
            // batch without it, and start the next one with it. Protobuf
            // accepts the batch header after the event.
            let last = state.buf.split_off(len_before);
            state.batch_len -= 1;
            self.cut(state);
            state.buf.extend_from_slice(&last);
            self.begin(state);
            state.batch_len = 1;
        }
        if state.buf.len() >= self.max_batch_bytes || self.may_cut_full(state) {
            self.cut(state);
        } else if state.held_bytes != 0 && state.held_bytes + state.buf.len() > self.max_batch_bytes
        {
            // What the worker holds stays within one batch's byte limit.
            self.release(state);
        }
    }

    /// A full batch leaves while the in-flight window has room; otherwise
    /// it grows (see the module's docs). Batches held for the next
    /// hand-off count against the room: each will take a slot.
    fn may_cut_full(&self, state: &Batching) -> bool {
        state.batch_len >= self.batch_size && self.window.available_permits() > state.held.len()
    }

    /// Starts a batch: its deadline, its id, its header.
    fn begin(&mut self, state: &mut Batching) {
        state.deadline = Some(crate::clock::deadline_after(self.batch_timeout));
        state.batch_id = Uuid7::now();
        self.encoder.begin(state.batch_id, &mut state.buf);
    }

    fn check_control(&mut self, state: &mut Batching) -> Next {
        match self.control.try_recv() {
            Ok(request) => self.obey(request, state),
            Err(TryRecvError::Empty) => Next::Continue,
            // Every pipeline handle is gone: send what is queued and stop.
            Err(TryRecvError::Disconnected) => {
                self.drain(state);
                Next::Stop
            }
        }
    }

    /// Carries out a flush or shutdown. Everything a thread enqueued before
    /// asking is already in the event queue, so draining it covers it.
    fn obey(&mut self, request: Control, state: &mut Batching) -> Next {
        self.drain(state);
        self.cut(state);
        match request {
            Control::Flush(reply) => {
                self.follow_with(Outgoing::Flush(reply), state);
                Next::Continue
            }
            Control::Shutdown => {
                // Take what raced in while draining (`run` cuts and hands
                // it over).
                self.drain(state);
                Next::Stop
            }
        }
    }

    fn cut(&mut self, state: &mut Batching) {
        state.deadline = None;
        if state.batch_len == 0 {
            return;
        }
        let next = Vec::with_capacity(BATCH_BUFFER.max(state.buf.len()));
        let encoded = EncodedBatch {
            id: state.batch_id,
            event_count: state.batch_len,
            attempt: 1,
            // The batch keeps its buffer; the next starts in a new one as
            // large as this one needed.
            payload: Bytes::from(std::mem::replace(&mut state.buf, next)),
        };
        state.batch_len = 0;
        if state.held_bytes + encoded.payload.len() > self.max_batch_bytes {
            self.release(state);
        }
        state.held_bytes += encoded.payload.len();
        state.held.push(encoded);
        // Hold it while a whole batch more is waiting, up to the limits of
        // a group (see the module's docs).
        // (Room for one more batch the size of the average held.)
        let room = state.held.len() < MAX_HELD
            && state.held_bytes + state.held_bytes / state.held.len() <= self.max_batch_bytes;
        if !room || self.events.backlog() < self.batch_size {
            self.release(state);
        }
    }

    /// Hands the batches held over to delivery, in one message.
    fn release(&mut self, state: &mut Batching) {
        if state.held.is_empty() {
            return;
        }
        state.held_bytes = 0;
        let group = std::mem::replace(&mut state.held, Vec::with_capacity(MAX_HELD));
        self.forward(Outgoing::Batches(group));
    }

    /// Hands a flush or the shutdown to delivery after every batch held:
    /// delivery answers it once everything before it is settled.
    fn follow_with(&mut self, control: Outgoing, state: &mut Batching) {
        self.release(state);
        self.forward(control);
    }

    /// Blocks while `max_in_flight` batches are already being sent: that is
    /// the backpressure that lets the queue fill and the drop policy apply.
    fn forward(&self, outgoing: Outgoing) {
        // The hand-off may wait: show the callers all the room there is
        // first, or a blocked worker would leave up to a hint's step of
        // slots looking taken.
        self.events.publish_head();
        // Delivery is gone only if its thread panicked: count what it would
        // have carried.
        if let Err(mpsc::error::SendError(Outgoing::Batches(group))) =
            self.delivery.blocking_send(outgoing)
        {
            for batch in group {
                Counters::add(&self.counters.batches_failed, 1);
                Counters::add(&self.counters.events_failed, batch.event_count as u64);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Limits;
    use crate::level::Level;
    use aires_proto::v1 as proto;
    use prost::Message;

    const DEADLINE: Duration = Duration::from_secs(10);

    /// A worker on its own thread, with its queue, control channel and the
    /// receiving end of its hand-off to delivery.
    struct Harness {
        queue: Arc<EventQueue>,
        control: crossbeam_channel::Sender<Control>,
        delivery: mpsc::Receiver<Outgoing>,
        counters: Arc<Counters>,
        window: Arc<Semaphore>,
        thread: std::thread::JoinHandle<()>,
        /// Batches of a group handed over, not yet looked at.
        pending: VecDeque<EncodedBatch>,
    }

    fn start(batch_size: usize, max_batch_bytes: usize, batch_timeout: Duration) -> Harness {
        Setup::new(batch_size, max_batch_bytes, batch_timeout).start()
    }

    /// A worker whose in-flight window has `free` permits.
    fn start_with_window(
        batch_size: usize,
        max_batch_bytes: usize,
        batch_timeout: Duration,
        free: usize,
    ) -> Harness {
        Setup {
            free,
            ..Setup::new(batch_size, max_batch_bytes, batch_timeout)
        }
        .start()
    }

    /// A worker's settings, and what it finds when it starts.
    struct Setup {
        batch_size: usize,
        max_batch_bytes: usize,
        batch_timeout: Duration,
        /// Free permits of the in-flight window.
        free: usize,
        /// Messages the hand-off to delivery holds.
        hand_off: usize,
        /// Events already in the queue.
        waiting: Vec<String>,
        /// A control request already asked.
        first: Option<Control>,
    }

    impl Setup {
        fn new(batch_size: usize, max_batch_bytes: usize, batch_timeout: Duration) -> Setup {
            Setup {
                batch_size,
                max_batch_bytes,
                batch_timeout,
                free: 64,
                hand_off: 64,
                waiting: Vec::new(),
                first: None,
            }
        }

        /// Batches of `batch_size` events, with `waiting` in the queue.
        fn waiting(batch_size: usize, waiting: &[String]) -> Setup {
            Setup {
                waiting: waiting.to_vec(),
                ..Setup::new(batch_size, 1 << 20, Duration::from_secs(600))
            }
        }

        fn start(self) -> Harness {
            let Setup {
                batch_size,
                max_batch_bytes,
                batch_timeout,
                free,
                hand_off,
                waiting,
                first,
            } = self;
            let window = Arc::new(Semaphore::new(free));
            let queue = Arc::new(EventQueue::new(waiting.len().max(64)));
            for message in waiting {
                let claim = queue.try_claim().expect("room in the queue");
                claim.write(Event::builder(Level::Info, message).build());
            }
            let (control, control_rx) = crossbeam_channel::unbounded();
            if let Some(request) = first {
                control.send(request).unwrap();
            }
            let (to_delivery, delivery) = mpsc::channel(hand_off);
            let counters = Arc::new(Counters::default());
            let worker = BatchWorker {
                events: queue.clone(),
                overflow: None,
                spilled: VecDeque::new(),
                listed_taken: 0,
                control: control_rx,
                delivery: to_delivery,
                encoder: BatchEncoder::new("svc", "env", Limits::default()),
                batch_size,
                max_batch_bytes,
                batch_timeout,
                window: window.clone(),
                counters: counters.clone(),
            };
            let thread = std::thread::spawn(move || worker.run());
            Harness {
                queue,
                control,
                delivery,
                counters,
                window,
                thread,
                pending: VecDeque::new(),
            }
        }
    }

    impl Harness {
        fn push(&self, message: &str) {
            let claim = self.queue.try_claim().expect("room in the queue");
            claim.write(Event::builder(Level::Info, message.to_owned()).build());
            self.queue.wake_worker();
        }

        /// The next hand-off to delivery as the worker sent it, waiting up
        /// to DEADLINE.
        fn hand_off(&mut self) -> Outgoing {
            let until = Instant::now() + DEADLINE;
            loop {
                match self.delivery.try_recv() {
                    Ok(outgoing) => return outgoing,
                    Err(_) if Instant::now() < until => {
                        std::thread::sleep(Duration::from_millis(1))
                    }
                    Err(e) => panic!("nothing handed to delivery: {e}"),
                }
            }
        }

        /// The next hand-off, which must be a group of batches.
        fn group(&mut self) -> Vec<EncodedBatch> {
            match self.hand_off() {
                Outgoing::Batches(group) => group,
                other => panic!("expected batches, got {}", name(&other)),
            }
        }

        /// The groups handed over until `events` events have been.
        fn groups_of(&mut self, events: usize) -> Vec<Vec<EncodedBatch>> {
            let mut groups = Vec::new();
            let mut seen = 0;
            while seen < events {
                let group = self.group();
                seen += group.iter().map(|batch| batch.event_count).sum::<usize>();
                groups.push(group);
            }
            groups
        }

        /// The next message to delivery, a group's batches one at a time.
        fn next(&mut self) -> Outgoing {
            if let Some(batch) = self.pending.pop_front() {
                return Outgoing::Batches(vec![batch]);
            }
            match self.hand_off() {
                Outgoing::Batches(group) => {
                    assert!(!group.is_empty(), "an empty group was handed over");
                    self.pending.extend(group);
                    self.next()
                }
                other => other,
            }
        }

        /// The messages of the next hand-off, which must be a batch.
        fn batch(&mut self) -> Vec<String> {
            match self.next() {
                Outgoing::Batches(mut group) => messages(group.remove(0)),
                other => panic!("expected a batch, got {}", name(&other)),
            }
        }

        /// Waits until the worker has taken every event from the queue.
        fn wait_taken(&self) {
            let until = Instant::now() + DEADLINE;
            while self.queue.len() > 0 {
                assert!(
                    Instant::now() < until,
                    "the worker did not take every event"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
        }

        fn shut_down(mut self) {
            self.control.send(Control::Shutdown).unwrap();
            self.queue.wake_worker();
            assert!(matches!(self.next(), Outgoing::Shutdown));
            self.thread.join().unwrap();
        }
    }

    fn messages(batch: EncodedBatch) -> Vec<String> {
        let decoded = proto::EventBatch::decode(batch.payload).unwrap();
        assert_eq!(decoded.events.len(), batch.event_count);
        decoded.events.into_iter().map(|e| e.message).collect()
    }

    fn name(outgoing: &Outgoing) -> &'static str {
        match outgoing {
            Outgoing::Batches(_) => "a batch",
            Outgoing::Flush(_) => "a flush",
            Outgoing::Shutdown => "the shutdown",
        }
    }

    #[test]
    fn full_batches_are_cut_at_batch_size_in_order_and_shutdown_sends_the_rest() {
        let mut worker = start(3, 1 << 20, Duration::from_secs(600));
        for i in 0..7 {
            worker.push(&format!("e{i}"));
        }
        assert_eq!(worker.batch(), ["e0", "e1", "e2"]);
        assert_eq!(worker.batch(), ["e3", "e4", "e5"]);
        worker.control.send(Control::Shutdown).unwrap();
        worker.queue.wake_worker();
        assert_eq!(worker.batch(), ["e6"]);
        assert!(matches!(worker.next(), Outgoing::Shutdown));
        assert_eq!(worker.queue.len(), 0);
        worker.thread.join().unwrap();
    }

    #[test]
    fn a_batch_is_cut_before_an_event_would_take_it_past_max_batch_bytes() {
        // A batch far below batch_size, and one past it growing while the
        // window is full: the byte limit cuts both.
        for (batch_size, free) in [(100, 64), (1, 0)] {
            let mut worker = start_with_window(batch_size, 1000, Duration::from_secs(600), free);
            let big = "x".repeat(400);
            for _ in 0..5 {
                worker.push(&big);
            }
            // Two events fit in 1,000 bytes with their framing; a third would not.
            assert_eq!(worker.batch().len(), 2, "{free} free");
            assert_eq!(worker.batch().len(), 2, "{free} free");
            worker.control.send(Control::Shutdown).unwrap();
            worker.queue.wake_worker();
            assert_eq!(worker.batch().len(), 1);
            assert!(matches!(worker.next(), Outgoing::Shutdown));
            worker.thread.join().unwrap();
        }
    }

    #[test]
    fn a_partial_batch_leaves_at_its_timeout_without_a_flush() {
        // Not before its timeout (a lower bound, which no scheduling delay
        // can break), and without a flush or more events (it does leave).
        const TIMEOUT: Duration = Duration::from_millis(200);
        let mut worker = start(100, 1 << 20, TIMEOUT);
        let pushed = std::time::Instant::now();
        worker.push("alone");
        assert_eq!(worker.batch(), ["alone"]);
        assert!(
            pushed.elapsed() >= TIMEOUT,
            "a partial batch left after {:?}, before its {TIMEOUT:?}",
            pushed.elapsed()
        );
        worker.shut_down();
    }

    #[test]
    fn a_flush_cuts_the_batch_and_follows_it_to_delivery() {
        let mut worker = start(100, 1 << 20, Duration::from_secs(600));
        worker.push("a");
        worker.push("b");
        let (reply, _answer) = crossbeam_channel::bounded(1);
        worker.control.send(Control::Flush(reply)).unwrap();
        worker.queue.wake_worker();
        assert_eq!(worker.batch(), ["a", "b"]);
        assert!(matches!(worker.next(), Outgoing::Flush(_)));
        worker.shut_down();
    }

    #[test]
    fn a_slot_abandoned_by_a_panicking_caller_is_counted_and_skipped() {
        let mut worker = start(2, 1 << 20, Duration::from_secs(600));
        let claim = worker.queue.try_claim().unwrap();
        drop(claim); // never written: published as abandoned
        worker.push("after");
        worker.push("last");
        assert_eq!(worker.batch(), ["after", "last"]);
        assert_eq!(worker.counters.dropped_abandoned.get(), 1);
        worker.shut_down();
    }

    #[test]
    fn while_the_window_is_full_a_full_batch_grows_and_leaves_once_it_has_room() {
        let mut worker = start_with_window(3, 1 << 20, Duration::from_secs(600), 0);
        for i in 0..7 {
            worker.push(&format!("e{i}"));
        }
        // Taken from the queue, not waiting behind the window: the queue
        // stays free for the callers.
        worker.wait_taken();
        assert!(
            worker.delivery.try_recv().is_err(),
            "a batch was cut while no slot of the window was free"
        );
        worker.window.add_permits(1);
        assert_eq!(
            worker.batch(),
            ["e0", "e1", "e2", "e3", "e4", "e5", "e6"],
            "one grown batch, in order, as soon as the window has room"
        );
        // With room, the next batches are cut at batch_size again.
        for i in 7..10 {
            worker.push(&format!("e{i}"));
        }
        assert_eq!(worker.batch(), ["e7", "e8", "e9"]);
        worker.shut_down();
    }

    #[test]
    fn a_worker_waiting_on_delivery_leaves_the_whole_queue_to_the_callers() {
        // Delivery takes nothing: the first batch fills the hand-off, the
        // worker waits with the second.
        let mut worker = Setup {
            hand_off: 1,
            ..Setup::new(3, 1 << 20, Duration::from_secs(600))
        }
        .start();
        for i in 0..3 {
            worker.push(&format!("e{i}"));
        }
        // The first batch alone, so that the second is not grouped with it.
        let until = Instant::now() + DEADLINE;
        while worker.delivery.is_empty() {
            assert!(
                Instant::now() < until,
                "the first batch was not handed over"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        for i in 3..6 {
            worker.push(&format!("e{i}"));
        }
        worker.wait_taken();
        // Every slot is free again, and callers must see all of them (the
        // head the callers read is otherwise published every few events).
        let until = Instant::now() + DEADLINE;
        let mut claimed = Vec::new();
        while claimed.len() < 64 {
            match worker.queue.try_claim() {
                Some(claim) => claimed.push(claim),
                None => assert!(
                    Instant::now() < until,
                    "only {} of 64 slots offered to callers",
                    claimed.len()
                ),
            }
        }
        for claim in claimed {
            claim.write(Event::builder(Level::Info, "later".to_owned()).build());
        }
        // Let it finish: take the hand-off, then shut down.
        assert!(matches!(worker.next(), Outgoing::Batches(_)));
        worker.control.send(Control::Shutdown).unwrap();
        worker.queue.wake_worker();
        let mut events = 0;
        loop {
            match worker.next() {
                Outgoing::Batches(group) => events += group[0].event_count,
                Outgoing::Shutdown => break,
                Outgoing::Flush(_) => panic!("no flush was asked"),
            }
        }
        assert_eq!(events, 3 + 64);
        worker.thread.join().unwrap();
    }

    fn numbered(count: usize, width: usize) -> Vec<String> {
        (0..count).map(|i| format!("e{i:0width$}")).collect()
    }

    #[test]
    fn batches_cut_while_more_events_wait_are_handed_over_together_in_order() {
        let waiting = numbered(12, 2);
        let mut worker = Setup::waiting(3, &waiting).start();
        // One hand-off, one wake-up of delivery: four batches of three,
        // each its own batch with its own id, in the queue's order.
        let group = worker.group();
        let ids: std::collections::HashSet<_> = group.iter().map(|batch| batch.id).collect();
        assert_eq!(ids.len(), 4, "each batch keeps an id of its own");
        let batches: Vec<Vec<String>> = group.into_iter().map(messages).collect();
        assert_eq!(
            batches,
            waiting
                .chunks(3)
                .map(<[String]>::to_vec)
                .collect::<Vec<_>>()
        );
        // With nothing waiting behind it, a batch is handed over alone.
        for i in 12..15 {
            worker.push(&format!("e{i}"));
        }
        let group = worker.group();
        assert_eq!(group.len(), 1);
        assert_eq!(
            group.into_iter().flat_map(messages).collect::<Vec<_>>(),
            ["e12", "e13", "e14"]
        );
        worker.shut_down();
    }

    #[test]
    fn held_batches_count_against_the_window_so_the_next_one_grows() {
        // Two free slots in the window and four batches' worth waiting:
        // two batches are cut and held, the rest grows into one batch
        // instead of two more small ones the window has no room for.
        let waiting = numbered(12, 2);
        let mut worker = Setup {
            free: 2,
            ..Setup::waiting(3, &waiting)
        }
        .start();
        let batches: Vec<EncodedBatch> = worker.groups_of(12).into_iter().flatten().collect();
        let sizes: Vec<usize> = batches.iter().map(|batch| batch.event_count).collect();
        let seen: Vec<String> = batches.into_iter().flat_map(messages).collect();
        assert_eq!(sizes, [3, 3, 6]);
        assert_eq!(seen, waiting);
        worker.shut_down();
    }

    #[test]
    fn a_group_holds_at_most_max_held_batches_and_max_batch_bytes() {
        // 64 waiting events in batches of two: 32 batches, in groups of at
        // most MAX_HELD.
        let waiting = numbered(64, 2);
        let mut worker = Setup::waiting(2, &waiting).start();
        let groups = worker.groups_of(64);
        let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
        assert_eq!(sizes, [MAX_HELD, 32 - MAX_HELD]);
        let seen: Vec<String> = groups.into_iter().flatten().flat_map(messages).collect();
        assert_eq!(seen, waiting);
        worker.shut_down();

        // Batches of one large event, 2,000 bytes a group at most.
        let waiting: Vec<String> = numbered(40, 2).iter().map(|m| m.repeat(150)).collect();
        let mut worker = Setup {
            max_batch_bytes: 2000,
            ..Setup::waiting(1, &waiting)
        }
        .start();
        let groups = worker.groups_of(40);
        for group in &groups {
            let bytes: usize = group.iter().map(|batch| batch.payload.len()).sum();
            assert!(bytes <= 2000, "a group of {bytes} bytes was handed over");
        }
        assert!(
            groups.iter().any(|group| group.len() > 1),
            "no batches were grouped"
        );
        let seen: Vec<String> = groups.into_iter().flatten().flat_map(messages).collect();
        assert_eq!(seen, waiting);
        worker.shut_down();
    }

    #[test]
    fn held_batches_are_handed_over_before_a_flush_answers() {
        // The flush is seen while draining (every CONTROL_CHECK_EVERY
        // events), with batches held: they and the rest go first.
        let waiting = numbered(CONTROL_CHECK_EVERY as usize + 44, 3);
        let (reply, _answer) = crossbeam_channel::bounded(1);
        let mut worker = Setup {
            first: Some(Control::Flush(reply)),
            ..Setup::waiting(3, &waiting)
        }
        .start();
        let mut seen = Vec::new();
        loop {
            match worker.next() {
                Outgoing::Batches(mut group) => seen.extend(messages(group.remove(0))),
                Outgoing::Flush(_) => break,
                Outgoing::Shutdown => panic!("no shutdown was asked"),
            }
        }
        assert_eq!(
            seen, waiting,
            "every event before the flush, before its answer"
        );
        worker.shut_down();
    }
}
