//! `init`, `flush`, `shutdown`, `metrics`, and starting again in the child
//! of a `fork()`.

use std::sync::atomic::Ordering;

use std::time::Duration;

use aires_core::{Config, FlushError, InitError};
use parking_lot::Mutex;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::VALUES_COERCED;
use crate::emit::{MAY_BLOCK, OTEL_CURRENT_SPAN, OTEL_ON};
use crate::memory;

use aires_core::sdk::{Settings, Spelling, TransportChoice};

/// What `init` was given, kept to start the same pipeline in a forked child.
struct Running {
    config: Config,
    sink: TransportChoice,
}

/// Only touched with the GIL held (and never across a release of it), so a
/// fork, which happens with the GIL held, never catches it locked.
static RUNNING: Mutex<Option<Running>> = Mutex::new(None);

const SDK_NAME: &str = "aires-python";

/// Starts the global pipeline. Every option is optional; `None` keeps the
/// core's default, and `AIRES_*` variables override (unless
/// `env_overrides=False`).
#[pyfunction]
#[pyo3(signature = (
    *, service=None, environment=None, endpoint=None, level=None, batch_size=None,
    batch_timeout=None, max_batch_bytes=None, queue_capacity=None, overflow=None,
    block_timeout=None, overflow_max_bytes=None, retry_max_elapsed=None, max_in_flight=None, send_timeout=None,
    shutdown_timeout=None, env_overrides=true, transport=None, opentelemetry=None,
    spool_dir=None, spool_max_bytes=None,
))]
#[allow(clippy::too_many_arguments)]
pub fn init(
    service: Option<String>,
    environment: Option<String>,
    endpoint: Option<String>,
    level: Option<String>,
    batch_size: Option<usize>,
    batch_timeout: Option<f64>,
    max_batch_bytes: Option<usize>,
    queue_capacity: Option<usize>,
    overflow: Option<String>,
    block_timeout: Option<f64>,
    overflow_max_bytes: Option<usize>,
    retry_max_elapsed: Option<f64>,
    max_in_flight: Option<usize>,
    send_timeout: Option<f64>,
    shutdown_timeout: Option<f64>,
    env_overrides: bool,
    transport: Option<String>,
    opentelemetry: Option<Bound<'_, PyAny>>,
    spool_dir: Option<std::path::PathBuf>,
    spool_max_bytes: Option<u64>,
) -> PyResult<()> {
    let settings = Settings {
        service,
        environment,
        endpoint,
        level,
        batch_size,
        batch_timeout: optional_seconds("batch_timeout", batch_timeout)?,
        max_batch_bytes,
        queue_capacity,
        overflow,
        block_timeout: optional_seconds("block_timeout", block_timeout)?,
        overflow_max_bytes,
        retry_max_elapsed: optional_seconds("retry_max_elapsed", retry_max_elapsed)?,
        max_in_flight,
        send_timeout: optional_seconds("send_timeout", send_timeout)?,
        shutdown_timeout: optional_seconds("shutdown_timeout", shutdown_timeout)?,
        spool_dir,
        spool_max_bytes,
        env_overrides: Some(env_overrides),
        transport,
    };
    let (config, sink) = settings
        .to_config(Spelling::Python)
        .map_err(PyValueError::new_err)?;
    let mut running = RUNNING.lock();
    let resolved = start(config.clone(), sink)?;
    MAY_BLOCK.store(resolved.parts().may_block, Ordering::Relaxed);
    set_opentelemetry(opentelemetry)?;
    *running = Some(Running { config, sink });
    Ok(())
}

/// Starts the global pipeline with a new transport of the chosen kind and
/// returns the configuration in force (with the environment applied).
fn start(config: Config, sink: TransportChoice) -> PyResult<Config> {
    // The first timestamp calibrates the core's clock (a one-time
    // initialisation that takes milliseconds). Take it here, before the
    // pipeline's threads exist: if one of them were doing it when the
    // application forks, the child would wait for it forever.
    aires_core::__private::now_unix_nanos();
    let built = sink.build();
    let config = built.configure(config);
    memory::keep(built.memory, built.null);
    let config = aires::__private::with_default_transport(config).map_err(init_error)?;
    let guard = aires_core::__private::init_with_encoder(config.clone(), |encoder| {
        encoder.with_sdk(SDK_NAME, env!("CARGO_PKG_VERSION"))
    })
    .map_err(init_error)?;
    // The package shuts down explicitly (`aires.shutdown`, or at exit).
    std::mem::forget(guard);
    Ok(config)
}

