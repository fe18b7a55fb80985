//! Read-back of the in-memory transport (`transport: 'memory'`), for the
//! package's own tests: the events exactly as they would leave the process.

use std::sync::Mutex;

use aires_core::MemoryTransport;
use aires_proto::v1 as proto;
use napi_derive::napi;
use serde_json::{json, Value};

static MEMORY: Mutex<Option<MemoryTransport>> = Mutex::new(None);

pub(crate) fn set_memory(memory: MemoryTransport) {
    *MEMORY.lock().unwrap_or_else(|p| p.into_inner()) = Some(memory);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute(a: &proto::Attribute) -> Value {
    use proto::attribute::Value as V;
    match &a.value {
        Some(V::StringValue(s)) => json!({ "type": "string", "value": s }),
        // 64-bit integers as decimal text, so JavaScript sees them exactly.
        Some(V::IntValue(i)) => json!({ "type": "int", "value": i.to_string() }),
        Some(V::UintValue(u)) => json!({ "type": "uint", "value": u.to_string() }),
        Some(V::DoubleValue(f)) if f.is_finite() => json!({ "type": "float", "value": f }),
        Some(V::DoubleValue(f)) => json!({ "type": "float", "value": f.to_string() }),
        Some(V::BoolValue(b)) => json!({ "type": "bool", "value": b }),
        None => Value::Null,
    }
}

fn event(batch: &proto::EventBatch, e: &proto::Event) -> Value {
    let attributes: serde_json::Map<String, Value> = e
        .attributes
        .iter()
        .map(|a| (a.key.clone(), attribute(a)))
        .collect();
    json!({
        "sdkName": batch.sdk_name,
        "service": batch.service,
        "environment": batch.environment,
        "id": hex(&e.id),
        "timestampUnixNano": e.timestamp_unix_nano.to_string(),
        "severity": e.severity,
        "message": e.message,
        "traceId": hex(&e.trace_id),
        "spanId": hex(&e.span_id),
        "sessionId": e.session_id,
        "attributes": attributes,
        "tags": e.tags,
        "http": e.http.as_ref().map(|h| json!({
            "method": h.method, "route": h.route, "path": h.path,
            "status": h.status_code, "durationNanos": h.duration_nanos.to_string(),
            "userAgent": h.user_agent, "clientIp": h.client_ip,
            "requestBytes": h.request_bytes, "responseBytes": h.response_bytes,
            "host": h.host, "scheme": h.scheme,
        })),
        "error": e.error.as_ref().map(|x| json!({
            "type": x.r#type, "message": x.message, "chain": x.chain, "backtrace": x.backtrace,
        })),
        "callSite": e.call_site.as_ref().map(|c| json!({
            "file": c.file, "line": c.line, "module": c.module, "function": c.function,
        })),
    })
}

/// Every event the in-memory transport has received, as JSON text.
#[napi]
pub fn memory_events() -> String {
    let memory = MEMORY.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let events: Vec<Value> = memory
        .map(|m| {
            m.decoded_batches()
                .iter()
                .flat_map(|b| b.events.iter().map(move |e| event(b, e)))
                .collect()
        })
        .unwrap_or_default();
    Value::Array(events).to_string()
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
    let memory = MEMORY.lock().unwrap_or_else(|p| p.into_inner()).clone();
    memory
        .map(|m| aires_core::sdk::rows(&m))
        .unwrap_or(Value::Array(Vec::new()))
        .to_string()
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
