//! The cross-language conformance cases (`conformance/cases.json`) through
//! the Rust SDK: each case becomes an event built with the Rust API, and
//! its canonical row must be the case's. Cases whose call Rust cannot
//! express say so in `not.rust`; a value this runner meets that it cannot
//! give is a failure, so the exclusions stay honest.

mod common;

use std::time::Duration;

use aires::transport::MemoryTransport;
use aires::{ErrorInfo, Event, Level, SpanId, TraceId, Value};
use common::{global_lock, test_config};
use serde_json::Value as Json;

const CASES: &str = include_str!("../../conformance/cases.json");

/// A tagged or plain JSON value as a Rust field value.
fn value(json: &Json) -> Value {
    match json {
        Json::String(s) => Value::from(s.clone()),
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Value::I64(i),
            (None, Some(f)) => Value::F64(f),
            _ => panic!("number {n}"),
        },
        Json::Object(o) if o.contains_key("$bigint") => {
            let text = o["$bigint"].as_str().unwrap();
            match text.parse::<i64>() {
                Ok(i) => Value::I64(i),
                Err(_) => Value::U64(text.parse().expect("a bigint Rust can hold")),
            }
        }
        Json::Object(o) if o.contains_key("$float") => {
            Value::F64(match o["$float"].as_str().unwrap() {
                "NaN" => f64::NAN,
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                other => panic!("$float {other}"),
            })
        }
        Json::Object(o) if o.contains_key("$repeat") => Value::from(text(json)),
        other => panic!("Rust has no field value for {other}"),
    }
}

/// A string, or a `$repeat` of one.
fn text(json: &Json) -> String {
    match json {
        Json::String(s) => s.clone(),
        Json::Object(o) => {
            let unit = o["$repeat"].as_str().unwrap();
            let times = o["times"].as_u64().unwrap() as usize;
            let then = o.get("then").and_then(Json::as_str).unwrap_or("");
            format!("{}{then}", unit.repeat(times))
        }
        other => panic!("not text: {other}"),
    }
}

/// `expected` with its `$repeat` values expanded.
fn expand(expected: &Json) -> Json {
    match expected {
        Json::Object(o) if o.contains_key("$repeat") => Json::String(text(expected)),
        Json::Object(o) => Json::Object(o.iter().map(|(k, v)| (k.clone(), expand(v))).collect()),
        Json::Array(a) => Json::Array(a.iter().map(expand).collect()),
        other => other.clone(),
    }
}

fn emit(case: &Json) {
    let level = match case.get("level").and_then(Json::as_str).unwrap_or("info") {
        "trace" => Level::Trace,
        "debug" => Level::Debug,
        "info" => Level::Info,
        "warn" => Level::Warn,
        "error" => Level::Error,
        "fatal" => Level::Fatal,
        other => panic!("level {other}"),
    };
    assert!(case.get("context").is_none() && case.get("bindings").is_none());
    let mut builder = Event::builder(level, text(&case["message"]));
    if let Some(Json::Object(fields)) = case.get("fields") {
        for (key, v) in fields {
            if key == "tags" {
                let tags = v.as_array().expect("Rust tags are strings");
                builder = builder.tags(tags.iter().map(|t| t.as_str().unwrap().to_owned()));
            } else {
                builder = builder.attr(key.clone(), value(v));
            }
        }
    }
    if let Some(ids) = case.get("ids") {
        if let Some(id) = ids.get("trace_id").and_then(Json::as_str) {
            builder = builder.trace_id(TraceId::from_hex(id).unwrap());
        }
        if let Some(id) = ids.get("span_id").and_then(Json::as_str) {
            builder = builder.span_id(SpanId::from_hex(id).unwrap());
        }
        if let Some(id) = ids.get("session_id").and_then(Json::as_str) {
            builder = builder.session_id(id.to_owned());
        }
    }
    if let Some(error) = case.get("error") {
        let info = ErrorInfo::new(
            error["type"].as_str().unwrap().to_owned(),
            error["message"].as_str().unwrap().to_owned(),
        );
        builder = builder.error_info(info);
    }
    builder.emit();
}

#[test]
fn every_case_rust_can_express_gives_its_row() {
    let _lock = global_lock();
    let cases: Json = serde_json::from_str(CASES).unwrap();
    let mut ran = 0;
    for case in cases["cases"].as_array().unwrap() {
        if case.pointer("/not/rust").is_some() {
            continue;
        }
        let memory = MemoryTransport::new();
        let guard = aires::init(test_config(memory.clone())).unwrap();
        emit(case);
        guard.shutdown(Duration::from_secs(10)).unwrap();
        let rows = aires_core::sdk::rows(&memory);
        let name = case["name"].as_str().unwrap();
        assert_eq!(rows.as_array().unwrap().len(), 1, "{name}");
        let expected = expand(&case["row"]);
        for (key, want) in expected.as_object().unwrap() {
            assert_eq!(&rows[0][key], want, "case {name:?}, {key}");
        }
        ran += 1;
    }
    assert!(ran >= 10, "only {ran} cases ran");
}
