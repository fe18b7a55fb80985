//! The canonical read-back of an event: what the conformance suite and the
//! bindings' tests compare, the same in every language. Every value is
//! text, so nothing depends on a language's numbers (JavaScript has no
//! 64-bit integers): attributes are `[type, text]` pairs, with the types
//! `str`, `int`, `uint`, `float` and `bool`, floats written in Rust's
//! shortest round-trip form (`9.99`, `1.0`, `5e-324`, `NaN`, `inf`, `-inf`).

use aires_proto::v1 as proto;
use serde_json::{json, Map, Value as Json};

use crate::transport::json::{hex, severity_name};
use crate::transport::MemoryTransport;

/// One event as a canonical row: `level`, `message`, `attributes` (in
/// order of arrival), `tags`, `trace_id`, `span_id`, `session_id`, and
/// `error` / `http` when set (`null` otherwise). The id, timestamp,
/// service and call site are left out: they differ from run to run.
pub fn row(event: &proto::Event) -> Json {
    let attributes: Map<String, Json> = event
        .attributes
        .iter()
        .map(|a| (a.key.clone(), attribute(a)))
        .collect();
    let error = event
        .error
        .as_ref()
        .map(|e| json!({ "type": e.r#type, "message": e.message, "chain": e.chain }));
    let http = event.http.as_ref().map(|h| {
        json!({
            "method": h.method, "route": h.route, "path": h.path,
            "status": h.status_code, "duration_nanos": h.duration_nanos.to_string(),
            "user_agent": h.user_agent, "client_ip": h.client_ip,
            "request_bytes": h.request_bytes.to_string(),
            "response_bytes": h.response_bytes.to_string(),
            "host": h.host, "scheme": h.scheme,
        })
    });
    json!({
        "level": severity_name(event.severity),
        "message": event.message,
        "attributes": attributes,
        "tags": event.tags,
        "trace_id": hex(&event.trace_id),
        "span_id": hex(&event.span_id),
        "session_id": event.session_id,
        "error": error,
        "http": http,
    })
}

/// Every event the memory transport holds, as canonical rows.
pub fn rows(memory: &MemoryTransport) -> Json {
    Json::Array(memory.events().iter().map(row).collect())
}

/// One event as everything a binding's own tests read back: the
/// canonical [`row`], and also what differs from run to run: `id`,
/// `timestamp_unix_nano` (text), the batch's `service`, `environment`,
/// `sdk_name` and `sdk_version`, the error's `backtrace`, and `call_site`
/// (`file`, `line`, `module`, `function`, or `null`).
pub fn record(batch: &proto::EventBatch, event: &proto::Event) -> Json {
    let mut out = row(event);
    let Json::Object(fields) = &mut out else {
        unreachable!("a row is an object")
    };
    let or = |own: &str, batch: &str| if own.is_empty() { batch } else { own }.to_owned();
    fields.insert("id".into(), hex(&event.id).into());
    fields.insert(
        "timestamp_unix_nano".into(),
        event.timestamp_unix_nano.to_string().into(),
    );
    fields.insert("service".into(), or(&event.service, &batch.service).into());
    fields.insert(
        "environment".into(),
        or(&event.environment, &batch.environment).into(),
    );
    fields.insert("sdk_name".into(), batch.sdk_name.clone().into());
    fields.insert("sdk_version".into(), batch.sdk_version.clone().into());
    if let (Some(error), Some(Json::Object(e))) = (&event.error, fields.get_mut("error")) {
        e.insert("backtrace".into(), error.backtrace.clone().into());
    }
    let site = event.call_site.as_ref().map(
        |c| json!({ "file": c.file, "line": c.line, "module": c.module, "function": c.function }),
    );
    fields.insert("call_site".into(), site.unwrap_or(Json::Null));
    out
}

/// Every event the memory transport holds, as [`record`]s.
pub fn records(memory: &MemoryTransport) -> Json {
    Json::Array(
        memory
            .decoded_batches()
            .iter()
            .flat_map(|batch| batch.events.iter().map(move |event| record(batch, event)))
            .collect(),
    )
}

fn attribute(a: &proto::Attribute) -> Json {
    use proto::attribute::Value;
    let (kind, text) = match &a.value {
        Some(Value::StringValue(s)) => ("str", s.clone()),
        Some(Value::IntValue(v)) => ("int", v.to_string()),
        Some(Value::UintValue(v)) => ("uint", v.to_string()),
        Some(Value::DoubleValue(v)) => ("float", format!("{v:?}")),
        Some(Value::BoolValue(v)) => ("bool", v.to_string()),
        None => ("none", String::new()),
    };
    json!([kind, text])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_text_with_their_type() {
        let event = proto::Event {
            severity: proto::Severity::Warn as i32,
            message: "m".into(),
            attributes: vec![
                proto::Attribute {
                    key: "big".into(),
                    value: Some(proto::attribute::Value::UintValue(u64::MAX)),
                },
                proto::Attribute {
                    key: "nan".into(),
                    value: Some(proto::attribute::Value::DoubleValue(f64::NAN)),
                },
                proto::Attribute {
                    key: "f".into(),
                    value: Some(proto::attribute::Value::DoubleValue(9.99)),
                },
            ],
            trace_id: vec![0xab; 16].into(),
            ..Default::default()
        };
        let row = row(&event);
        assert_eq!(row["level"], "warn");
        assert_eq!(
            row["attributes"]["big"],
            json!(["uint", "18446744073709551615"])
        );
        assert_eq!(row["attributes"]["nan"], json!(["float", "NaN"]));
        assert_eq!(row["attributes"]["f"], json!(["float", "9.99"]));
        assert_eq!(row["trace_id"], "ab".repeat(16));
        assert_eq!(row["error"], Json::Null);
    }
}
