//! Starting, flushing and stopping the global pipeline, and its metrics.

use std::sync::Mutex;
use std::time::Duration;

use aires_core::{Guard, LevelFilter};
use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Error, Result, Status, Task};
use napi_derive::napi;

use crate::options::InitOptions;
use crate::testing;

/// The guard of the pipeline this addon started. Every worker thread of the
/// process shares it: the addon is loaded once per process.
static GUARD: Mutex<Option<Guard>> = Mutex::new(None);

/// The name batches from this binding carry, and its version.
const SDK_NAME: &str = "aires-node";
const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Level numbers as the TypeScript layer uses them: trace = 1 .. fatal = 6;
/// 7 lets nothing through.
const OFF: u32 = 7;

fn level_number(filter: LevelFilter) -> u32 {
    filter.min_level().map_or(OFF, |level| level as u32)
}

fn lock_guard() -> std::sync::MutexGuard<'static, Option<Guard>> {
    // A panic while holding the lock leaves the data consistent (an Option).
    GUARD
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts the process-wide pipeline. Returns the effective least severe
/// level (after `AIRES_LEVEL`), as a number 1 (trace) to 7 (off).
#[napi(catch_unwind)]
pub fn init(options: Option<InitOptions>) -> Result<u32> {
    let options = options.unwrap_or_default();
    let (config, choice) = options.to_config()?;
    let built = choice.build();
    let config = built.configure(config);
    let memory = built.memory;
    let mut guard = lock_guard();
    let started = aires::__private::init_as_sdk(config, SDK_NAME, SDK_VERSION)
        .map_err(|e| Error::new(Status::InvalidArg, e.to_string()))?;
    *guard = Some(started);
    drop(guard);
    if let Some(memory) = memory {
        testing::set_memory(memory);
    }
    Ok(level_number(aires_core::level()))
}

/// Whether a pipeline is running (started by any thread of the process).
#[napi]
pub fn is_running() -> bool {
    lock_guard().is_some()
}

/// The least severe level recorded now, 1 (trace) to 7 (off).
#[napi]
pub fn current_level() -> u32 {
    if is_running() {
        level_number(aires_core::level())
    } else {
        OFF
    }
}

/// Changes the least severe level recorded, for the whole process.
#[napi]
pub fn set_level(level: String) -> Result<u32> {
    let filter: LevelFilter = level
        .parse()
        .map_err(|e: aires_core::ParseLevelError| crate::options::invalid(e.to_string()))?;
    aires_core::set_level(filter);
    Ok(level_number(filter))
}

fn millis(timeout_ms: Option<f64>, default: u64) -> Duration {
    match timeout_ms {
        Some(ms) if ms.is_finite() && ms >= 0.0 => Duration::from_millis(ms as u64),
        _ => Duration::from_millis(default),
    }
}

fn flush_now(timeout: Duration) -> bool {
    aires_core::flush(timeout).is_ok()
}

fn shutdown_now(timeout: Duration) -> bool {
    let guard = lock_guard().take();
    match guard {
        Some(guard) => guard.shutdown(timeout).is_ok(),
        None => aires_core::shutdown(timeout).is_ok(),
    }
}

/// Flushes on a libuv thread; see [`flush`].
#[derive(Debug)]
pub struct FlushTask {
    timeout: Duration,
    shutdown: bool,
}

impl Task for FlushTask {
    type Output = bool;
    type JsValue = bool;

    fn compute(&mut self) -> Result<bool> {
        Ok(if self.shutdown {
            shutdown_now(self.timeout)
        } else {
            flush_now(self.timeout)
        })
    }

    fn resolve(&mut self, _env: Env, output: bool) -> Result<bool> {
        Ok(output)
    }
}

/// Resolves once everything emitted before the call is sent (true), or
/// after the timeout (false; it may still be sent). Waits off the JS thread.
#[napi(ts_return_type = "Promise<boolean>")]
pub fn flush(timeout_ms: Option<f64>) -> AsyncTask<FlushTask> {
    AsyncTask::new(FlushTask {
        timeout: millis(timeout_ms, 5_000),
        shutdown: false,
    })
}

/// Sends what is queued and stops the pipeline; resolves true when it
/// completed within the timeout. Later events are counted as dropped.
#[napi(ts_return_type = "Promise<boolean>")]
pub fn shutdown(timeout_ms: Option<f64>) -> AsyncTask<FlushTask> {
    AsyncTask::new(FlushTask {
        timeout: millis(timeout_ms, 5_000),
        shutdown: true,
    })
}

/// [`flush`] on the calling thread, for `process.on('exit')`.
#[napi]
pub fn flush_sync(timeout_ms: Option<f64>) -> bool {
    flush_now(millis(timeout_ms, 2_000))
}

/// [`shutdown`] on the calling thread, for `process.on('exit')`.
#[napi]
pub fn shutdown_sync(timeout_ms: Option<f64>) -> bool {
    shutdown_now(millis(timeout_ms, 2_000))
}

/// A snapshot of the self-metrics: the core's counters by their shared
/// names (`aires_core::Metrics::named`), in camelCase. Counts are exact
/// below 2^53.
#[napi(ts_return_type = "Record<string, number>")]
pub fn metrics() -> std::collections::HashMap<String, f64> {
    aires_core::metrics()
        .named()
        .into_iter()
        .map(|(name, value)| (aires_core::sdk::camel_case(name), value as f64))
        .collect()
}
