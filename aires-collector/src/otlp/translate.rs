//! OTLP log records into `aires.v1` events: the mapping in one place (the
//! table is in the [module docs](super)).
//!
//! Each `ResourceLogs` becomes one `EventBatch` (service, environment and
//! SDK are batch-level in `aires.v1`) with a fresh batch id; every record
//! becomes one event with a fresh UUID v7. Nothing here refuses a record:
//! what cannot be stored (an id of the wrong length) is refused by the
//! decoder, one record at a time, like an `aires.v1` event.

use aires_proto::v1 as proto;
use base64::Engine as _;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs};
use serde_json::Value as Json;

/// The `aires.v1` SDK name of batches that came in over OTLP; the
/// resource's `telemetry.sdk.language` follows it (`otlp-python`).
pub const SDK_NAME: &str = "otlp";

/// Record attributes that fill a column and are not kept as attributes.
mod key {
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

/// One `aires.v1` batch per `ResourceLogs`, in request order, with how
/// many records each holds (the records are numbered across the request in
/// the same order).
pub fn translate(request: &ExportLogsServiceRequest, received_ns: u64) -> Vec<proto::EventBatch> {
    request
        .resource_logs
        .iter()
        .map(|resource_logs| batch(resource_logs, received_ns))
        .collect()
}

/// How many log records a request holds.
pub fn record_count(request: &ExportLogsServiceRequest) -> usize {
    request
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .map(|s| s.log_records.len())
        .sum()
}

fn batch(resource_logs: &ResourceLogs, received_ns: u64) -> proto::EventBatch {
    let resource: &[KeyValue] = resource_logs
        .resource
        .as_ref()
        .map_or(&[], |r| r.attributes.as_slice());
    let text = |name: &str| find(resource, name).map(text_of).unwrap_or_default();
    let environment = key::ENVIRONMENT
        .iter()
        .find_map(|name| find(resource, name))
        .map(text_of)
        .unwrap_or_default();
    let language = text(key::SDK_LANGUAGE);
    let sdk_name = if language.is_empty() {
        SDK_NAME.to_owned()
    } else {
        format!("{SDK_NAME}-{language}")
    };
    // Kept on every event: the resource's other attributes (host, process,
    // SDK...), under the record's own.
    let shared: Vec<&KeyValue> = resource
        .iter()
        .filter(|kv| kv.key != key::SERVICE && !key::ENVIRONMENT.contains(&kv.key.as_str()))
        .collect();
    let mut events = Vec::new();
    for scope_logs in &resource_logs.scope_logs {
        let scope = scope_logs.scope.as_ref();
        let scope_name = scope.map_or("", |s| s.name.as_str());
        let scope_attributes = scope.map_or(&[][..], |s| s.attributes.as_slice());
        for record in &scope_logs.log_records {
            events.push(event(
                record,
                &shared,
                scope_attributes,
                scope_name,
                received_ns,
            ));
        }
    }
    proto::EventBatch {
        batch_id: uuid::Uuid::now_v7().into_bytes().to_vec().into(),
        sdk_name,
        sdk_version: text(key::SDK_VERSION),
        events,
        service: text(key::SERVICE),
        environment,
        attempt: 0,
    }
}

fn event(
    record: &LogRecord,
    resource: &[&KeyValue],
    scope_attributes: &[KeyValue],
    scope_name: &str,
    received_ns: u64,
) -> proto::Event {
    let timestamp = [record.time_unix_nano, record.observed_time_unix_nano]
        .into_iter()
        .find(|&t| t != 0)
        .unwrap_or(received_ns);
    let mut event = proto::Event {
        id: uuid::Uuid::now_v7().into_bytes().to_vec().into(),
        timestamp_unix_nano: timestamp,
        severity: severity(record.severity_number, &record.severity_text) as i32,
        message: record.body.as_ref().map(text_of).unwrap_or_default(),
        trace_id: record.trace_id.clone().into(),
        span_id: record.span_id.clone().into(),
        ..Default::default()
    };
    let mut columns = Columns::default();
    // Lowest precedence first: a later attribute with the same key wins.
    let mut attributes: Vec<proto::Attribute> = Vec::with_capacity(record.attributes.len() + 2);
    for kv in resource.iter().copied().chain(scope_attributes) {
        push_attribute(&mut attributes, kv);
    }
    if !record.severity_text.is_empty() {
        attributes.push(string_attribute(key::SEVERITY_TEXT, &record.severity_text));
    }
    if !record.event_name.is_empty() {
        attributes.push(string_attribute(key::EVENT_NAME, &record.event_name));
    }
    for kv in &record.attributes {
        if !columns.take(kv) {
            push_attribute(&mut attributes, kv);
        }
    }
    keep_last_of_each_key(&mut attributes);
    event.attributes = attributes;
    event.session_id = columns.session_id;
    event.http = columns.http.map(Box::new);
    event.error = columns.error.map(Box::new);
    let module = columns.namespace.unwrap_or_else(|| scope_name.to_owned());
    let site = columns.call_site.get_or_insert_with(Default::default);
    site.module = module;
    if site == &proto::CallSite::default() {
        columns.call_site = None;
    }
    event.call_site = columns.call_site;
    event
}

/// The parts of a record's attributes that fill columns.
#[derive(Default)]
struct Columns {
    session_id: String,
    http: Option<proto::HttpInfo>,
    error: Option<proto::ErrorInfo>,
    call_site: Option<proto::CallSite>,
    namespace: Option<String>,
}

impl Columns {
    /// Takes `kv` into a column; false if it is an ordinary attribute.
    fn take(&mut self, kv: &KeyValue) -> bool {
        let Some(value) = kv.value.as_ref() else {
            return false;
        };
        let name = kv.key.as_str();
        let is = |names: &[&str]| names.contains(&name);
        match name {
            key::SESSION => self.session_id = text_of(value),
            key::EXCEPTION_TYPE => self.error().r#type = text_of(value),
            key::EXCEPTION_MESSAGE => self.error().message = text_of(value),
            key::EXCEPTION_STACKTRACE => self.error().backtrace = text_of(value),
            key::CODE_NAMESPACE => self.namespace = Some(text_of(value)),
            _ if is(&key::CODE_FILE) => self.site().file = text_of(value),
            _ if is(&key::CODE_FUNCTION) => self.site().function = text_of(value),
            _ if is(&key::CODE_LINE) => match unsigned(value) {
                Some(line) => self.site().line = line.min(u64::from(u32::MAX)) as u32,
                None => return false,
            },
            _ if is(&key::HTTP_METHOD) => self.http().method = text_of(value),
            key::HTTP_ROUTE => self.http().route = text_of(value),
            _ if is(&key::HTTP_PATH) => self.http().path = text_of(value),
            _ if is(&key::HTTP_USER_AGENT) => self.http().user_agent = text_of(value),
            _ if is(&key::HTTP_CLIENT_IP) => self.http().client_ip = text_of(value),
            _ if is(&key::HTTP_HOST) => self.http().host = text_of(value),
            _ if is(&key::HTTP_SCHEME) => self.http().scheme = text_of(value),
            _ if is(&key::HTTP_STATUS) => match unsigned(value) {
                Some(status) if status <= u64::from(u16::MAX) => {
                    self.http().status_code = status as u32
                }
                _ => return false,
            },
            _ if is(&key::HTTP_REQUEST_BYTES) => match unsigned(value) {
                Some(bytes) => self.http().request_bytes = bytes,
                None => return false,
            },
            _ if is(&key::HTTP_RESPONSE_BYTES) => match unsigned(value) {
                Some(bytes) => self.http().response_bytes = bytes,
                None => return false,
            },
            key::HTTP_DURATION_MS | key::HTTP_DURATION_S => {
                let scale = if name == key::HTTP_DURATION_MS {
                    1e6
                } else {
                    1e9
                };
                match number(value) {
                    Some(n) if n.is_finite() && n >= 0.0 => {
                        self.http().duration_nanos = (n * scale).min(u64::MAX as f64) as u64
                    }
                    _ => return false,
                }
            }
            _ => return false,
        }
        true
    }

