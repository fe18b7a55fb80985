//! The batch worker: a dedicated thread that drains the queue, cuts batches
//! by size or age, encodes them, and hands them to delivery.
//!
//! It is a plain OS thread blocking on the crossbeam channel, so it works
//! whether or not the application runs Tokio.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use crossbeam_channel::{Receiver, RecvTimeoutError};
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

impl BatchWorker {
    pub(crate) fn run(mut self) {
        let mut batch: Vec<Event> = Vec::with_capacity(self.batch_size);
        let mut buf = BytesMut::with_capacity(64 * 1024);
        let mut dequeued: u64 = 0;
        let mut deadline: Option<Instant> = None;
        loop {
            let message = match deadline {
                None => match self.queue.recv() {
                    Ok(message) => message,
                    Err(_) => break,
                },
                Some(at) => match self.queue.recv_deadline(at) {
                    Ok(message) => message,
                    Err(RecvTimeoutError::Timeout) => {
                        self.cut(&mut batch, &mut buf);
                        deadline = None;
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                },
            };
            match message {
                Message::Event(event) => {
                    dequeued += 1;
                    self.counters.dequeued.store(dequeued, Ordering::Relaxed);
                    if batch.is_empty() {
                        deadline = Some(Instant::now() + self.batch_timeout);
                    }
                    batch.push(event);
                    if batch.len() >= self.batch_size {
                        self.cut(&mut batch, &mut buf);
                        deadline = None;
                    }
                }
                Message::Flush(reply) => {
                    self.cut(&mut batch, &mut buf);
                    deadline = None;
                    self.forward(Outgoing::Flush(reply));
                }
                Message::Shutdown => {
                    // Take what raced in behind the shutdown marker.
                    while let Ok(message) = self.queue.try_recv() {
                        match message {
                            Message::Event(event) => {
                                dequeued += 1;
                                batch.push(event);
                                if batch.len() >= self.batch_size {
                                    self.cut(&mut batch, &mut buf);
                                }
                            }
                            Message::Flush(reply) => {
                                self.cut(&mut batch, &mut buf);
                                self.forward(Outgoing::Flush(reply));
                            }
                            Message::Shutdown => {}
                        }
                    }
                    self.counters.dequeued.store(dequeued, Ordering::Relaxed);
                    break;
                }
            }
        }
        // Every handle is gone or shutdown was asked: send the rest, then
        // let delivery finish.
        self.cut(&mut batch, &mut buf);
        self.forward(Outgoing::Shutdown);
    }

    fn cut(&mut self, batch: &mut Vec<Event>, buf: &mut BytesMut) {
        if batch.is_empty() {
            return;
        }
        buf.clear();
        let before = self.encoder.truncated();
        let id = Uuid7::now();
        self.encoder.encode(id, batch, buf);
        Counters::add(
            &self.counters.values_truncated,
            self.encoder.truncated() - before,
        );
        let encoded = EncodedBatch {
            id,
            event_count: batch.len(),
            payload: buf.split().freeze(),
        };
        // Dropping the events here frees their heap parts on this thread,
        // not the caller's.
        batch.clear();
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
