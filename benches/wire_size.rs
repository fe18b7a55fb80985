//! Wire size: bytes per event for the same events as Aires `EventBatch`es
//! and as OTLP `ExportLogsServiceRequest`s, 256 events per request,
//! uncompressed and compressed (zstd level 3, gzip level 6, what gRPC
//! clients typically use), in three scenarios of trace context. Prints
//! tables; not a timing benchmark.
//!
//!     cargo bench -p aires-benches --bench wire_size

use std::io::Write;
use std::time::Duration;

use aires_core::__private::BatchEncoder;
use aires_core::{CallSite, Event, HttpInfo, Level, Limits, SpanId, TraceId, Uuid7, Value};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

const EVENTS: usize = 25_600;
const PER_REQUEST: usize = 256;

static SITE: CallSite =
    CallSite::new_static("src/orders/handlers.rs", 128, "shop::orders::handlers");

/// The same mix as the load generator: request logs, business events with
/// a few fields, some errors; every event in a trace, with a call site.
fn events(traces: Traces) -> Vec<Event> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    (0..EVENTS)
        .map(|i| {
            let pick = next();
            let trace = TraceId::from_int(u128::from(next()) << 64 | u128::from(next()));
            let span = SpanId::from_int(next() | 1);
            let (trace, span) = match traces {
                Traces::OnePerEvent => (trace, span),
                // The same trace (a hash of the event's request) for eight
                // events in a row, each with a span of its own.
                Traces::EightPerTrace => (
                    TraceId::from_int(
                        u128::from((i / 8) as u64 + 1)
                            .wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835),
                    ),
                    span,
                ),
                Traces::None => (None, None),
            };
            let builder = Event::builder(
                if pick % 50 == 0 {
                    Level::Error
                } else {
                    Level::Info
                },
                "request served",
            )
            .trace_id(trace)
            .span_id(span)
            .call_site(&SITE)
            .attr("order_id", i as u64)
            .attr("amount", (pick % 10_000) as f64 / 100.0)
            .attr("currency", Value::from_static("EUR"))
            .attr("cache_hit", pick % 2 == 0);
            let builder = if pick % 3 == 0 {
                builder.http(
                    HttpInfo::new("GET", "/orders/:id")
                        .path(format!("/orders/{i}"))
                        .status(200)
                        .duration(Duration::from_micros(500 + pick % 40_000)),
                )
            } else {
                builder
            };
            if pick % 50 == 0 {
                builder
                    .error(&std::io::Error::other("upstream timed out"))
                    .build()
            } else {
                builder.build()
            }
        })
        .collect()
}