    fn error(&mut self) -> &mut proto::ErrorInfo {
        self.error.get_or_insert_with(Default::default)
    }

    fn http(&mut self) -> &mut proto::HttpInfo {
        self.http.get_or_insert_with(Default::default)
    }

    fn site(&mut self) -> &mut proto::CallSite {
        self.call_site.get_or_insert_with(Default::default)
    }
}

/// OTLP severity numbers 1–24 in six ranges of four; without one, the
/// text's level name (`WARNING`, `Error`, `critical`...); otherwise info.
fn severity(number: i32, text: &str) -> proto::Severity {
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

fn find<'a>(attributes: &'a [KeyValue], name: &str) -> Option<&'a AnyValue> {
    attributes
        .iter()
        .find(|kv| kv.key == name)
        .and_then(|kv| kv.value.as_ref())
}

fn string_attribute(key: &str, value: &str) -> proto::Attribute {
    proto::Attribute {
        key: key.to_owned(),
        value: Some(proto::attribute::Value::StringValue(value.to_owned())),
    }
}

/// Adds `kv` as a typed attribute: strings, ints, doubles and bools keep
/// their type; bytes become base64 text, arrays and maps JSON text. A
/// key without a value is skipped.
fn push_attribute(attributes: &mut Vec<proto::Attribute>, kv: &KeyValue) {
    use proto::attribute::Value as A;
    let Some(value) = kv.value.as_ref().and_then(|v| v.value.as_ref()) else {
        return;
    };
    let value = match value {
        any_value::Value::StringValue(s) => A::StringValue(s.clone()),
        any_value::Value::BoolValue(b) => A::BoolValue(*b),
        any_value::Value::IntValue(i) => A::IntValue(*i),
        any_value::Value::DoubleValue(d) => A::DoubleValue(*d),
        _ => A::StringValue(text_of(kv.value.as_ref().expect("checked above"))),
    };
    attributes.push(proto::Attribute {
        key: kv.key.clone(),
        value: Some(value),
    });
}

/// Where a key repeats (a record attribute over a resource one), keeps its
/// last value, in its first place.
fn keep_last_of_each_key(attributes: &mut Vec<proto::Attribute>) {
    if attributes.len() < 2 {
        return;
    }
    let mut seen = std::collections::HashMap::with_capacity(attributes.len());
    let mut kept: Vec<proto::Attribute> = Vec::with_capacity(attributes.len());
    for attribute in attributes.drain(..) {
        match seen.get(&attribute.key) {
            Some(&at) => kept[at] = attribute,
            None => {
                seen.insert(attribute.key.clone(), kept.len());
                kept.push(attribute);
            }
        }
    }
    *attributes = kept;
}

/// A value as text: strings as they are, bytes as base64, everything else
/// as JSON.
fn text_of(value: &AnyValue) -> String {
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
fn unsigned(value: &AnyValue) -> Option<u64> {
    match &value.value {
        Some(any_value::Value::IntValue(i)) => u64::try_from(*i).ok(),
        Some(any_value::Value::StringValue(s)) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A numeric value (ints, doubles, or text holding one).
fn number(value: &AnyValue) -> Option<f64> {
    match &value.value {
        Some(any_value::Value::IntValue(i)) => Some(*i as f64),
        Some(any_value::Value::DoubleValue(d)) => Some(*d),
        Some(any_value::Value::StringValue(s)) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
