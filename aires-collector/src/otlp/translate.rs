//! OTLP log records into `aires.v1` events over prost's structs: the
//! reference translation, plain to read, that the one-pass transcoder
//! ([`super::transcode`], the production path) is tested against; also
//! what the benchmarks use to build the same records in both protocols.
//!
//! Each `ResourceLogs` becomes one `EventBatch` (service, environment and
//! SDK are batch-level in `aires.v1`) with a fresh batch id; every record
//! becomes one event with a fresh UUID v7 (as an SDK would send it: the
//! transcoder leaves ids to the collector), and a record with neither time
//! gets none (the collector gives it the time received). Nothing here refuses a record:
//! what cannot be stored (an id of the wrong length) is refused by the
//! decoder, one record at a time, like an `aires.v1` event.

use aires_proto::v1 as proto;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs};

use super::mapping::{key, number, severity, text_of, unsigned, SDK_NAME};

/// One `aires.v1` batch per `ResourceLogs`, in request order, with how
/// many records each holds (the records are numbered across the request in
/// the same order).
pub fn translate(request: &ExportLogsServiceRequest) -> Vec<proto::EventBatch> {
    request.resource_logs.iter().map(batch).collect()
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

fn batch(resource_logs: &ResourceLogs) -> proto::EventBatch {
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
            events.push(event(record, &shared, scope_attributes, scope_name));
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
) -> proto::Event {
    let timestamp = [record.time_unix_nano, record.observed_time_unix_nano]
        .into_iter()
        .find(|&t| t != 0)
        .unwrap_or(0);
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
/// last value, in its first place. Quadratic, and cheaper than hashing for
/// the dozen attributes a record has; a long list falls back to a map.
fn keep_last_of_each_key(attributes: &mut Vec<proto::Attribute>) {
    let n = attributes.len();
    if n < 2 {
        return;
    }
    if n > 64 {
        let mut seen = std::collections::HashMap::with_capacity(n);
        let mut kept: Vec<proto::Attribute> = Vec::with_capacity(n);
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
        return;
    }
    let mut i = 1;
    while i < attributes.len() {
        match attributes[..i]
            .iter()
            .position(|earlier| earlier.key == attributes[i].key)
        {
            Some(at) => {
                let later = attributes.remove(i);
                attributes[at] = later;
            }
            None => i += 1,
        }
    }
}

#[cfg(test)]
mod tests;
