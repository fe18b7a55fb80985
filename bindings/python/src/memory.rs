//! The in-memory and null transports for tests and benchmarks
//! (`init(transport="memory" | "null")`), and reading back what the memory
//! transport received, decoded into plain Python values.

use aires_core::transport::{MemoryTransport, NullTransport};
use parking_lot::Mutex;
use pyo3::prelude::*;

static MEMORY: Mutex<Option<MemoryTransport>> = Mutex::new(None);
static NULL: Mutex<Option<NullTransport>> = Mutex::new(None);

/// Keeps the handles on the transports `init` chose, for reading back.
pub fn keep(memory: Option<MemoryTransport>, null: Option<NullTransport>) {
    *MEMORY.lock() = memory;
    *NULL.lock() = null;
}

/// In a forked child: the inherited transports are the parent's.
pub fn forget_after_fork() {
    for lock in [&MEMORY as &dyn Forget, &NULL] {
        lock.forget();
    }
}

trait Forget {
    fn forget(&self);
}

impl<T> Forget for Mutex<Option<T>> {
    fn forget(&self) {
        if self.is_locked() {
            // SAFETY: in a forked child the holder no longer exists.
            unsafe { self.force_unlock() };
        }
        std::mem::forget(self.lock().take());
    }
}

/// Events the null transport was given (0 when it is not in use).
#[pyfunction]
pub fn _null_events() -> u64 {
    NULL.lock().as_ref().map_or(0, NullTransport::events)
}

/// Forgets what the memory transport received.
#[pyfunction]
pub fn _memory_clear() {
    if let Some(memory) = MEMORY.lock().as_ref() {
        memory.clear();
    }
}

/// The memory transport `init` chose, or the error that says it did not.
fn memory() -> PyResult<MemoryTransport> {
    MEMORY.lock().clone().ok_or_else(|| {
        pyo3::exceptions::PyRuntimeError::new_err(
            "aires was not initialised with transport=\"memory\"",
        )
    })
}

/// Every event the memory transport received, as the canonical rows of
/// `aires_core::sdk::rows` (JSON text): what the conformance suite
/// compares, the same in every SDK.
#[pyfunction]
pub fn _memory_rows() -> PyResult<String> {
    let memory = memory()?;
    Ok(aires_core::sdk::rows(&memory).to_string())
}

/// The shared `init` options (name, kind, default as text, environment
/// variable), for the test that checks this binding against them.
#[pyfunction]
pub fn _sdk_options() -> Vec<(String, String, String, Option<String>)> {
    aires_core::sdk::OPTIONS
        .iter()
        .map(|o| {
            (
                o.name.to_owned(),
                format!("{:?}", o.unit),
                (o.default)(),
                o.env.map(str::to_owned),
            )
        })
        .collect()
}

/// Every event the memory transport received, after waiting up to
/// `timeout` seconds for at least `count` of them (the GIL released while
/// waiting): the shared records of `aires_core::sdk::records`, as JSON text
/// (`aires._testing.memory_events` turns them into Python values).
#[pyfunction]
#[pyo3(signature = (count=0, timeout=5.0))]
pub fn _memory_records(py: Python<'_>, count: usize, timeout: f64) -> PyResult<String> {
    let memory = memory()?;
    let timeout = std::time::Duration::try_from_secs_f64(timeout)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
    py.detach(|| memory.wait_for_events(count, timeout));
    Ok(aires_core::sdk::records(&memory).to_string())
}

/// The core's metric names, in order (`aires_core::Metrics::named`).
#[pyfunction]
pub fn _sdk_metric_names() -> Vec<&'static str> {
    aires_core::Metrics::default()
        .named()
        .iter()
        .map(|(name, _)| *name)
        .collect()
}
