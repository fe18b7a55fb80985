//! OpenTelemetry logs into the collector, sent by the OpenTelemetry Rust
//! SDK's own OTLP exporters (gRPC, HTTP/protobuf, HTTP/JSON), stored in a
//! real ClickHouse and read back field by field; and what OTLP/HTTP and
//! OTLP/gRPC answer to bad input.

mod common;

#[path = "common/clickhouse.rs"]
mod clickhouse_server;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aires_collector::sink::ClickHouseSink;
use aires_collector::{CollectorConfig, RunningCollector};
use clickhouse_server::{int, TestClickHouse};
use common::*;
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::trace::{SpanId, TraceFlags, TraceId};
use opentelemetry::KeyValue;
use opentelemetry_otlp::{LogExporter, Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::Resource;
use serde_json::Value;

const TRACE: u128 = 0x4bf92f3577b34da6a3ce929d0e0e4736;
const SPAN: u64 = 0x00f067aa0ba902b7;

async fn collector_into(clickhouse: &TestClickHouse, api_key: Option<&str>) -> RunningCollector {
    let sink = ClickHouseSink::start(&clickhouse.sink_config())
        .await
        .expect("migrations apply");
    let mut config = CollectorConfig::for_tests();
    config.batch_timeout_ms = 50;
    config.otlp_http_listen = Some("127.0.0.1:0".parse().unwrap());
    config.api_keys = api_key.map(str::to_owned).into_iter().collect();
    aires_collector::start(config, Arc::new(sink))
        .await
        .expect("collector starts")
}

/// How the records leave the SDK.
#[derive(Clone, Copy, Debug)]
enum Exporter {
    Grpc,
    HttpProtobuf,
    HttpJson,
}

fn provider(exporter: Exporter, collector: &RunningCollector, key: &str) -> SdkLoggerProvider {
    let resource = Resource::builder()
        .with_service_name("checkout")
        .with_attributes([
            KeyValue::new("deployment.environment.name", "prod"),
            KeyValue::new("host.name", "web-1"),
        ])
        .build();
    let builder = SdkLoggerProvider::builder().with_resource(resource);
    match exporter {
        Exporter::Grpc => {
            use opentelemetry_otlp::WithTonicConfig;
            let mut metadata = tonic::metadata::MetadataMap::new();
            metadata.insert("x-api-key", key.parse().unwrap());
            let exporter = LogExporter::builder()
                .with_tonic()
                .with_endpoint(format!("http://{}", collector.grpc_addr()))
                .with_metadata(metadata)
                .build()
                .unwrap();
            // Exports on the emitting thread, inside the test's runtime.
            builder.with_simple_exporter(exporter).build()
        }
        Exporter::HttpProtobuf | Exporter::HttpJson => {
            let protocol = match exporter {
                Exporter::HttpJson => Protocol::HttpJson,
                _ => Protocol::HttpBinary,
            };
            let exporter = LogExporter::builder()
                .with_http()
                .with_protocol(protocol)
                .with_endpoint(format!(
                    "http://{}/v1/logs",
                    collector.otlp_http_addr().unwrap()
                ))
                .with_headers(HashMap::from([("x-api-key".to_string(), key.to_string())]))
                .build()
                .unwrap();
            builder.with_batch_exporter(exporter).build()
        }
    }
}

/// Emits one record with every kind of field and one bare record, tagged
/// with `run` so each test finds its own rows.
fn emit(provider: &SdkLoggerProvider, run: &'static str, at: SystemTime) {
    let logger = provider.logger("shop.payments");
    let mut record = logger.create_log_record();
    record.set_timestamp(at);
    record.set_observed_timestamp(at + Duration::from_secs(1));
    record.set_severity_number(Severity::Error);
    record.set_severity_text("ERROR");
    record.set_body(AnyValue::from("payment declined"));
    record.set_event_name("payment.failed");
    record.set_trace_context(
        TraceId::from(TRACE),
        SpanId::from(SPAN),
        Some(TraceFlags::SAMPLED),
    );
    record.add_attribute("run", run);
    record.add_attribute("order_id", 7i64);
    record.add_attribute("amount", 9.5f64);
    record.add_attribute("retry", false);
    record.add_attribute("raw", AnyValue::Bytes(Box::new(vec![0, 1, 2, 255])));
    record.add_attribute(
        "items",
        AnyValue::ListAny(Box::new(vec![AnyValue::from("a"), AnyValue::Int(2)])),
    );
    record.add_attribute(
        "card",
        AnyValue::Map(Box::new(HashMap::from([
            ("brand".into(), AnyValue::from("visa")),
            ("last4".into(), AnyValue::from("4242")),
        ]))),
    );
    record.add_attribute("session.id", "sess-1");
    record.add_attribute("exception.type", "CardError");
    record.add_attribute("exception.message", "declined by issuer");
    record.add_attribute("exception.stacktrace", "at pay (pay.rs:42)");
    record.add_attribute("http.request.method", "POST");
    record.add_attribute("http.route", "/pay/{id}");
    record.add_attribute("url.path", "/pay/7");
    record.add_attribute("http.response.status_code", 402i64);
    record.add_attribute("code.file.path", "src/pay.rs");
    record.add_attribute("code.line.number", 42i64);
    record.add_attribute("code.function.name", "pay");
    logger.emit(record);

    let mut bare = logger.create_log_record();
    bare.set_observed_timestamp(at);
    bare.set_severity_number(Severity::Info2);
    bare.set_body(AnyValue::from("bare"));
    bare.add_attribute("run", run);
    logger.emit(bare);
}

async fn rows_of(clickhouse: &TestClickHouse, run: &str, count: usize) -> Vec<Value> {
    let sql = format!(
        "SELECT toUnixTimestamp64Nano(timestamp) AS ts, toString(id) AS uuid, * FROM events \
         WHERE attributes_string['run'] = '{run}' ORDER BY message DESC"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let rows = clickhouse.rows(&sql).await;
        if rows.len() >= count || std::time::Instant::now() > deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn ships_every_field(exporter: Exporter) {
    let clickhouse = TestClickHouse::start();
    let collector = collector_into(&clickhouse, Some("k1")).await;
    // Recent (the table's TTL drops old rows), to the nanosecond.
    let at_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        - 5_000_000_000
        + 789;
    let at = UNIX_EPOCH + Duration::from_nanos(at_ns);
    let run: &'static str = match exporter {
        Exporter::Grpc => "grpc",
        Exporter::HttpProtobuf => "http-protobuf",
        Exporter::HttpJson => "http-json",
    };
    let provider = provider(exporter, &collector, "k1");
    tokio::task::spawn_blocking(move || {
        emit(&provider, run, at);
        provider.force_flush().expect("the export succeeds");
        provider.shutdown().expect("the provider shuts down");
    })
    .await
    .unwrap();

    let rows = rows_of(&clickhouse, run, 2).await;
    if rows.len() != 2 {
        let metrics = http_get(collector.metrics_addr(), "/metrics").await;
        let all = clickhouse
            .rows("SELECT message, attributes_string, attributes_int, timestamp FROM events")
            .await;
        panic!(
            "{exporter:?}: {} rows: {rows:?}\nall: {all:?}\n{metrics}",
            rows.len()
        );
    }
    let row = &rows[0];
    assert_eq!(row["message"], "payment declined");
    assert_eq!(int(&row["ts"]), at_ns as i128);
    assert_eq!(row["service"], "checkout");
    assert_eq!(row["environment"], "prod");
    assert_eq!(row["severity"], "error");
    assert_eq!(row["trace_id"], format!("{TRACE:032x}"));
    assert_eq!(row["span_id"], format!("{SPAN:016x}"));
    assert_eq!(row["session_id"], "sess-1");
    assert_eq!(row["sdk_name"], "otlp-rust");
    assert!(!row["sdk_version"].as_str().unwrap().is_empty());
    assert_eq!(
        row["uuid"].as_str().unwrap().as_bytes()[14],
        b'7',
        "a UUID v7"
    );
    assert_eq!(int(&row["attributes_int"]["order_id"]), 7);
    assert_eq!(row["attributes_float"]["amount"], 9.5);
    assert_eq!(row["attributes_bool"]["retry"], false);
    let strings = &row["attributes_string"];
    assert_eq!(strings["raw"], "AAEC/w==");
    assert_eq!(strings["items"], r#"["a",2]"#);
    let card: Value = serde_json::from_str(strings["card"].as_str().unwrap()).unwrap();
    assert_eq!(card, serde_json::json!({"brand": "visa", "last4": "4242"}));
    assert_eq!(strings["severity_text"], "ERROR");
    assert_eq!(strings["event.name"], "payment.failed");
    assert_eq!(strings["host.name"], "web-1");
    assert_eq!(strings["service.name"], Value::Null, "in its column only");
    assert_eq!(row["error_type"], "CardError");
    assert_eq!(row["error_message"], "declined by issuer");
    assert_eq!(row["error_backtrace"], "at pay (pay.rs:42)");
    assert_eq!(row["http_method"], "POST");
    assert_eq!(row["http_route"], "/pay/{id}");
    assert_eq!(row["http_path"], "/pay/7");
    assert_eq!(row["http_status"], 402);
    assert_eq!(row["file"], "src/pay.rs");
    assert_eq!(row["line"], 42);
    assert_eq!(row["function"], "pay");
    assert_eq!(row["module"], "shop.payments", "the scope's name");

    let bare = &rows[1];
    assert_eq!(bare["message"], "bare");
    assert_eq!(bare["severity"], "info");
    assert_eq!(int(&bare["ts"]), at_ns as i128, "the observed time");
    assert_eq!(bare["trace_id"], "");
    assert_eq!(bare["http_status"], 0);
    assert_eq!(bare["error_type"], "");

    let metrics = http_get(collector.metrics_addr(), "/metrics").await;
    assert!(
        metrics.contains("aires_collector_otlp_log_records_received_total 2"),
        "{metrics}"
    );
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_opentelemetry_sdk_ships_every_field_over_grpc() {
    ships_every_field(Exporter::Grpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_opentelemetry_sdk_ships_every_field_over_http_protobuf() {
    ships_every_field(Exporter::HttpProtobuf).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_opentelemetry_sdk_ships_every_field_over_http_json() {
    ships_every_field(Exporter::HttpJson).await;
}

// ---- Bad input ----------------------------------------------------------

#[path = "common/raw.rs"]
mod raw;

/// An HTTP/1.1 answer: status, headers (lower-case names), body.
struct Answer {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Answer {
    /// The `google.rpc.Status` message of a JSON or protobuf failure body.
    fn message(&self) -> String {
        match self.headers.get("content-type").map(String::as_str) {
            Some("application/json") => {
                let status: Value = serde_json::from_slice(&self.body).unwrap();
                status["message"].as_str().unwrap().to_owned()
            }
            Some("application/x-protobuf") => {
                #[derive(Clone, PartialEq, prost::Message)]
                struct RpcStatus {
                    #[prost(int32, tag = "1")]
                    code: i32,
                    #[prost(string, tag = "2")]
                    message: String,
                }
                <RpcStatus as prost::Message>::decode(self.body.as_slice())
                    .unwrap()
                    .message
            }
            other => panic!("unexpected content type {other:?}"),
        }
    }
}

async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    // The server may answer (413) before reading the whole body.
    let _ = stream.write_all(body).await;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    let head = String::from_utf8(response[..split].to_vec()).unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: response[split + 4..].to_vec(),
    }
}

/// An OTLP/JSON request of `records` (JSON log records) for one resource.
fn json_request(records: &[Value]) -> Vec<u8> {
    serde_json::json!({
        "resourceLogs": [{
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": "billing"}}
            ]},
            "scopeLogs": [{"scope": {"name": "json.scope"}, "logRecords": records}]
        }]
    })
    .to_string()
    .into_bytes()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

const LIMIT: usize = 64 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_http_refuses_bad_input_as_the_specification_says_and_loses_nothing_else() {
    let sink = Arc::new(MemorySink::default());
    let collector = collector(sink.clone(), |c| {
        c.otlp_http_listen = Some("127.0.0.1:0".parse().unwrap());
        c.max_message_bytes = LIMIT;
        c.api_keys = vec!["k1".into()];
    })
    .await;
    let addr = collector.otlp_http_addr().unwrap();
    let key = ("x-api-key", "k1");
    let json = ("content-type", "application/json");
    let protobuf = ("content-type", "application/x-protobuf");
    let good = json_request(&[serde_json::json!({"body": {"stringValue": "ok"}})]);

    let cases: Vec<(&str, Answer, u16, &str)> = vec![
        (
            "malformed protobuf",
            http(
                addr,
                "POST",
                "/v1/logs",
                &[key, protobuf],
                b"\x0a\xff\xff\xff",
            )
            .await,
            400,
            "malformed protobuf",
        ),
        (
            "malformed JSON",
            http(
                addr,
                "POST",
                "/v1/logs",
                &[key, json],
                b"{\"resourceLogs\": [",
            )
            .await,
            400,
            "malformed JSON",
        ),
        (
            "JSON of the wrong shape",
            http(
                addr,
                "POST",
                "/v1/logs",
                &[key, json],
                b"{\"resourceLogs\": 7}",
            )
            .await,
            400,
            "malformed JSON",
        ),
        (
            "another content type",
            http(
                addr,
                "POST",
                "/v1/logs",
                &[key, ("content-type", "text/plain")],
                &good,
            )
            .await,
            415,
            "unsupported Content-Type",
        ),
        (
            "no content type",
            http(addr, "POST", "/v1/logs", &[key], &good).await,
            415,
            "unsupported Content-Type",
        ),
        (
            "another encoding",
            http(
                addr,
                "POST",
                "/v1/logs",
                &[key, json, ("content-encoding", "br")],
                &good,
            )
            .await,
            415,
            "unsupported Content-Encoding",
        ),
        (
            "corrupt gzip",
            http(
                addr,
                "POST",
                "/v1/logs",
                &[key, json, ("content-encoding", "gzip")],
                b"\x1f\x8bnot gzip",
            )
            .await,
            400,
            "does not decompress",
        ),
        (
            "an oversized body",
            http(
                addr,
                "POST",
                "/v1/logs",
                &[key, json],
                &vec![b' '; LIMIT + 1],
            )
            .await,
            413,
            "larger than the collector's limit",
        ),
        (
            "a small body that inflates past the limit",
            http(
                addr,
                "POST",
                "/v1/logs",
                &[key, json, ("content-encoding", "gzip")],
                &gzip(&vec![b' '; LIMIT * 4]),
            )
            .await,
            413,
            "larger than the collector's limit",
        ),
        (
            "no API key",
            http(addr, "POST", "/v1/logs", &[json], &good).await,
            401,
            "missing API key",
        ),
        (
            "a wrong API key",
            http(
                addr,
                "POST",
                "/v1/logs",
                &[("x-api-key", "nope"), protobuf],
                &good,
            )
            .await,
            401,
            "invalid API key",
        ),
        (
            "a JSON array, not an object",
            http(
                addr,
                "POST",
                "/v1/logs",
                &[key, json],
                b"[[{\"resourceLogs\": []}]]",
            )
            .await,
            400,
            "not a JSON object",
        ),
        (
            "another path",
            http(addr, "POST", "/v1/traces", &[key, json], &good).await,
            404,
            "POST /v1/logs",
        ),
        (
            "another method",
            http(addr, "GET", "/v1/logs", &[key], b"").await,
            405,
            "sent with POST",
        ),
    ];
    for (case, answer, status, says) in &cases {
        assert_eq!(answer.status, *status, "{case}");
        let message = answer.message();
        assert!(message.contains(says), "{case}: {message}");
        assert!(
            !answer.headers.contains_key("retry-after"),
            "{case}: not retryable"
        );
    }
    let get = http(addr, "PUT", "/v1/logs", &[key], b"").await;
    assert_eq!(get.headers["allow"], "POST");
    assert_eq!(sink.row_count(), 0, "nothing refused was stored");

    // Valid requests beside them are stored: plain, gzipped, and with a
    // bad record among good ones (refused alone, and said so).
    let ok = http(addr, "POST", "/v1/logs", &[key, json], &good).await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    assert_eq!(ok.headers["content-type"], "application/json");
    // Other records: the same bytes again would be taken as a retry.
    let also_good = json_request(&[serde_json::json!({"body": {"stringValue": "zipped"}})]);
    let zipped = http(
        addr,
        "POST",
        "/v1/logs",
        &[key, json, ("content-encoding", "gzip")],
        &gzip(&also_good),
    )
    .await;
    assert_eq!(zipped.status, 200);
    // What the proto3 JSON mapping allows beyond what serde's types read:
    // doubles as strings, URL-safe base64 without padding, nulls.
    let lenient = json_request(&[serde_json::json!({
        "body": {"doubleValue": "Infinity"},
        "traceId": null,
        "attributes": [
            {"key": "ratio", "value": {"doubleValue": "0.25"}},
            {"key": "raw", "value": {"bytesValue": "AAEC_w"}},
        ],
    })]);
    let lenient = http(addr, "POST", "/v1/logs", &[key, json], &lenient).await;
    assert_eq!(
        lenient.status,
        200,
        "{}",
        String::from_utf8_lossy(&lenient.body)
    );
    let mixed = json_request(&[
        serde_json::json!({"body": {"stringValue": "first"}}),
        serde_json::json!({"body": {"stringValue": "short id"}, "traceId": "abcd"}),
        serde_json::json!({"body": {"stringValue": "third"}, "spanId": "00f067aa0ba902b7"}),
    ]);
    let partial = http(addr, "POST", "/v1/logs", &[key, json], &mixed).await;
    assert_eq!(partial.status, 200);
    let answer: Value = serde_json::from_slice(&partial.body).unwrap();
    let success = &answer["partialSuccess"];
    assert_eq!(int(&success["rejectedLogRecords"]), 1, "{answer}");
    let why = success["errorMessage"].as_str().unwrap();
    assert!(
        why.contains("log record 1") && why.contains("trace_id"),
        "{why}"
    );
    assert!(
        wait_until(Duration::from_secs(10), || sink.row_count() == 5).await,
        "ok, zipped, lenient, first and third: {}",
        sink.row_count()
    );
    let rows = sink.rows();
    let infinite = rows
        .iter()
        .find(|r| &*r.message == "Infinity")
        .expect("stored");
    assert_eq!(
        format!("{:?}", infinite.attributes_float),
        r#"[("ratio", 0.25)]"#
    );
    assert_eq!(
        format!("{:?}", infinite.attributes_string),
        r#"[("raw", "AAEC/w==")]"#
    );
    let messages: Vec<String> = sink.rows().iter().map(|r| r.message.to_string()).collect();
    assert!(!messages.iter().any(|m| m == "short id"), "{messages:?}");
    assert!(messages.iter().any(|m| m == "third"), "{messages:?}");
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_grpc_refuses_bad_input_with_a_status_and_keeps_the_good() {
    use prost::Message as _;
    let sink = Arc::new(MemorySink::default());
    let collector = collector(sink.clone(), |c| {
        c.max_message_bytes = LIMIT;
        c.api_keys = vec!["k1".into()];
    })
    .await;
    let send = |body: Vec<u8>, key: Option<&'static str>| {
        let mut request = tonic::Request::new(bytes::Bytes::from(body));
        if let Some(key) = key {
            request
                .metadata_mut()
                .insert("x-api-key", key.parse().unwrap());
        }
        export_call(&collector, request)
    };
    let good: opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest =
        serde_json::from_slice(&json_request(&[
            serde_json::json!({"body": {"stringValue": "kept"}}),
            serde_json::json!({"body": {"stringValue": "bad span"}, "spanId": "abcd"}),
        ]))
        .unwrap();

    let missing = send(good.encode_to_vec(), None).await.unwrap_err();
    assert_eq!(missing.code(), tonic::Code::Unauthenticated, "{missing}");
    let malformed = send(b"\x0a\xff\xff\xff".to_vec(), Some("k1"))
        .await
        .unwrap_err();
    assert_eq!(
        malformed.code(),
        tonic::Code::InvalidArgument,
        "{malformed}"
    );
    assert!(
        malformed.message().contains("malformed protobuf"),
        "{malformed}"
    );
    let oversized = send(vec![0x0a; LIMIT + 10], Some("k1")).await.unwrap_err();
    assert_eq!(
        oversized.code(),
        tonic::Code::ResourceExhausted,
        "{oversized}"
    );
    assert_eq!(sink.row_count(), 0);

    let answer = send(good.encode_to_vec(), Some("k1")).await.unwrap();
    let partial = answer.partial_success.expect("one record refused");
    assert_eq!(partial.rejected_log_records, 1);
    assert!(
        partial.error_message.contains("log record 1"),
        "{}",
        partial.error_message
    );
    assert!(wait_until(Duration::from_secs(10), || sink.row_count() == 1).await);
    assert_eq!(sink.rows()[0].message.to_string(), "kept");
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_its_client_gives_up_on_is_counted_as_cancelled_and_still_stored() {
    let sink = Arc::new(MemorySink::default());
    // A store slower than the client's patience.
    *sink.delay.lock() = Duration::from_secs(2);
    let collector = collector(sink.clone(), |_| {}).await;
    let mut request = tonic::Request::new(bytes::Bytes::from(json_to_protobuf(&json_request(&[
        serde_json::json!({"body": {"stringValue": "waited for"}}),
    ]))));
    request.set_timeout(Duration::from_millis(300));
    let gave_up = export_call(&collector, request)
        .await
        .expect_err("the client gives up first");
    // tonic's client reports its own timeout as CANCELLED.
    assert!(
        matches!(
            gave_up.code(),
            tonic::Code::Cancelled | tonic::Code::DeadlineExceeded
        ),
        "{gave_up}"
    );
    let metrics = collector.metrics();
    assert!(
        wait_until(DEADLINE, || metrics.requests_cancelled.get() == 1).await,
        "cancelled: {}",
        metrics.requests_cancelled.get()
    );
    // Taken before the client left: stored all the same.
    assert!(wait_until(DEADLINE, || sink.row_count() == 1).await);
    assert_eq!(metrics.requests_rejected.get(), 0);
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_retried_with_the_same_bytes_is_answered_alike_and_stored_once() {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
    let sink = Arc::new(MemorySink::default());
    // The first attempt is still being stored when the retry comes.
    *sink.delay.lock() = Duration::from_millis(500);
    let collector = collector(sink.clone(), |_| {}).await;
    let request = |last: &str| {
        bytes::Bytes::from(json_to_protobuf(&json_request(&[
            serde_json::json!({"body": {"stringValue": "first"}, "timeUnixNano": "1700000000000000001"}),
            serde_json::json!({"body": {"stringValue": "bad"}, "traceId": "abcd", "observedTimeUnixNano": "1700000000000000002"}),
            serde_json::json!({"body": {"stringValue": last}, "observedTimeUnixNano": "1700000000000000003"}),
        ])))
    };
    let export = |body: bytes::Bytes| export(&collector, body);
    let rejected = |answer: &ExportLogsServiceResponse| {
        answer
            .partial_success
            .as_ref()
            .map_or(0, |p| p.rejected_log_records)
    };
    // A retry while the first is in flight, and one after it was stored.
    let (first, during) = tokio::join!(export(request("last")), export(request("last")));
    let after = export(request("last")).await;
    for answer in [&first, &during, &after] {
        assert_eq!(rejected(answer), 1, "{answer:?}");
    }
    assert!(
        after
            .partial_success
            .as_ref()
            .unwrap()
            .error_message
            .contains("taken before"),
        "{after:?}"
    );
    assert_eq!(sink.row_count(), 2, "first and last, once");
    // Other bytes are another request.
    let other = export(request("other last")).await;
    assert_eq!(rejected(&other), 1);
    assert_eq!(sink.row_count(), 4);
    let metrics = collector.metrics();
    assert_eq!(metrics.events_inserted.get(), 4);
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_past_the_limit_on_a_requests_events_are_refused_said_and_counted() {
    let sink = Arc::new(MemorySink::default());
    // 256 KiB messages: a request may become 64 MiB of events at most.
    let collector = collector(sink.clone(), |c| {
        c.max_message_bytes = 256 << 10;
        c.max_pending_bytes = 256 << 20;
    })
    .await;
    // About 140 KB whose 9 KB resource is copied into each of 8,192
    // records: about 75 MB of events.
    let records: Vec<Value> = (0..8192)
        .map(|i| serde_json::json!({"body": {"stringValue": format!("record {i}")}, "observedTimeUnixNano": "1700000000000000000"}))
        .collect();
    let mut request: Value = serde_json::from_slice(&json_request(&records)).unwrap();
    request["resourceLogs"][0]["resource"]["attributes"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"key": "k8s.pod.labels", "value": {"stringValue": "l".repeat(9_000)}}));
    let body = bytes::Bytes::from(json_to_protobuf(&serde_json::to_vec(&request).unwrap()));
    let export = || export(&collector, body.clone());
    let answer = export().await;
    let partial = answer.partial_success.expect("the tail refused");
    let refused = partial.rejected_log_records as usize;
    assert!(refused > 0 && refused < 8192, "{refused}");
    assert!(
        partial.error_message.contains(&format!(
            "log records {} to 8191: not stored",
            8192 - refused
        )),
        "{}",
        partial.error_message
    );
    assert_eq!(sink.row_count(), 8192 - refused, "the rest stored");
    let metrics = collector.metrics();
    assert_eq!(metrics.otlp_log_records_refused.get(), refused as u64);
    assert_eq!(metrics.otlp_log_records_received.get(), 8192);
    // The same bytes again: the stored part is answered from memory, the
    // tail refused (and counted) again.
    let again = export().await;
    assert_eq!(
        again.partial_success.unwrap().rejected_log_records as usize,
        refused
    );
    assert_eq!(sink.row_count(), 8192 - refused, "not stored twice");
    assert_eq!(metrics.otlp_log_records_refused.get(), 2 * refused as u64);
    collector.shutdown().await.unwrap();
}

/// An OTLP Export call over gRPC: its answer or its status.
async fn export_call(
    collector: &RunningCollector,
    request: tonic::Request<bytes::Bytes>,
) -> Result<opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse, tonic::Status>
{
    raw::raw_client(collector)
        .await
        .unary(
            request,
            http::uri::PathAndQuery::from_static(
                "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
            ),
            raw::RawCodec::default(),
        )
        .await
        .map(tonic::Response::into_inner)
}

/// An OTLP Export of `body` over gRPC; its answer, which must be 200.
async fn export(
    collector: &RunningCollector,
    body: bytes::Bytes,
) -> opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse {
    export_call(collector, tonic::Request::new(body))
        .await
        .expect("answered")
}

/// An OTLP/JSON request encoded as protobuf.
fn json_to_protobuf(json: &[u8]) -> Vec<u8> {
    use prost::Message as _;
    let request: opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest =
        serde_json::from_slice(json).unwrap();
    request.encode_to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_request_of_huge_events_is_stored_a_part_at_a_time_and_in_several_batches() {
    use opentelemetry_proto::tonic::collector::logs::v1::{
        ExportLogsServiceRequest, ExportLogsServiceResponse,
    };
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue as Kv};
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use prost::Message as _;
    const RECORDS: usize = 8192;
    let sink = Arc::new(MemorySink::default());
    // A request of about 140 KB whose 9 KB resource is copied into each
    // of its records: about 75 MB of events, taken a part (about a
    // message's size) at a time, none held all at once. As one batch they
    // would need more than the whole budget.
    let collector = collector(sink.clone(), |c| c.max_pending_bytes = 128 << 20).await;
    let text = |s: &str| {
        Some(AnyValue {
            value: Some(any_value::Value::StringValue(s.into())),
        })
    };
    let request = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(opentelemetry_proto::tonic::resource::v1::Resource {
                attributes: vec![
                    Kv {
                        key: "service.name".into(),
                        value: text("k8s-app"),
                        ..Default::default()
                    },
                    Kv {
                        key: "k8s.pod.labels".into(),
                        value: text(&"l".repeat(9_000)),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: (0..RECORDS)
                    .map(|i| LogRecord {
                        body: text(&format!("record {i}")),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let answer = raw::raw_client(&collector)
        .await
        .unary(
            tonic::Request::new(bytes::Bytes::from(request.encode_to_vec())),
            http::uri::PathAndQuery::from_static(
                "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
            ),
            raw::RawCodec::<ExportLogsServiceResponse>::default(),
        )
        .await
        .expect("stored")
        .into_inner();
    assert_eq!(answer.partial_success, None);
    assert!(
        wait_until(Duration::from_secs(30), || sink.row_count() == RECORDS).await,
        "{} of {RECORDS} rows",
        sink.row_count()
    );
    collector.shutdown().await.unwrap();
}
