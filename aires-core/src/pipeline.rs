//! The pipeline: a bounded queue, the batch worker thread, and the delivery
//! thread, behind one cheap-to-clone handle.
//!
//! Most applications use the global pipeline through `aires::init` and the
//! macros; bindings and tests may hold a [`Pipeline`] of their own.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, SendTimeoutError, Sender};
use parking_lot::Mutex;

use crate::batch_worker::{BatchWorker, Control};
use crate::config::{Config, ConfigError, OverflowPolicy};
use crate::delivery::Delivery;
use crate::diagnostics::{stderr_sink, DropReporter};
use crate::encode::BatchEncoder;
use crate::event::{Event, EventBuilder};
use crate::level::{Level, LevelFilter};
use crate::metrics::{Counters, Metrics};
use crate::overflow::Overflow;
use crate::queue::{Claim, EventQueue, Pop};
use crate::transport::{StdoutTransport, Transport};
use crate::value::Str;

/// Why a pipeline could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// The configuration is invalid.
    #[error("invalid Aires configuration: {0}")]
    Config(#[from] ConfigError),
    /// The global pipeline is already running; shut it down first.
    #[error("Aires is already initialized; call shutdown() before init() again")]
    AlreadyInitialized,
    /// A worker thread or its runtime could not be created.
    #[error("cannot start the Aires worker: {0}")]
    Spawn(#[from] std::io::Error),
    /// The transport could not be set up from the configuration.
    #[error("cannot set up the transport: {0}")]
    Transport(Box<dyn std::error::Error + Send + Sync>),
}

/// Why a flush did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlushError {
    /// Not everything was sent within the timeout; it may still be.
    #[error("flush did not complete within {0:?}")]
    Timeout(Duration),
    /// The pipeline was shut down.
    #[error("the pipeline is shut down")]
    ShutDown,
}

/// Why a shutdown did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShutdownError {
    /// The workers were still sending when the timeout passed.
    #[error("shutdown did not complete within {0:?}; unsent events may be lost")]
    Timeout(Duration),
}

/// Where a caller's event goes.
enum Slot<'a> {
    Claimed(Claim<'a>),
    Overflow,
    None,
}

/// Counts an event as abandoned when building it outside a slot (the
/// `Grow` list) unwinds; forgotten once it is built.
struct CountAbandoned<'a>(&'a Pipeline);

impl Drop for CountAbandoned<'_> {
    #[cold]
    fn drop(&mut self) {
        self.0.count_abandoned();
    }
}

/// A handle on a running pipeline. Clones share it.
#[derive(Clone, Debug)]
pub struct Pipeline {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    queue: Arc<EventQueue>,
    /// Where events go while the queue is full, with `OverflowPolicy::Grow`.
    overflow_list: Option<Arc<Overflow>>,
    control: Sender<Control>,
    overflow: OverflowPolicy,
    filter: AtomicU8,
    closed: AtomicBool,
    counters: Arc<Counters>,
    /// Signalled when the delivery thread has finished.
    finished: Receiver<()>,
    shutdown_lock: Mutex<()>,
    shutdown_timeout: Duration,
    /// Tells delivery when a shutdown ends retries (see
    /// [`crate::delivery::GiveUp`]).
    give_up: tokio::sync::watch::Sender<Option<Instant>>,
}

impl Pipeline {
    /// Validates `config` (applying `AIRES_*` overrides unless disabled) and
    /// starts the worker threads.
    pub fn start(config: Config) -> Result<Pipeline, InitError> {
        Self::start_with_encoder(config, |encoder| encoder)
    }

