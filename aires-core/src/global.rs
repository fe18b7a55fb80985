//! The process-wide pipeline behind the macros: `init`, `flush`, `shutdown`,
//! the guard, and the dispatch that every macro call ends in.
//!
//! Dispatch must be cheap and lock-free. Each thread caches a handle to the
//! current pipeline together with a generation number; a call loads the
//! generation (one atomic load) and uses its cached handle unless `init` or
//! `shutdown` has moved the generation on since.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use crate::config::Config;
use crate::encode::BatchEncoder;
use crate::event::{Event, EventBuilder};
use crate::level::{self, Level, LevelFilter};
use crate::metrics::{Metrics, StripedCounter};
use crate::pipeline::{FlushError, InitError, Pipeline, ShutdownError};
use crate::value::Str;

/// Moves on at every `init` and `shutdown`.
static GENERATION: AtomicU64 = AtomicU64::new(0);
static CURRENT: Mutex<Option<Pipeline>> = Mutex::new(None);
/// The last pipeline that ran, so metrics stay readable after shutdown.
static LAST: Mutex<Option<Pipeline>> = Mutex::new(None);

static DROPPED_BEFORE_INIT: StripedCounter = StripedCounter::new();
static DROPPED_NO_PIPELINE: StripedCounter = StripedCounter::new();
static DROPPED_FILTERED: StripedCounter = StripedCounter::new();

struct Cached {
    generation: u64,
    pipeline: Option<Pipeline>,
}

thread_local! {
    static CACHE: RefCell<Cached> = const {
        RefCell::new(Cached { generation: u64::MAX, pipeline: None })
    };
}

/// Starts the global pipeline that the macros send to.
///
/// Returns a [`Guard`] that shuts the pipeline down (and so sends everything
/// still queued) when dropped: keep it alive in `main`.
pub fn init(config: Config) -> Result<Guard, InitError> {
    init_with_encoder(config, |encoder| encoder)
}

/// Like [`init`], letting a binding adjust the batch encoder (to name its
/// SDK in every batch, see [`BatchEncoder::with_sdk`]).
pub fn init_with_encoder(
    config: Config,
    adjust: impl FnOnce(BatchEncoder) -> BatchEncoder,
) -> Result<Guard, InitError> {
    let mut current = CURRENT.lock();
    if current.is_some() {
        return Err(InitError::AlreadyInitialized);
    }
    let pipeline = Pipeline::start_with_encoder(config, adjust)?;
    shutdown_at_exit();
    crate::fork::watch();
    level::set_global_filter(pipeline.level());
    *current = Some(pipeline.clone());
    *LAST.lock() = Some(pipeline.clone());
    GENERATION.fetch_add(1, Ordering::Release);
    Ok(Guard {
        timeout: pipeline.shutdown_timeout(),
        pipeline,
    })
}

/// Shuts the global pipeline down when dropped. See [`init`].
///
/// ```
/// use std::time::Duration;
/// use aires_core::transport::MemoryTransport;
/// use aires_core::Config;
///
/// let memory = MemoryTransport::new();
/// let guard = aires_core::init(Config::new("docs").env_overrides(false).transport(memory.clone()))?;
/// aires_core::Event::builder(aires_core::Level::Info, "hello").emit();
/// // Dropping the guard sends what is queued; `shutdown` does too, with
/// // its own deadline and an error if it passes.
/// guard.shutdown(Duration::from_secs(5))?;
/// assert_eq!(memory.event_count(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[must_use = "dropping the guard shuts Aires down at once"]
pub struct Guard {
    timeout: Duration,
    /// The pipeline this guard's `init` started: a guard kept past a
    /// `shutdown` and a new `init` does not stop the new pipeline.
    pipeline: Pipeline,
}

impl Guard {
    /// Shuts down now with `timeout`, reporting whether it completed. A
    /// no-op if this guard's pipeline was shut down already.
    pub fn shutdown(self, timeout: Duration) -> Result<(), ShutdownError> {
        let result = shutdown_where(timeout, |current| current.same_as(&self.pipeline));
        std::mem::forget(self);
        result
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let pipeline = &self.pipeline;
        if let Err(error) = shutdown_where(self.timeout, |current| current.same_as(pipeline)) {
            eprintln!("aires: {error}");
        }
    }
}

/// Registers (once per process) an `atexit` hook that shuts down a global
/// pipeline still running when the process exits: `std::process::exit`, a
/// guard that was forgotten or kept in a `static`, an exit from C. The wait
/// is bounded by the pipeline's shutdown timeout; what is still unsent then
/// is reported on stderr. With the guard dropped first, the hook finds
/// nothing to do.
fn shutdown_at_exit() {
    static REGISTERED: std::sync::Once = std::sync::Once::new();
    REGISTERED.call_once(|| {
        #[cfg(unix)]
        // SAFETY: registers a plain `extern "C" fn` that does not unwind.
        unsafe {
            libc::atexit(on_exit);
        }
    });
}

