//! What OTLP values become in `aires.v1`, shared by the transcoder (the
//! production path) and the reference translation: the attribute names
//! that fill columns, the severity ranges, and values as text.

use base64::Engine as _;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use serde_json::Value as Json;

use aires_proto::v1 as proto;

/// The `aires.v1` SDK name of batches that came in over OTLP; the
/// resource's `telemetry.sdk.language` follows it (`otlp-python`).
pub const SDK_NAME: &str = "otlp";

/// Record attributes that fill a column and are not kept as attributes.
pub mod key {
    pub const SERVICE: &str = "service.name";
    pub const ENVIRONMENT: [&str; 2] = ["deployment.environment.name", "deployment.environment"];
    pub const SDK_LANGUAGE: &str = "telemetry.sdk.language";
    pub const SDK_VERSION: &str = "telemetry.sdk.version";
    pub const SESSION: &str = "session.id";
    pub const EXCEPTION_TYPE: &str = "exception.type";
    pub const EXCEPTION_MESSAGE: &str = "exception.message";
    pub const EXCEPTION_STACKTRACE: &str = "exception.stacktrace";
    pub const CODE_FILE: [&str; 2] = ["code.file.path", "code.filepath"];
    pub const CODE_LINE: [&str; 2] = ["code.line.number", "code.lineno"];
    pub const CODE_FUNCTION: [&str; 2] = ["code.function.name", "code.function"];
    pub const CODE_NAMESPACE: &str = "code.namespace";
    pub const HTTP_METHOD: [&str; 2] = ["http.request.method", "http.method"];
    pub const HTTP_ROUTE: &str = "http.route";
    pub const HTTP_PATH: [&str; 2] = ["url.path", "http.target"];
    pub const HTTP_STATUS: [&str; 2] = ["http.response.status_code", "http.status_code"];
    pub const HTTP_USER_AGENT: [&str; 2] = ["user_agent.original", "http.user_agent"];
    pub const HTTP_CLIENT_IP: [&str; 2] = ["client.address", "http.client_ip"];
    pub const HTTP_HOST: [&str; 2] = ["server.address", "http.host"];
    pub const HTTP_SCHEME: [&str; 2] = ["url.scheme", "http.scheme"];
    pub const HTTP_REQUEST_BYTES: [&str; 2] =
        ["http.request.body.size", "http.request_content_length"];
    pub const HTTP_RESPONSE_BYTES: [&str; 2] =
        ["http.response.body.size", "http.response_content_length"];
    pub const HTTP_DURATION_MS: &str = "http.duration_ms";
    pub const HTTP_DURATION_S: &str = "http.server.request.duration";
    pub const SEVERITY_TEXT: &str = "severity_text";
    pub const EVENT_NAME: &str = "event.name";
}

/// OTLP severity numbers 1–24 in six ranges of four; without one, the
/// text's level name (`WARNING`, `Error`, `critical`...); otherwise info.
pub fn severity(number: i32, text: &str) -> proto::Severity {
    use proto::Severity as S;
    match number {
        1..=4 => S::Trace,
        5..=8 => S::Debug,
        9..=12 => S::Info,
        13..=16 => S::Warn,
        17..=20 => S::Error,
        21..=24 => S::Fatal,
        _ => {
            let text = text.trim().to_ascii_lowercase();
            match text.as_str() {
                "trace" => S::Trace,
                "debug" => S::Debug,
                "warn" | "warning" => S::Warn,
                "error" | "err" => S::Error,
                "fatal" | "critical" | "crit" | "panic" | "emergency" | "alert" => S::Fatal,
                _ => S::Info,
            }
        }
    }
}

/// A value as text: strings as they are, bytes as base64, everything else
/// as JSON.
pub fn text_of(value: &AnyValue) -> String {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BytesValue(b)) => {
            base64::engine::general_purpose::STANDARD.encode(b)
        }
        None => String::new(),
        Some(_) => json(value).to_string(),
    }
}

/// A value as JSON: bytes as base64 text, a non-finite double as its name.
fn json(value: &AnyValue) -> Json {
    match &value.value {
        None | Some(any_value::Value::StringValueStrindex(_)) => Json::Null,
        Some(any_value::Value::StringValue(s)) => Json::String(s.clone()),
        Some(any_value::Value::BoolValue(b)) => Json::Bool(*b),
        Some(any_value::Value::IntValue(i)) => Json::from(*i),
        Some(any_value::Value::DoubleValue(d)) => serde_json::Number::from_f64(*d)
            .map_or_else(|| Json::String(non_finite(*d).into()), Json::Number),
        Some(any_value::Value::BytesValue(b)) => {
            Json::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        Some(any_value::Value::ArrayValue(array)) => {
            Json::Array(array.values.iter().map(json).collect())
        }
        Some(any_value::Value::KvlistValue(list)) => Json::Object(
            list.values
                .iter()
                .map(|kv| (kv.key.clone(), kv.value.as_ref().map_or(Json::Null, json)))
                .collect(),
        ),
    }
}

fn non_finite(d: f64) -> &'static str {
    if d.is_nan() {
        "NaN"
    } else if d > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

/// An integer value that is not negative (ints, or text holding one).
pub fn unsigned(value: &AnyValue) -> Option<u64> {
    match &value.value {
        Some(any_value::Value::IntValue(i)) => u64::try_from(*i).ok(),
        Some(any_value::Value::StringValue(s)) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A numeric value (ints, doubles, or text holding one).
pub fn number(value: &AnyValue) -> Option<f64> {
    match &value.value {
        Some(any_value::Value::IntValue(i)) => Some(*i as f64),
        Some(any_value::Value::DoubleValue(d)) => Some(*d),
        Some(any_value::Value::StringValue(s)) => s.trim().parse().ok(),
        _ => None,
    }
}