    /// Like [`Pipeline::start`], letting a binding adjust the encoder (for
    /// example to name its SDK in every batch).
    #[doc(hidden)]
    pub fn start_with_encoder(
        config: Config,
        adjust: impl FnOnce(BatchEncoder) -> BatchEncoder,
    ) -> Result<Pipeline, InitError> {
        let config = config.resolve()?;
        let transport: Arc<dyn Transport> = match (&config.transport, &config.endpoint) {
            (Some(transport), _) => transport.clone(),
            (None, None) => Arc::new(StdoutTransport::new()),
            (None, Some(endpoint)) => {
                return Err(ConfigError::NoTransportForEndpoint(endpoint.clone()).into())
            }
        };
        let counters = Arc::new(Counters::default());
        let queue = Arc::new(EventQueue::new(config.queue_capacity));
        let overflow_list = match config.overflow {
            OverflowPolicy::Grow { max_bytes } => Some(Arc::new(Overflow::new(max_bytes))),
            _ => None,
        };
        let (control, control_receiver) = crossbeam_channel::bounded(16);
        let (to_delivery, inbox) = tokio::sync::mpsc::channel(1);
        let (finished_tx, finished) = crossbeam_channel::bounded(1);
        let sink = config.diagnostics.clone().unwrap_or_else(stderr_sink);
        let reporter = DropReporter::new(
            counters.clone(),
            config.queue_capacity,
            config.drop_report_interval,
            sink,
        );
        let (give_up, give_up_receiver) = tokio::sync::watch::channel(None);
        // A spool another process holds (or that cannot be opened) is not a
        // reason to lose the events: run without it, and say so.
        let (spool, replay) = match &config.spool {
            Some(spool_config) => match crate::spool::Spool::open(spool_config) {
                Ok((spool, left)) => (Some(Arc::new(spool)), left),
                Err(error) => {
                    let sink = config.diagnostics.clone().unwrap_or_else(stderr_sink);
                    sink(&format!("running without a spool: {error}"));
                    (None, Vec::new())
                }
            },
            None => (None, Vec::new()),
        };
        let window = Arc::new(tokio::sync::Semaphore::new(config.max_in_flight));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("aires-delivery")
            .build()?;
        let delivery = Delivery {
            inbox,
            transport,
            retry: config.retry,
            max_in_flight: config.max_in_flight,
            window: window.clone(),
            send_timeout: config.send_timeout,
            counters: counters.clone(),
            reporter,
            give_up: give_up_receiver,
            spool,
            replay,
        };
        thread::Builder::new()
            .name("aires-delivery".into())
            .spawn(move || {
                block_process_signals();
                runtime.block_on(delivery.run());
                // Let in-flight transport tasks (connections) wind down.
                runtime.shutdown_timeout(Duration::from_millis(100));
                let _ = finished_tx.send(());
            })?;
        let worker = BatchWorker {
            events: queue.clone(),
            overflow: overflow_list.clone(),
            spilled: Default::default(),
            listed_taken: 0,
            control: control_receiver,
            delivery: to_delivery,
            encoder: adjust(BatchEncoder::new(
                &config.service,
                &config.environment,
                config.limits,
            )),
            batch_size: config.batch_size,
            max_batch_bytes: config.max_batch_bytes,
            batch_timeout: config.batch_timeout,
            window,
            counters: counters.clone(),
        };
        thread::Builder::new()
            .name("aires-batcher".into())
            .spawn(move || {
                block_process_signals();
                worker.run()
            })?;
        Ok(Pipeline {
            shared: Arc::new(Shared {
                queue,
                overflow_list,
                control,
                overflow: config.overflow,
                filter: AtomicU8::new(level_filter_byte(config.level)),
                closed: AtomicBool::new(false),
                counters,
                finished,
                shutdown_lock: Mutex::new(()),
                shutdown_timeout: config.shutdown_timeout,
                give_up,
            }),
        })
    }

    /// Whether `other` is a handle on this same pipeline.
    pub(crate) fn same_as(&self, other: &Pipeline) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// Whether this pipeline records events at `level`.
    #[inline]
    pub fn enabled(&self, level: Level) -> bool {
        level as u8 >= self.shared.filter.load(Ordering::Relaxed)
    }