#[cfg(unix)]
extern "C" fn on_exit() {
    // A panic must not cross into C; a lock held by a thread frozen in
    // exit means there is nothing safe to do.
    let _ = std::panic::catch_unwind(|| {
        let Some(timeout) = CURRENT
            .try_lock()
            .and_then(|current| current.as_ref().map(Pipeline::shutdown_timeout))
        else {
            return;
        };
        if let Err(error) = shutdown(timeout) {
            eprintln!("aires: at exit: {error}");
        }
    });
}

/// Flushes the global pipeline: returns once everything emitted before the
/// call has been sent (or dropped and counted), or after `timeout`.
pub fn flush(timeout: Duration) -> Result<(), FlushError> {
    let pipeline = CURRENT.lock().clone();
    match pipeline {
        Some(pipeline) => pipeline.flush(timeout),
        None => Err(FlushError::ShutDown),
    }
}

/// Shuts the global pipeline down: sends everything already emitted, then
/// stops. Later events are counted as dropped. A no-op when not running;
/// `init` may be called again afterwards.
pub fn shutdown(timeout: Duration) -> Result<(), ShutdownError> {
    shutdown_where(timeout, |_| true)
}

/// Shuts the global pipeline down if `is_it` says it is the one to stop.
fn shutdown_where(
    timeout: Duration,
    is_it: impl FnOnce(&Pipeline) -> bool,
) -> Result<(), ShutdownError> {
    let pipeline = {
        let mut current = CURRENT.lock();
        if !current.as_ref().is_some_and(is_it) {
            return Ok(());
        }
        current.take()
    };
    GENERATION.fetch_add(1, Ordering::Release);
    // Later macro calls take their disabled branch and are counted there.
    level::clear_global_filter();
    match pipeline {
        Some(pipeline) => pipeline.shutdown(timeout),
        None => Ok(()),
    }
}

/// The global pipeline's level filter ([`LevelFilter::OFF`] while none
/// runs).
pub fn level() -> LevelFilter {
    level::global_filter()
}

/// Changes the global pipeline's level filter while it runs, for example
/// from an admin endpoint; it applies to every thread at its next call.
/// Returns false, changing nothing, when no pipeline runs: the next
/// [`init`] takes its level from its config.
///
/// ```
/// use aires_core::LevelFilter;
/// # let guard = aires_core::init(aires_core::Config::new("docs").env_overrides(false).transport(aires_core::transport::NullTransport::new()))?;
/// assert!(aires_core::set_level(LevelFilter::DEBUG));
/// assert_eq!(aires_core::level(), LevelFilter::DEBUG);
/// # guard.shutdown(std::time::Duration::from_secs(5))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn set_level(filter: LevelFilter) -> bool {
    let current = CURRENT.lock();
    let Some(pipeline) = current.as_ref() else {
        return false;
    };
    pipeline.set_level(filter);
    level::set_global_filter(filter);
    true
}

/// Forgets the global pipeline without stopping it, in the child process
/// of a `fork()`. Call it first thing in the child (Python's
/// `os.register_at_fork(after_in_child=...)`, `pthread_atfork`); then
/// [`init`] starts a pipeline of the child's own.
///
/// Only the forking thread survives a fork: the inherited pipeline's worker
/// threads do not exist in the child, so shutting it down would wait for
/// nobody. Its memory is leaked instead, and the events still queued in it
/// are the parent's, which the parent sends. Not for use outside a freshly
/// forked child.
pub fn forget_after_fork() {
    for slot in [&CURRENT, &LAST] {
        if slot.is_locked() {
            // SAFETY: in a forked child the thread that held the lock does
            // not exist and never will release it; nothing else runs yet.
            unsafe { slot.force_unlock() };
        }
        std::mem::forget(slot.lock().take());
    }
    // The clock, and the ids the child's copy of the generators would
    // repeat (the handler `init` registers has done this already, if it
    // ran before the fork; twice does no harm).
    crate::fork::repair_in_child();
    GENERATION.fetch_add(1, Ordering::Release);
    level::repair_after_fork();
    level::clear_global_filter();
}

/// The global pipeline's metrics (the last one's after shutdown), plus the
/// process-wide counts of events filtered by level or emitted with no
/// pipeline running.
///
/// ```
/// # use std::time::Duration;
/// # let guard = aires_core::init(aires_core::Config::new("docs").env_overrides(false).transport(aires_core::transport::NullTransport::new()))?;
/// aires_core::Event::builder(aires_core::Level::Info, "counted").emit();
/// aires_core::flush(Duration::from_secs(5))?;
/// let m = aires_core::metrics();
/// assert_eq!(m.events_sent, 1);
/// assert_eq!(m.events_dropped(), 0);
/// # guard.shutdown(Duration::from_secs(5))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn metrics() -> Metrics {
    let last = LAST.lock().clone();
    let mut metrics = last.map(|p| p.metrics()).unwrap_or_default();
    metrics.events_dropped_filtered = DROPPED_FILTERED.get();
    metrics.events_dropped_before_init = DROPPED_BEFORE_INIT.get();
    metrics.events_dropped_after_shutdown += DROPPED_NO_PIPELINE.get();
    metrics
}

