//! Read-back of the in-memory transport (`transport: 'memory'`), for the
//! package's own tests: the events exactly as they would leave the process.

use std::sync::Mutex;

use aires_core::transport::MemoryTransport;
use napi_derive::napi;
use serde_json::{json, Value};

static MEMORY: Mutex<Option<MemoryTransport>> = Mutex::new(None);

pub(crate) fn set_memory(memory: MemoryTransport) {
    *MEMORY.lock().unwrap_or_else(|p| p.into_inner()) = Some(memory);
}

/// Every event the in-memory transport has received: the shared records
/// of `aires_core::sdk::records`, as JSON text (the tests' `drain()`
/// turns them into JavaScript values).
#[napi]
pub fn memory_events() -> String {
    memory_json(aires_core::sdk::records)
}

/// `read` of the in-memory transport as JSON text (`[]` when not in use).
fn memory_json(read: fn(&MemoryTransport) -> Value) -> String {
    let memory = MEMORY.lock().unwrap_or_else(|p| p.into_inner()).clone();
    memory
        .map(|m| read(&m))
        .unwrap_or(Value::Array(Vec::new()))
        .to_string()
}

/// Forgets what the in-memory transport has received.
#[napi]
pub fn memory_clear() {
    if let Some(m) = MEMORY.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
        m.clear();
    }
}

/// Panics inside the addon, to check that a panic becomes a JavaScript
/// exception rather than an abort.
#[napi(catch_unwind)]
pub fn panic_for_test() {
    panic!("deliberate panic for the test");
}

/// Every event the in-memory transport has received, as the canonical rows
/// of `aires_core::sdk::rows` (JSON text): what the conformance suite
/// compares, the same in every SDK.
#[napi]
pub fn memory_rows() -> String {
    memory_json(aires_core::sdk::rows)
}

/// The shared `init` options (name, JavaScript name, kind, default as
/// text, environment variable), for the test that checks this binding's
/// options and documentation against them.
#[napi]
pub fn sdk_options() -> String {
    let options: Vec<Value> = aires_core::sdk::OPTIONS
        .iter()
        .map(|o| {
            json!({
                "name": o.name,
                "jsName": o.js_name(),
                "unit": format!("{:?}", o.unit),
                "default": (o.default)(),
                "env": o.env,
            })
        })
        .collect();
    Value::Array(options).to_string()
}

/// The core's metric names (snake case), in order.
#[napi]
pub fn sdk_metric_names() -> Vec<String> {
    aires_core::Metrics::default()
        .named()
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect()
}