    /// This pipeline's level filter.
    pub fn level(&self) -> LevelFilter {
        filter_from_byte(self.shared.filter.load(Ordering::Relaxed))
    }

    /// Changes this pipeline's level filter.
    pub fn set_level(&self, filter: LevelFilter) {
        self.shared
            .filter
            .store(level_filter_byte(filter), Ordering::Relaxed);
    }

    /// Enqueues an event. Never blocks unless the overflow policy is
    /// `Block`; a dropped event is counted. The level is not checked here:
    /// callers check [`Pipeline::enabled`] before building the event.
    #[inline(always)]
    pub fn emit(&self, event: Event) {
        match self.claim() {
            Slot::Claimed(claim) => claim.write(event),
            Slot::Overflow => self.spill(event),
            Slot::None => {}
        }
    }

    /// Builds an event directly in its queue slot: takes the timestamp and
    /// id, sets the message, then lets `fill` add the rest. This is what the
    /// macros call: the event is written once, where the batch worker reads
    /// it, instead of being built and then copied in. If the queue is full
    /// (after the blocking timeout, with `Block`), `fill` is not called and
    /// the event is counted as dropped.
    #[doc(hidden)]
    #[inline(always)]
    pub fn emit_with(
        &self,
        level: Level,
        message: impl Into<Str>,
        fill: impl FnOnce(&mut EventBuilder),
    ) {
        match self.claim() {
            Slot::Claimed(claim) => claim.write_new(level, message.into(), fill),
            Slot::Overflow => {
                // As in a slot: a panic in `fill` (the application's
                // values) reaches the caller, and the event is counted.
                let abandon_on_unwind = CountAbandoned(self);
                let mut builder = Event::builder(level, message);
                fill(&mut builder);
                std::mem::forget(abandon_on_unwind);
                self.spill(builder.build());
            }
            Slot::None => {}
        }
    }

