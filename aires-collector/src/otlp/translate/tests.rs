use opentelemetry_proto::tonic::common::v1::{
    any_value::Value as V, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::*;
use proto::attribute::Value as A;

fn any(value: V) -> AnyValue {
    AnyValue { value: Some(value) }
}

fn kv(key: &str, value: V) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(any(value)),
        ..Default::default()
    }
}

fn s(text: &str) -> V {
    V::StringValue(text.into())
}

fn request(
    resource: Vec<KeyValue>,
    scope: &str,
    records: Vec<LogRecord>,
) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: scope.into(),
                    attributes: vec![kv("scope.only", s("s")), kv("shared", s("from scope"))],
                    ..Default::default()
                }),
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn attribute<'a>(event: &'a proto::Event, key: &str) -> Option<&'a A> {
    let mut found = event.attributes.iter().filter(|a| a.key == key);
    let first = found.next().and_then(|a| a.value.as_ref());
    assert!(found.next().is_none(), "{key} is kept once");
    first
}

fn text(event: &proto::Event, key: &str) -> String {
    match attribute(event, key) {
        Some(A::StringValue(s)) => s.clone(),
        other => panic!("{key}: not text: {other:?}"),
    }
}

#[test]
fn every_column_is_filled_from_its_otlp_field() {
    let record = LogRecord {
        time_unix_nano: 1_700_000_000_123_456_789,
        observed_time_unix_nano: 1_700_000_001_000_000_000,
        severity_number: 17,
        severity_text: "ERROR".into(),
        body: Some(any(s("payment declined"))),
        trace_id: vec![0x4b; 16],
        span_id: vec![0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7],
        event_name: "payment.failed".into(),
        attributes: vec![
            kv("session.id", s("sess-1")),
            kv("exception.type", s("CardError")),
            kv("exception.message", s("declined by issuer")),
            kv("exception.stacktrace", s("at pay (pay.py:42)")),
            kv("http.request.method", s("POST")),
            kv("http.route", s("/pay/{id}")),
            kv("url.path", s("/pay/7")),
            kv("http.response.status_code", V::IntValue(402)),
            kv("user_agent.original", s("curl/8")),
            kv("client.address", s("10.0.0.1")),
            kv("server.address", s("shop.example")),
            kv("url.scheme", s("https")),
            kv("http.request.body.size", V::IntValue(120)),
            kv("http.response.body.size", V::IntValue(64)),
            kv("http.server.request.duration", V::DoubleValue(0.25)),
            kv("code.file.path", s("shop/pay.py")),
            kv("code.line.number", V::IntValue(42)),
            kv("code.function.name", s("pay")),
            kv("order_id", V::IntValue(7)),
            kv("amount", V::DoubleValue(9.5)),
            kv("retry", V::BoolValue(false)),
            kv("shared", s("from record")),
        ],
        ..Default::default()
    };
    let request = request(
        vec![
            kv("service.name", s("checkout")),
            kv("deployment.environment.name", s("prod")),
            kv("telemetry.sdk.language", s("python")),
            kv("telemetry.sdk.version", s("1.39.0")),
            kv("host.name", s("web-1")),
            kv("shared", s("from resource")),
        ],
        "shop.payments",
        vec![record],
    );
    assert_eq!(record_count(&request), 1);
    let batches = translate(&request);
    assert_eq!(batches.len(), 1);
    let batch = &batches[0];
    assert_eq!(
        (batch.service.as_str(), batch.environment.as_str()),
        ("checkout", "prod")
    );
    assert_eq!(
        (batch.sdk_name.as_str(), batch.sdk_version.as_str()),
        ("otlp-python", "1.39.0")
    );
    assert_eq!(batch.batch_id.len(), 16);
    let event = &batch.events[0];
    assert_eq!(event.id.len(), 16);
    assert_eq!(event.id[6] >> 4, 7, "a UUID v7");
    assert_eq!(event.timestamp_unix_nano, 1_700_000_000_123_456_789);
    assert_eq!(event.severity, proto::Severity::Error as i32);
    assert_eq!(event.message, "payment declined");
    assert_eq!(event.trace_id.as_ref(), &[0x4b; 16]);
    assert_eq!(event.span_id.len(), 8);
    assert_eq!(event.session_id, "sess-1");
    let error = event.error.as_ref().unwrap();
    assert_eq!(
        (
            error.r#type.as_str(),
            error.message.as_str(),
            error.backtrace.as_str()
        ),
        ("CardError", "declined by issuer", "at pay (pay.py:42)")
    );
    let http = event.http.as_ref().unwrap();
    assert_eq!(
        (
            http.method.as_str(),
            http.route.as_str(),
            http.path.as_str()
        ),
        ("POST", "/pay/{id}", "/pay/7")
    );
    assert_eq!(http.status_code, 402);
    assert_eq!(
        (http.user_agent.as_str(), http.client_ip.as_str()),
        ("curl/8", "10.0.0.1")
    );
    assert_eq!(
        (http.host.as_str(), http.scheme.as_str()),
        ("shop.example", "https")
    );
    assert_eq!((http.request_bytes, http.response_bytes), (120, 64));
    assert_eq!(http.duration_nanos, 250_000_000);
    let site = event.call_site.as_ref().unwrap();
    assert_eq!(
        (
            site.file.as_str(),
            site.line,
            site.function.as_str(),
            site.module.as_str()
        ),
        ("shop/pay.py", 42, "pay", "shop.payments")
    );
    // What filled a column is not repeated as an attribute.
    for taken in [
        "session.id",
        "exception.type",
        "http.route",
        "code.line.number",
        "service.name",
    ] {
        assert!(attribute(event, taken).is_none(), "{taken}");
    }
    assert_eq!(attribute(event, "order_id"), Some(&A::IntValue(7)));
    assert_eq!(attribute(event, "amount"), Some(&A::DoubleValue(9.5)));
    assert_eq!(attribute(event, "retry"), Some(&A::BoolValue(false)));
    assert_eq!(text(event, "severity_text"), "ERROR");
    assert_eq!(text(event, "event.name"), "payment.failed");
    assert_eq!(
        text(event, "host.name"),
        "web-1",
        "resource attributes are kept"
    );
    assert_eq!(text(event, "scope.only"), "s", "scope attributes are kept");
    assert_eq!(
        text(event, "shared"),
        "from record",
        "the record's own wins"
    );
}

