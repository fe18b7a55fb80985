//! The in-memory and null transports for tests and benchmarks
//! (`init(transport="memory" | "null")`), and reading back what the memory
//! transport received, decoded into plain Python values.

use aires_core::{MemoryTransport, NullTransport};
use aires_proto::v1 as proto;
use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

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

/// Every event the memory transport received, as the canonical rows of
/// `aires_core::sdk::rows` (JSON text): what the conformance suite
/// compares, the same in every SDK.
#[pyfunction]
pub fn _memory_rows() -> PyResult<String> {
    let Some(memory) = MEMORY.lock().clone() else {
        return Err(pyo3::exceptions::PyRuntimeError::new_err(
            "aires was not initialised with transport=\"memory\"",
        ));
    };
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

/// Every event the memory transport received, as dicts, after waiting up to
/// `timeout` seconds for at least `count` of them. The GIL is released
/// while waiting.
#[pyfunction]
#[pyo3(signature = (count=0, timeout=5.0))]
pub fn _memory_events(py: Python<'_>, count: usize, timeout: f64) -> PyResult<Bound<'_, PyList>> {
    let Some(memory) = MEMORY.lock().clone() else {
        return Err(pyo3::exceptions::PyRuntimeError::new_err(
            "aires was not initialised with transport=\"memory\"",
        ));
    };
    let timeout = std::time::Duration::try_from_secs_f64(timeout)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
    py.detach(|| memory.wait_for_events(count, timeout));
    let list = PyList::empty(py);
    for batch in memory.decoded_batches() {
        for event in &batch.events {
            list.append(event_dict(py, &batch, event)?)?;
        }
    }
    Ok(list)
}

fn hex(bytes: &[u8]) -> Option<String> {
    (!bytes.is_empty()).then(|| bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn event_dict<'py>(
    py: Python<'py>,
    batch: &proto::EventBatch,
    event: &proto::Event,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("sdk_name", &batch.sdk_name)?;
    d.set_item("sdk_version", &batch.sdk_version)?;
    d.set_item("service", &batch.service)?;
    d.set_item("environment", &batch.environment)?;
    d.set_item("id", hex(&event.id))?;
    d.set_item("timestamp_unix_nano", event.timestamp_unix_nano)?;
    let level = aires_core::Level::ALL
        .iter()
        .find(|l| l.as_proto() == event.severity)
        .map_or("unspecified", |l| l.as_str());
    d.set_item("level", level)?;
    d.set_item("message", &event.message)?;
    d.set_item("trace_id", hex(&event.trace_id))?;
    d.set_item("span_id", hex(&event.span_id))?;
    d.set_item("session_id", &event.session_id)?;
    d.set_item("tags", &event.tags)?;
    let attributes = PyDict::new(py);
    let types = PyDict::new(py);
    for attr in &event.attributes {
        use proto::attribute::Value as V;
        let (value, kind): (Py<PyAny>, &str) = match &attr.value {
            Some(V::StringValue(v)) => (v.into_pyobject(py)?.into_any().unbind(), "str"),
            Some(V::IntValue(v)) => (v.into_pyobject(py)?.into_any().unbind(), "int"),
            Some(V::UintValue(v)) => (v.into_pyobject(py)?.into_any().unbind(), "uint"),
            Some(V::DoubleValue(v)) => (v.into_pyobject(py)?.into_any().unbind(), "float"),
            Some(V::BoolValue(v)) => (
                pyo3::types::PyBool::new(py, *v)
                    .to_owned()
                    .into_any()
                    .unbind(),
                "bool",
            ),
            None => (py.None(), "none"),
        };
        attributes.set_item(&attr.key, value)?;
        types.set_item(&attr.key, kind)?;
    }
    d.set_item("attributes", attributes)?;
    d.set_item("attribute_types", types)?;
    match &event.http {
        Some(h) => {
            let http = PyDict::new(py);
            http.set_item("method", &h.method)?;
            http.set_item("route", &h.route)?;
            http.set_item("path", &h.path)?;
            http.set_item("status", h.status_code)?;
            http.set_item("duration_nanos", h.duration_nanos)?;
            http.set_item("user_agent", &h.user_agent)?;
            http.set_item("client_ip", &h.client_ip)?;
            http.set_item("request_bytes", h.request_bytes)?;
            http.set_item("response_bytes", h.response_bytes)?;
            http.set_item("host", &h.host)?;
            http.set_item("scheme", &h.scheme)?;
            d.set_item("http", http)?;
        }
        None => d.set_item("http", py.None())?,
    }
    match &event.error {
        Some(e) => {
            let error = PyDict::new(py);
            error.set_item("type", &e.r#type)?;
            error.set_item("message", &e.message)?;
            error.set_item("chain", &e.chain)?;
            error.set_item("backtrace", &e.backtrace)?;
            d.set_item("error", error)?;
        }
        None => d.set_item("error", py.None())?,
    }
    match &event.call_site {
        Some(c) => {
            let site = PyDict::new(py);
            site.set_item("file", &c.file)?;
            site.set_item("line", c.line)?;
            site.set_item("module", &c.module)?;
            site.set_item("function", &c.function)?;
            d.set_item("call_site", site)?;
        }
        None => d.set_item("call_site", py.None())?,
    }
    Ok(d)
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