    /// A queue slot for one event, the overflow list, or nothing (counted).
    #[inline(always)]
    fn claim(&self) -> Slot<'_> {
        let shared = &*self.shared;
        if shared.closed.load(Ordering::Relaxed) {
            shared.counters.dropped_after_shutdown.add(1);
            return Slot::None;
        }
        if let Some(list) = &shared.overflow_list {
            if list.is_active() {
                return Slot::Overflow;
            }
        }
        match shared.queue.try_claim() {
            Some(claim) => Slot::Claimed(claim),
            None => self.claim_slow(),
        }
    }

    /// The queue is full: wait for room (blocking policies), go to the
    /// overflow list (`Grow`), or count a drop.
    #[cold]
    fn claim_slow(&self) -> Slot<'_> {
        let shared = &*self.shared;
        let claim = match shared.overflow {
            OverflowPolicy::Block => shared.queue.claim_until(None, &shared.closed),
            OverflowPolicy::BlockFor(timeout) => shared
                .queue
                .claim_until(Some(crate::clock::deadline_after(timeout)), &shared.closed),
            OverflowPolicy::Grow { .. } => return Slot::Overflow,
            OverflowPolicy::DropNewest => None,
        };
        match claim {
            Some(claim) => Slot::Claimed(claim),
            None => {
                self.count_refused();
                Slot::None
            }
        }
    }

    /// Appends an event to the overflow list, or drops and counts it when
    /// the list is at its budget.
    #[cold]
    fn spill(&self, event: Event) {
        let list = self.shared.overflow_list.as_ref().expect("Grow policy");
        if !list.push(event) {
            self.count_refused();
        } else {
            self.shared.queue.wake_worker_if_sleeping();
        }
    }

    fn count_refused(&self) {
        let shared = &*self.shared;
        if shared.closed.load(Ordering::Relaxed) {
            shared.counters.dropped_after_shutdown.add(1);
        } else {
            shared.counters.dropped_queue_full.add(1);
        }
    }

    /// Sends everything enqueued before this call and waits until the
    /// transport has settled it (sent, or given up and counted).
    pub fn flush(&self, timeout: Duration) -> Result<(), FlushError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(FlushError::ShutDown);
        }
        let deadline = crate::clock::deadline_after(timeout);
        let (reply, done) = crossbeam_channel::bounded(1);
        match self
            .shared
            .control
            .send_deadline(Control::Flush(reply), deadline)
        {
            Ok(()) => self.shared.queue.wake_worker(),
            Err(SendTimeoutError::Timeout(_)) => return Err(FlushError::Timeout(timeout)),
            Err(SendTimeoutError::Disconnected(_)) => return Err(FlushError::ShutDown),
        }
        done.recv_deadline(deadline).map_err(|e| match e {
            crossbeam_channel::RecvTimeoutError::Timeout => FlushError::Timeout(timeout),
            crossbeam_channel::RecvTimeoutError::Disconnected => FlushError::ShutDown,
        })
    }

    /// Stops accepting events, sends everything already enqueued, and stops
    /// the workers. Events emitted afterwards are counted as dropped. Calling
    /// it again returns at once.
    pub fn shutdown(&self, timeout: Duration) -> Result<(), ShutdownError> {
        let _one_at_a_time = self.shared.shutdown_lock.lock();
        if self.shared.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let deadline = crate::clock::deadline_after(timeout);
        // Retries stop a little before the deadline, so every batch is
        // settled and counted by the time this returns.
        let margin = (timeout / 4).min(Duration::from_millis(500));
        self.shared
            .give_up
            .send_replace(Some(deadline.checked_sub(margin).unwrap_or(deadline)));
        if self
            .shared
            .control
            .send_deadline(Control::Shutdown, deadline)
            .is_err()
        {
            return Err(ShutdownError::Timeout(timeout));
        }
        self.shared.queue.wake_worker();
        if self.shared.finished.recv_deadline(deadline).is_err() {
            // The worker is still sending; it keeps the queue.
            return Err(ShutdownError::Timeout(timeout));
        }
        // The worker has gone (so this thread may take from the queue):
        // count events that slipped in after its final drain (emitted
        // concurrently with shutdown).
        if let Some(list) = &self.shared.overflow_list {
            let left = list.clear() as u64;
            self.shared.counters.dropped_after_shutdown.add(left);
        }
        let backoff = crossbeam_utils::Backoff::new();
        loop {
            match self.shared.queue.pop_with(|_| {}) {
                Pop::Event => self.shared.counters.dropped_after_shutdown.add(1),
                Pop::Abandoned => self.shared.counters.dropped_abandoned.add(1),
                // A late caller is still writing its slot; its event is
                // dropped with the queue if it does not finish in time.
                Pop::NotReady if std::time::Instant::now() < deadline => backoff.snooze(),
                Pop::NotReady | Pop::Empty => break,
            }
        }
        Ok(())
    }

    /// The timeout a guard uses when it shuts this pipeline down.
    pub fn shutdown_timeout(&self) -> Duration {
        self.shared.shutdown_timeout
    }

    /// Whether [`Pipeline::shutdown`] was called.
    pub fn is_shut_down(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Counts an event given up because building it panicked.
    pub(crate) fn count_abandoned(&self) {
        self.shared.counters.dropped_abandoned.add(1);
    }

    /// A snapshot of this pipeline's counters.
    pub fn metrics(&self) -> Metrics {
        let c = &self.shared.counters;
        let listed = self
            .shared
            .overflow_list
            .as_ref()
            .map_or(0, |list| list.len());
        let queue_depth = (self.shared.queue.len() + listed) as u64;
        Metrics {
            // Two counts that only grow, each read once: not the worker's
            // count plus what waits, which the worker moves at two
            // instants (a snapshot between them counted an event twice).
            events_enqueued: self.shared.queue.claims()
                + self
                    .shared
                    .overflow_list
                    .as_ref()
                    .map_or(0, |list| list.appended()),
            events_sent: Counters::get(&c.events_sent),
            events_dropped_queue_full: c.dropped_queue_full.get(),
            events_dropped_after_shutdown: c.dropped_after_shutdown.get(),
            events_dropped_transport: Counters::get(&c.events_failed),
            events_outcome_unknown: Counters::get(&c.events_outcome_unknown),
            batches_outcome_unknown: Counters::get(&c.batches_outcome_unknown),
            events_replayed: Counters::get(&c.events_replayed),
            events_left_in_spool: Counters::get(&c.events_left_in_spool),
            batches_not_spooled: Counters::get(&c.batches_not_spooled),
            events_dropped_rejected: Counters::get(&c.events_rejected),
            events_dropped_abandoned: c.dropped_abandoned.get(),
            batches_sent: Counters::get(&c.batches_sent),
            batches_failed: Counters::get(&c.batches_failed),
            batch_retries: Counters::get(&c.retries),
            values_truncated: Counters::get(&c.values_truncated),
            queue_depth,
            batches_in_flight: Counters::get(&c.in_flight),
            ..Metrics::default()
        }
    }
}