#[test]
fn severity_numbers_map_in_ranges_of_four_and_text_stands_in_for_a_missing_number() {
    use proto::Severity as S;
    let cases = [
        (1, "", S::Trace),
        (4, "", S::Trace),
        (5, "", S::Debug),
        (9, "", S::Info),
        (12, "", S::Info),
        (13, "", S::Warn),
        (17, "", S::Error),
        (20, "", S::Error),
        (21, "", S::Fatal),
        (24, "", S::Fatal),
        (9, "ERROR", S::Info),
        (0, "WARNING", S::Warn),
        (0, "Error", S::Error),
        (0, "critical", S::Fatal),
        (0, "debug", S::Debug),
        (0, "", S::Info),
        (0, "verbose", S::Info),
        (99, "", S::Info),
    ];
    for (number, text, expected) in cases {
        assert_eq!(severity(number, text), expected, "{number} {text:?}");
    }
}

#[test]
fn the_time_falls_back_to_the_observed_time_then_to_none() {
    let record = |time, observed| LogRecord {
        time_unix_nano: time,
        observed_time_unix_nano: observed,
        ..Default::default()
    };
    let request = request(vec![], "", vec![record(5, 6), record(0, 6), record(0, 0)]);
    let times: Vec<u64> = translate(&request)[0]
        .events
        .iter()
        .map(|e| e.timestamp_unix_nano)
        .collect();
    // None: the collector gives it the time received.
    assert_eq!(times, [5, 6, 0]);
}

