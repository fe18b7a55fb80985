//! The batch worker: a dedicated thread that drains the queue, cuts batches
//! by size or age, encodes them, and hands them to delivery.
//!
//! It is a plain OS thread blocking on the crossbeam channel, so it works
//! whether or not the application runs Tokio.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};
use tokio::sync::mpsc;

use crate::delivery::Outgoing;
use crate::encode::BatchEncoder;
use crate::event::Event;
use crate::metrics::Counters;
use crate::transport::EncodedBatch;
use crate::uuid7::Uuid7;

/// What travels through the queue. Events travel inline, unboxed: boxing
/// would cost an allocation per event on the caller's thread.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Message {
    Event(Event),
    /// Cut the current batch and answer once everything before it is sent.
    Flush(crossbeam_channel::Sender<()>),
    /// Send everything and stop.
    Shutdown,
}

pub(crate) struct BatchWorker {
    pub(crate) queue: Receiver<Message>,
    pub(crate) delivery: mpsc::Sender<Outgoing>,
    pub(crate) encoder: BatchEncoder,
    pub(crate) batch_size: usize,
    pub(crate) batch_timeout: Duration,
    pub(crate) counters: Arc<Counters>,
}

/// How often a busy worker looks at the queue.
const POLL_INTERVAL: Duration = Duration::from_micros(200);
/// Empty polls in a row (about 50 ms) before the worker parks on the queue.
const POLLS_BEFORE_PARKING: u32 = 250;

/// The worker's state between messages.
struct Batching {
    batch: Vec<Event>,
    buf: BytesMut,
    dequeued: u64,
    /// When the current batch must be cut, set by its first event.
    deadline: Option<Instant>,
}

impl BatchWorker {
    /// Drains the queue until shutdown or until every handle is gone.
    ///
    /// While events keep coming the worker polls (sleeping
    /// [`POLL_INTERVAL`] between empty polls) instead of blocking on the
    /// channel: a blocked receiver must be woken by the producer with a
    /// futex call, which would cost the caller's thread microseconds.
    /// After about 50 ms without events it parks on the channel, so an idle
    /// application costs no CPU; the next event wakes it.
    pub(crate) fn run(mut self) {
        let mut state = Batching {
            batch: Vec::with_capacity(self.batch_size),
            buf: BytesMut::with_capacity(64 * 1024),
            dequeued: 0,
            deadline: None,
        };
        let mut empty_polls = 0;
        loop {
            let message = match self.queue.try_recv() {
                Ok(message) => Some(message),
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {
                    self.publish(&state);
                    if state.deadline.is_some_and(|at| Instant::now() >= at) {
                        self.cut(&mut state);
                        continue;
                    }
                    if empty_polls < POLLS_BEFORE_PARKING {
                        empty_polls += 1;
                        std::thread::sleep(POLL_INTERVAL);
                        continue;
                    }
                    match state.deadline {
                        None => match self.queue.recv() {
                            Ok(message) => Some(message),
                            Err(_) => break,
                        },
                        // On timeout, the next turn finds the deadline passed.
                        Some(at) => match self.queue.recv_deadline(at) {
                            Ok(message) => Some(message),
                            Err(RecvTimeoutError::Timeout) => None,
                            Err(RecvTimeoutError::Disconnected) => break,
                        },
                    }
                }
            };
            let Some(message) = message else {
                continue;
            };
            empty_polls = 0;
            if !self.handle(message, &mut state) {
                break;
            }
        }
        // Shutdown was asked or every handle is gone: send the rest, then
        // let delivery finish.
        self.cut(&mut state);
        self.publish(&state);
        self.forward(Outgoing::Shutdown);
    }

    /// Handles one message; false means stop.
    fn handle(&mut self, message: Message, state: &mut Batching) -> bool {
        match message {
            Message::Event(event) => {
                state.dequeued += 1;
                if state.batch.is_empty() {
                    state.deadline = Some(Instant::now() + self.batch_timeout);
                }
                state.batch.push(event);
                if state.batch.len() >= self.batch_size {
                    self.cut(state);
                }
                true
            }
            Message::Flush(reply) => {
                self.cut(state);
                self.publish(state);
                self.forward(Outgoing::Flush(reply));
                true
            }
            Message::Shutdown => {
                // Take what raced in behind the shutdown marker.
                while let Ok(message) = self.queue.try_recv() {
                    if !matches!(message, Message::Shutdown) {
                        self.handle(message, state);
                    }
                }
                false
            }
        }
    }

    /// Makes the dequeued count visible to `metrics()`.
    fn publish(&self, state: &Batching) {
        self.counters
            .dequeued
            .store(state.dequeued, Ordering::Relaxed);
    }

    fn cut(&mut self, state: &mut Batching) {
        state.deadline = None;
        if state.batch.is_empty() {
            return;
        }
        let before = self.encoder.truncated();
        let id = Uuid7::now();
        self.encoder.encode(id, &state.batch, &mut state.buf);
        Counters::add(
            &self.counters.values_truncated,
            self.encoder.truncated() - before,
        );
        let encoded = EncodedBatch {
            id,
            event_count: state.batch.len(),
            payload: state.buf.split().freeze(),
        };
        // Dropping the events here frees their heap parts on this thread,
        // not the caller's.
        state.batch.clear();
        self.publish(state);
        self.forward(Outgoing::Batch(encoded));
    }

    /// Blocks while `max_in_flight` batches are already being sent: that is
    /// the backpressure that lets the queue fill and the drop policy apply.
    fn forward(&self, outgoing: Outgoing) {
        // Delivery is gone only if its thread panicked: count what it would
        // have carried.
        if let Err(mpsc::error::SendError(Outgoing::Batch(batch))) =
            self.delivery.blocking_send(outgoing)
        {
            Counters::add(&self.counters.batches_failed, 1);
            Counters::add(&self.counters.events_failed, batch.event_count as u64);
        }
    }
}