impl Drop for Shared {
    /// The last handle is gone without a shutdown: ask the worker to send
    /// what is queued and stop (were the control channel full, the worker
    /// still stops when it sees the channel disconnected).
    fn drop(&mut self) {
        if !self.closed.load(Ordering::Acquire) {
            let _ = self.control.try_send(Control::Shutdown);
        }
        self.queue.wake_worker();
    }
}

fn level_filter_byte(filter: LevelFilter) -> u8 {
    filter.min_level().map_or(7, |level| level as u8)
}

fn filter_from_byte(byte: u8) -> LevelFilter {
    Level::ALL
        .iter()
        .find(|l| **l as u8 == byte)
        .map_or(LevelFilter::OFF, |l| (*l).into())
}

/// Blocks the signals a process is sent (SIGTERM, SIGINT, ...) in the
/// calling pipeline thread, and so in the threads it starts (tokio's
/// blocking pool). The kernel gives a process-directed signal to any thread
/// that does not block it; one given to a pipeline thread would not
/// interrupt the application's main thread, so a Python handler (which only
/// the main thread runs) would wait until that thread's blocking call
/// returned, which may be never.
fn block_process_signals() {
    #[cfg(unix)]
    // SAFETY: a sigset_t is built and handed to pthread_sigmask for the
    // calling thread only.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in [
            libc::SIGHUP,
            libc::SIGINT,
            libc::SIGQUIT,
            libc::SIGTERM,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGALRM,
            libc::SIGCHLD,
            libc::SIGWINCH,
        ] {
            libc::sigaddset(&mut set, signal);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::{MemoryTransport, NullTransport};

    const DEADLINE: Duration = Duration::from_secs(10);

    fn memory_pipeline(configure: impl FnOnce(Config) -> Config) -> (Pipeline, MemoryTransport) {
        let memory = MemoryTransport::new();
        let config = Config::new("unit")
            .env_overrides(false)
            .transport(memory.clone());
        (Pipeline::start(configure(config)).unwrap(), memory)
    }

    fn event(message: &'static str) -> Event {
        Event::builder(Level::Info, message).build()
    }

    #[test]
    fn flush_returns_once_everything_emitted_before_it_is_sent() {
        let (pipeline, memory) = memory_pipeline(|c| c.batch_timeout(Duration::from_secs(600)));
        for _ in 0..10 {
            pipeline.emit(event("e"));
        }
        pipeline.flush(DEADLINE).unwrap();
        assert_eq!(memory.event_count(), 10, "flush did not wait for delivery");
        let m = pipeline.metrics();
        assert_eq!(
            (m.events_enqueued, m.events_sent, m.queue_depth),
            (10, 10, 0)
        );
        pipeline.shutdown(DEADLINE).unwrap();
    }

    #[test]
    fn after_shutdown_events_are_counted_and_flush_says_so() {
        let (pipeline, memory) = memory_pipeline(|c| c);
        pipeline.emit(event("before"));
        pipeline.shutdown(DEADLINE).unwrap();
        assert!(pipeline.is_shut_down());
        pipeline.emit(event("after"));
        pipeline.emit_with(Level::Warn, "after too", |_| unreachable!("not built"));
        assert_eq!(pipeline.metrics().events_dropped_after_shutdown, 2);
        assert!(matches!(
            pipeline.flush(DEADLINE),
            Err(FlushError::ShutDown)
        ));
        assert!(
            pipeline.shutdown(DEADLINE).is_ok(),
            "a second shutdown returns at once"
        );
        assert_eq!(memory.event_count(), 1);
    }

    #[test]
    fn a_full_queue_drops_the_newest_and_counts_it_under_the_drop_policy() {
        // A transport that never answers keeps batches in flight, so the
        // queue fills.
        struct Stuck;
        impl Transport for Stuck {
            fn send(&self, _: crate::transport::EncodedBatch) -> crate::transport::SendFuture<'_> {
                Box::pin(std::future::pending())
            }
        }
        let pipeline = Pipeline::start(
            Config::new("unit")
                .env_overrides(false)
                .transport(Stuck)
                .queue_capacity(4)
                .batch_size(1)
                .max_in_flight(1),
        )
        .unwrap();
        for _ in 0..100 {
            pipeline.emit(event("e"));
        }
        let m = pipeline.metrics();
        assert!(m.events_dropped_queue_full > 0);
        assert_eq!(m.events_enqueued + m.events_dropped_queue_full, 100);
        let _ = pipeline.shutdown(Duration::from_millis(100));
    }

    #[test]
    fn the_level_filter_can_change_while_running() {
        let (pipeline, _) = memory_pipeline(|c| c.level(LevelFilter::INFO));
        assert!(pipeline.enabled(Level::Info) && !pipeline.enabled(Level::Debug));
        pipeline.set_level(LevelFilter::DEBUG);
        assert!(pipeline.enabled(Level::Debug));
        assert_eq!(pipeline.level(), LevelFilter::DEBUG);
        pipeline.set_level(LevelFilter::OFF);
        assert!(!pipeline.enabled(Level::Fatal));
        pipeline.shutdown(DEADLINE).unwrap();
    }

    /// The signal mask of each of this process's threads named `name`.
    #[cfg(target_os = "linux")]
    fn blocked_masks(name: &str) -> Vec<u64> {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .flatten()
            .filter(|task| {
                std::fs::read_to_string(task.path().join("comm"))
                    .is_ok_and(|comm| comm.trim() == name)
            })
            .filter_map(|task| {
                let status = std::fs::read_to_string(task.path().join("status")).ok()?;
                let mask = status.lines().find_map(|l| l.strip_prefix("SigBlk:"))?;
                u64::from_str_radix(mask.trim(), 16).ok()
            })
            .collect()
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn pipeline_threads_leave_process_signals_to_the_application() {
        let pipeline = Pipeline::start(
            Config::new("signals")
                .env_overrides(false)
                .transport(NullTransport::new()),
        )
        .unwrap();
        let term = 1u64 << (libc::SIGTERM - 1);
        let int = 1u64 << (libc::SIGINT - 1);
        for name in ["aires-batcher", "aires-delivery"] {
            // A thread names itself and sets its mask once it runs.
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            let masks = loop {
                let masks = blocked_masks(name);
                let settled = !masks.is_empty() && masks.iter().all(|m| m & term != 0);
                if settled || std::time::Instant::now() > deadline {
                    break masks;
                }
                std::thread::sleep(Duration::from_millis(5));
            };
            assert!(!masks.is_empty(), "no thread named {name}");
            for mask in masks {
                assert_eq!(
                    mask & (term | int),
                    term | int,
                    "{name} takes SIGTERM/SIGINT"
                );
            }
        }
        pipeline.shutdown(Duration::from_secs(5)).unwrap();
    }
}