#[test]
fn structured_bodies_and_values_are_json_and_bytes_are_base64() {
    let map = V::KvlistValue(KeyValueList {
        values: vec![
            kv("user", s("ada")),
            kv("n", V::IntValue(2)),
            kv("ok", V::BoolValue(true)),
        ],
    });
    let array = V::ArrayValue(ArrayValue {
        values: vec![
            any(s("a")),
            any(V::DoubleValue(1.5)),
            any(V::DoubleValue(f64::NAN)),
        ],
    });
    let record = LogRecord {
        body: Some(any(map.clone())),
        attributes: vec![
            kv("map", map),
            kv("list", array),
            kv("raw", V::BytesValue(vec![0, 1, 2, 255])),
            KeyValue {
                key: "empty".into(),
                value: None,
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let batches = translate(&request(vec![], "", vec![record]));
    let event = &batches[0].events[0];
    assert_eq!(event.message, r#"{"user":"ada","n":2,"ok":true}"#);
    assert_eq!(text(event, "map"), r#"{"user":"ada","n":2,"ok":true}"#);
    assert_eq!(text(event, "list"), r#"["a",1.5,"NaN"]"#);
    assert_eq!(text(event, "raw"), "AAEC/w==");
    assert!(
        attribute(event, "empty").is_none(),
        "a key without a value is skipped"
    );
    assert!(
        event.call_site.is_none(),
        "no scope name, no code.* attributes"
    );
}

#[test]
fn the_older_semantic_convention_names_fill_the_same_columns() {
    let record = LogRecord {
        attributes: vec![
            kv("http.method", s("GET")),
            kv("http.status_code", s("404")),
            kv("http.target", s("/x")),
            kv("code.filepath", s("a.go")),
            kv("code.lineno", V::IntValue(3)),
            kv("code.namespace", s("main")),
            kv("http.duration_ms", V::IntValue(12)),
        ],
        ..Default::default()
    };
    let request = request(
        vec![kv("deployment.environment", s("staging"))],
        "ignored.scope",
        vec![record],
    );
    let batches = translate(&request);
    assert_eq!(batches[0].environment, "staging");
    assert_eq!(batches[0].sdk_name, "otlp");
    let event = &batches[0].events[0];
    let http = event.http.as_ref().unwrap();
    assert_eq!(
        (http.method.as_str(), http.status_code, http.path.as_str()),
        ("GET", 404, "/x")
    );
    assert_eq!(http.duration_nanos, 12_000_000);
    let site = event.call_site.as_ref().unwrap();
    assert_eq!(
        (site.file.as_str(), site.line, site.module.as_str()),
        ("a.go", 3, "main")
    );
}

#[test]
fn a_value_that_cannot_fill_its_column_stays_an_attribute() {
    let record = LogRecord {
        attributes: vec![
            kv("http.response.status_code", s("teapot")),
            kv("code.line.number", V::IntValue(-1)),
            kv("http.duration_ms", V::DoubleValue(f64::INFINITY)),
        ],
        ..Default::default()
    };
    let batches = translate(&request(vec![], "", vec![record]));
    let event = &batches[0].events[0];
    assert!(event.http.is_none());
    assert_eq!(text(event, "http.response.status_code"), "teapot");
    assert_eq!(attribute(event, "code.line.number"), Some(&A::IntValue(-1)));
    assert_eq!(
        attribute(event, "http.duration_ms"),
        Some(&A::DoubleValue(f64::INFINITY))
    );
}

#[test]
fn each_resource_is_a_batch_of_its_own_with_fresh_ids() {
    let mut request = request(
        vec![kv("service.name", s("a"))],
        "",
        vec![LogRecord::default(); 2],
    );
    let mut second = request.resource_logs[0].clone();
    second.resource.as_mut().unwrap().attributes = vec![kv("service.name", s("b"))];
    request.resource_logs.push(second);
    assert_eq!(record_count(&request), 4);
    let batches = translate(&request);
    let services: Vec<&str> = batches.iter().map(|b| b.service.as_str()).collect();
    assert_eq!(services, ["a", "b"]);
    assert_ne!(batches[0].batch_id, batches[1].batch_id);
    let ids: std::collections::HashSet<_> = batches
        .iter()
        .flat_map(|b| &b.events)
        .map(|e| e.id.clone())
        .collect();
    assert_eq!(ids.len(), 4, "every record gets its own id");
}

#[test]
fn a_repeated_key_keeps_its_last_value_in_its_first_place_short_or_long() {
    for extra in [0usize, 100] {
        let mut attributes: Vec<proto::Attribute> = ["a", "b", "a", "c", "b"]
            .iter()
            .enumerate()
            .map(|(i, key)| proto::Attribute {
                key: key.to_string(),
                value: Some(A::IntValue(i as i64)),
            })
            .collect();
        attributes.extend((0..extra).map(|i| proto::Attribute {
            key: format!("k{i}"),
            value: Some(A::IntValue(0)),
        }));
        keep_last_of_each_key(&mut attributes);
        let kept: Vec<(String, Option<A>)> = attributes
            .into_iter()
            .take(3)
            .map(|a| (a.key, a.value))
            .collect();
        assert_eq!(
            kept,
            [
                ("a".to_string(), Some(A::IntValue(2))),
                ("b".to_string(), Some(A::IntValue(4))),
                ("c".to_string(), Some(A::IntValue(3))),
            ],
            "with {extra} more"
        );
    }
}