fn init_error(error: InitError) -> PyErr {
    match error {
        InitError::AlreadyInitialized => PyRuntimeError::new_err(error.to_string()),
        InitError::Spawn(_) => PyRuntimeError::new_err(error.to_string()),
        _ => PyValueError::new_err(error.to_string()),
    }
}

fn seconds(option: &str, value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        PyValueError::new_err(format!(
            "{option} must be a finite number of seconds >= 0, got {value}"
        ))
    })
}

fn optional_seconds(option: &str, value: Option<f64>) -> PyResult<Option<Duration>> {
    value.map(|value| seconds(option, value)).transpose()
}

/// `opentelemetry=None` (auto): use OpenTelemetry's current span when the
/// application has imported `opentelemetry.trace`; `True`: import it (an
/// error if missing); `False`: never.
fn set_opentelemetry(setting: Option<Bound<'_, PyAny>>) -> PyResult<()> {
    let mut current = OTEL_CURRENT_SPAN.lock();
    *current = None;
    OTEL_ON.store(false, Ordering::Relaxed);
    let Some(setting) = setting.filter(|s| !s.is_none()) else {
        return Ok(());
    };
    let py = setting.py();
    let wanted: Option<bool> = setting.extract().ok();
    let module = match wanted {
        Some(false) => return Ok(()),
        Some(true) => Some(py.import("opentelemetry.trace")?),
        None => {
            return Err(PyValueError::new_err(
                "opentelemetry must be True, False or None",
            ))
        }
    };
    if let Some(module) = module {
        *current = Some(module.getattr("get_current_span")?.unbind());
        OTEL_ON.store(true, Ordering::Relaxed);
    }
    Ok(())
}

/// Sends everything emitted so far; `False` if `timeout` passed first or
/// nothing is running. The GIL is released while waiting.
#[pyfunction]
#[pyo3(signature = (timeout=2.0))]
pub fn flush(py: Python<'_>, timeout: f64) -> PyResult<bool> {
    let timeout = seconds("timeout", timeout)?;
    match py.detach(|| aires_core::flush(timeout)) {
        Ok(()) => Ok(true),
        Err(FlushError::Timeout(_) | FlushError::ShutDown) => Ok(false),
        Err(other) => Err(PyRuntimeError::new_err(other.to_string())),
    }
}

/// Sends what is queued and stops; `False` if `timeout` passed first. Later
/// calls are counted as dropped until `init` runs again.
#[pyfunction]
#[pyo3(signature = (timeout=5.0))]
pub fn shutdown(py: Python<'_>, timeout: f64) -> PyResult<bool> {
    let timeout = seconds("timeout", timeout)?;
    RUNNING.lock().take();
    Ok(py.detach(|| aires_core::shutdown(timeout)).is_ok())
}

/// Whether the global pipeline runs.
#[pyfunction]
pub fn is_running() -> bool {
    RUNNING.lock().is_some()
}

/// The least severe level recorded now (`"off"` when not running).
#[pyfunction]
pub fn level() -> String {
    aires_core::level()
        .min_level()
        .map_or("off", |l| l.as_str())
        .to_owned()
}

/// Starts a pipeline of the child's own after `fork()`, with the same
/// options and a new transport, forgetting the parent's (whose threads did
/// not survive the fork; its queued events are the parent's to send).
#[pyfunction]
pub fn _after_fork_in_child() -> PyResult<()> {
    let mut running = RUNNING.lock();
    let Some(state) = running.as_ref() else {
        return Ok(());
    };
    let (config, sink) = (state.config.clone(), state.sink);
    aires_core::__private::forget_after_fork();
    memory::forget_after_fork();
    if let Err(error) = start(config, sink) {
        *running = None;
        return Err(error);
    }
    Ok(())
}

/// The core's self-metrics, plus this binding's `values_coerced`.
#[pyfunction]
pub fn metrics(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let m = aires_core::metrics();
    let dict = PyDict::new(py);
    // The core's counters by their shared names, then this binding's own.
    for (name, value) in m
        .named()
        .into_iter()
        .chain([("values_coerced", VALUES_COERCED.load(Ordering::Relaxed))])
    {
        dict.set_item(name, value)?;
    }
    Ok(dict)
}

/// Panics, so that the tests can check that a Rust panic reaches Python as
/// an exception (`pyo3_runtime.PanicException`) and not as a crash.
#[pyfunction]
pub fn _panic_for_tests(message: &str) {
    panic!("{message}");
}