/// Counts one event skipped by the runtime level check: as filtered, or as
/// emitted before `init` / after `shutdown` when no pipeline runs. Called by
/// the macros on their disabled branch.
#[inline]
pub fn count_filtered() {
    if level::global_pipeline_running() {
        DROPPED_FILTERED.add(1);
    } else {
        count_no_pipeline(GENERATION.load(Ordering::Relaxed));
    }
}

/// Hands a finished event to the global pipeline, or counts it if none is
/// running.
#[inline(always)]
pub fn dispatch(event: Event) {
    with_current(event, |pipeline, event| pipeline.emit(event));
}

/// Builds an event in the global pipeline's queue (see
/// [`Pipeline::emit_with`]), or counts it if no pipeline is running. The
/// macros end in this call.
#[inline(always)]
pub fn dispatch_with(level: Level, message: impl Into<Str>, fill: impl FnOnce(&mut EventBuilder)) {
    with_current((message, fill), |pipeline, (message, fill)| {
        pipeline.emit_with(level, message, fill)
    });
}

/// Runs `send` with the current pipeline, or counts the event as dropped
/// when none is running.
///
/// The thread's cached handle stays borrowed while `send` runs: building an
/// event can run user code (a field's conversion, an error's `Display`)
/// that logs in turn, and a nested call must not replace the handle in use.
/// It takes the shared handle under the lock instead, as does a thread
/// whose cache is gone (it is exiting).
#[inline(always)]
fn with_current<T>(payload: T, send: impl FnOnce(&Pipeline, T)) {
    let generation = GENERATION.load(Ordering::Acquire);
    // The cache is reached through a pointer rather than inside `try_with`'s
    // closure, so the payload (the macro's fields) is handed to `send` as it
    // is: moving it into the closure and out again copied every field.
    let cache = CACHE.try_with(|cache| cache as *const RefCell<Cached>);
    // SAFETY: a thread's locals live until the thread runs their
    // destructors as it exits; this call runs on the thread, and `try_with`
    // succeeded, so the cache is not destroyed before the call returns.
    let mut cache = cache
        .ok()
        .and_then(|cache| unsafe { &*cache }.try_borrow_mut().ok());
    let shared;
    let pipeline = match &mut cache {
        Some(cache) => {
            if cache.generation != generation {
                cache.pipeline = CURRENT.lock().clone();
                cache.generation = generation;
            }
            cache.pipeline.as_ref()
        }
        None => {
            // The lock is released before `send` runs: it may log in turn.
            shared = CURRENT.lock().clone();
            shared.as_ref()
        }
    };
    // One call of `send`, so that it is inlined here: called from two
    // places, it was a function of its own, which copied the payload from
    // the caller's stack in 16-byte loads over the caller's 8-byte stores
    // (a failed store forward: a third of the dispatch's samples).
    match pipeline {
        Some(pipeline) => send(pipeline, payload),
        None => count_no_pipeline(generation),
    }
}

/// Counts an event whose fields or message panicked while being evaluated,
/// before it took a queue slot, as `events_dropped_abandoned`: the event
/// macros arm one before evaluating anything and disarm it (with
/// [`AbandonOnUnwind::disarm`], free) once every value is ready.
#[must_use]
#[derive(Debug)]
pub struct AbandonOnUnwind(());

impl AbandonOnUnwind {
    /// Starts counting an unwind as an abandoned event.
    #[inline(always)]
    pub fn arm() -> Self {
        AbandonOnUnwind(())
    }

    /// Every value was evaluated: nothing to count.
    #[inline(always)]
    pub fn disarm(self) {
        std::mem::forget(self);
    }
}

impl Drop for AbandonOnUnwind {
    // Runs only while unwinding: `disarm` forgets the guard otherwise.
    #[cold]
    fn drop(&mut self) {
        match CURRENT.try_lock().and_then(|current| current.clone()) {
            Some(pipeline) => pipeline.count_abandoned(),
            None => count_no_pipeline(GENERATION.load(Ordering::Relaxed)),
        }
    }
}

fn count_no_pipeline(generation: u64) {
    if generation == 0 {
        DROPPED_BEFORE_INIT.add(1);
    } else {
        DROPPED_NO_PIPELINE.add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::MemoryTransport;
    use crate::{Event, Level};

    // The only test in this crate that touches the global pipeline (it also
    // covers init_with_encoder).
    #[test]
    fn forget_after_fork_lets_a_new_pipeline_start() {
        let first = MemoryTransport::new();
        let guard = init(Config::new("parent").transport(first.clone())).unwrap();
        // A child would hold the lock forever if the fork caught it held.
        std::mem::forget(CURRENT.lock());
        forget_after_fork();
        std::mem::forget(guard);
        assert!(!level::global_pipeline_running());

        let second = MemoryTransport::new();
        let _guard = init_with_encoder(Config::new("child").transport(second.clone()), |e| {
            e.with_sdk("aires-test", "1.2.3")
        })
        .unwrap();
        dispatch(Event::builder(Level::Info, "from the child").build());
        flush(Duration::from_secs(5)).unwrap();
        assert_eq!(second.events()[0].message, "from the child");
        assert!(first.events().is_empty());
        assert_eq!(second.decoded_batches()[0].sdk_name, "aires-test");
    }
}