fn aires_requests(events: &[Event]) -> Vec<Vec<u8>> {
    let mut encoder = BatchEncoder::new("shop", "prod", Limits::default());
    events
        .chunks(PER_REQUEST)
        .map(|chunk| {
            let mut buf = Vec::new();
            encoder.encode(Uuid7::now(), chunk, &mut buf);
            buf
        })
        .collect()
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// The OTLP log record an OpenTelemetry SDK sends for the same event
/// (semantic-convention attribute names).
fn otlp_record(event: &Event) -> LogRecord {
    use any_value::Value as V;
    let mut attributes: Vec<KeyValue> = event
        .attributes()
        .iter()
        .map(|a| {
            let value = match &a.value {
                Value::Str(s) => V::StringValue(s.to_string()),
                Value::I64(v) => V::IntValue(*v),
                Value::U64(v) => V::IntValue(*v as i64),
                Value::F64(v) => V::DoubleValue(*v),
                Value::Bool(v) => V::BoolValue(*v),
                other => V::StringValue(other.to_string()),
            };
            kv(&a.key, value)
        })
        .collect();
    if let Some(site) = event.call_site() {
        attributes.push(kv("code.filepath", V::StringValue(site.file.to_string())));
        attributes.push(kv("code.lineno", V::IntValue(i64::from(site.line))));
        attributes.push(kv(
            "code.namespace",
            V::StringValue(site.module.to_string()),
        ));
    }
    if let Some(http) = event.http() {
        attributes.push(kv(
            "http.request.method",
            V::StringValue(http.method.to_string()),
        ));
        attributes.push(kv("http.route", V::StringValue(http.route.to_string())));
        attributes.push(kv("url.path", V::StringValue(http.path.to_string())));
        attributes.push(kv(
            "http.response.status_code",
            V::IntValue(i64::from(http.status)),
        ));
        attributes.push(kv(
            "http.server.request.duration",
            V::DoubleValue(http.duration.as_secs_f64()),
        ));
    }
    if let Some(error) = event.error() {
        attributes.push(kv(
            "exception.type",
            V::StringValue(error.type_name.to_string()),
        ));
        attributes.push(kv(
            "exception.message",
            V::StringValue(error.message.clone()),
        ));
    }
    LogRecord {
        time_unix_nano: event.timestamp_unix_nanos(),
        observed_time_unix_nano: event.timestamp_unix_nanos(),
        severity_number: if event.level() == Level::Error { 17 } else { 9 },
        severity_text: event.level().as_str().to_uppercase(),
        body: Some(AnyValue {
            value: Some(V::StringValue(event.message().to_owned())),
        }),
        attributes,
        trace_id: event
            .trace_id()
            .map(|t| t.to_bytes().to_vec())
            .unwrap_or_default(),
        span_id: event
            .span_id()
            .map(|s| s.to_bytes().to_vec())
            .unwrap_or_default(),
        ..Default::default()
    }
}

fn otlp_requests(events: &[Event]) -> Vec<Vec<u8>> {
    events
        .chunks(PER_REQUEST)
        .map(|chunk| {
            ExportLogsServiceRequest {
                resource_logs: vec![ResourceLogs {
                    resource: Some(Resource {
                        attributes: vec![
                            kv("service.name", any_value::Value::StringValue("shop".into())),
                            kv(
                                "deployment.environment",
                                any_value::Value::StringValue("prod".into()),
                            ),
                        ],
                        ..Default::default()
                    }),
                    scope_logs: vec![ScopeLogs {
                        scope: Some(InstrumentationScope {
                            name: "shop".into(),
                            ..Default::default()
                        }),
                        log_records: chunk.iter().map(otlp_record).collect(),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            }
            .encode_to_vec()
        })
        .collect()
}

/// Bytes per event: raw, zstd(3), gzip(6).
fn sizes(requests: &[Vec<u8>]) -> (f64, f64, f64) {
    let raw: usize = requests.iter().map(Vec::len).sum();
    let zstd: usize = requests
        .iter()
        .map(|r| zstd::encode_all(&r[..], 3).unwrap().len())
        .sum();
    let gzip: usize = requests
        .iter()
        .map(|r| {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
            encoder.write_all(r).unwrap();
            encoder.finish().unwrap().len()
        })
        .sum();
    let n = EVENTS as f64;
    (raw as f64 / n, zstd as f64 / n, gzip as f64 / n)
}

/// Where the trace context comes from, per scenario.
#[derive(Clone, Copy)]
enum Traces {
    /// Every event in its own trace: 24 random bytes per event that no
    /// format can compress (the table the target is judged on).
    OnePerEvent,
    /// Eight events per trace (a request that logs several times).
    EightPerTrace,
    /// No trace context: what is left of both formats without the ids.
    None,
}

fn main() {
    let mut json = Vec::new();
    for (name, traces) in [
        ("one_trace_per_event", Traces::OnePerEvent),
        ("eight_events_per_trace", Traces::EightPerTrace),
        ("no_trace_ids", Traces::None),
    ] {
        let events = events(traces);
        let aires = sizes(&aires_requests(&events));
        let otlp = sizes(&otlp_requests(&events));
        println!("\n{name}: bytes per event, {EVENTS} events in requests of {PER_REQUEST}:");
        println!(
            "{:<10} {:>10} {:>10} {:>10}",
            "", "raw", "zstd(3)", "gzip(6)"
        );
        for (format, (raw, zstd, gzip)) in [("aires", aires), ("otlp", otlp)] {
            println!("{format:<10} {raw:>10.1} {zstd:>10.1} {gzip:>10.1}");
        }
        println!(
            "{:<10} {:>10.2} {:>10.2} {:>10.2}",
            "ratio",
            aires.0 / otlp.0,
            aires.1 / otlp.1,
            aires.2 / otlp.2
        );
        json.push(format!(
            "\"{name}\":{{\"aires\":{{\"raw\":{:.1},\"zstd\":{:.1},\"gzip\":{:.1}}},\
             \"otlp\":{{\"raw\":{:.1},\"zstd\":{:.1},\"gzip\":{:.1}}}}}",
            aires.0, aires.1, aires.2, otlp.0, otlp.1, otlp.2
        ));
    }
    // One machine-readable line for scripts/bench.
    println!("json: {{{}}}", json.join(","));
}
