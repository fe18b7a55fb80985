//! Load for the collector's two ingest paths with the same records: OTLP
//! `LogsService/Export` requests, or the `aires.v1` batches the collector
//! translates them into (`Collector/Ingest`). Every request is encoded
//! before the clock starts, so the driver costs the collector nothing but
//! its sends; the collector's CPU per record is then the figure to compare.
//!
//!     otlp-load ENDPOINT otlp|aires RECORDS [PER_REQUEST] [CONCURRENCY]
//!
//! Prints one JSON line: records sent, seconds, records/s.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Status;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "otlp-load ENDPOINT otlp|aires RECORDS [PER_REQUEST] [CONCURRENCY]";
    let endpoint = args.get(1).ok_or(usage)?.clone();
    let protocol = args.get(2).ok_or(usage)?.clone();
    let records: usize = args.get(3).ok_or(usage)?.parse()?;
    let per_request: usize = args.get(4).map_or(Ok(512), |a| a.parse())?;
    let concurrency: usize = args.get(5).map_or(Ok(8), |a| a.parse())?;
    let (path, bodies) = match protocol.as_str() {
        "otlp" => (
            "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
            requests(records, per_request)
                .map(|r| Bytes::from(r.encode_to_vec()))
                .collect::<Vec<_>>(),
        ),
        "aires" => (
            "/aires.v1.Collector/Ingest",
            requests(records, per_request)
                .flat_map(|r| aires_collector::otlp::translate::translate(&r))
                .map(|b| Bytes::from(b.encode_to_vec()))
                .collect(),
        ),
        _ => return Err(usage.into()),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let seconds = runtime.block_on(async move {
        let channel = tonic::transport::Endpoint::from_shared(endpoint)?
            .connect()
            .await?;
        let queue = Arc::new(parking_queue(bodies));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let channel = channel.clone();
            let queue = queue.clone();
            tasks.push(tokio::spawn(async move {
                let mut grpc = tonic::client::Grpc::new(channel);
                loop {
                    let Some(body) = queue.lock().unwrap().pop() else {
                        break;
                    };
                    grpc.ready().await.map_err(|e| e.to_string())?;
                    grpc.unary(
                        tonic::Request::new(body),
                        tonic::codegen::http::uri::PathAndQuery::from_static(path),
                        RawCodec,
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                }
                Ok::<(), String>(())
            }));
        }
        for task in tasks {
            task.await??;
        }
        Ok::<f64, Box<dyn std::error::Error>>(started.elapsed().as_secs_f64())
    })?;
    println!(
        "{{\"protocol\":\"{protocol}\",\"records\":{records},\"seconds\":{seconds:.3},\"records_per_s\":{:.0}}}",
        records as f64 / seconds
    );
    Ok(())
}

fn parking_queue(mut bodies: Vec<Bytes>) -> std::sync::Mutex<Vec<Bytes>> {
    bodies.reverse();
    std::sync::Mutex::new(bodies)
}

/// `records` log records as an application instrumented with an
/// OpenTelemetry SDK sends them: an HTTP access log with five attributes,
/// trace context, a resource and a scope.
fn requests(records: usize, per_request: usize) -> impl Iterator<Item = ExportLogsServiceRequest> {
    let text = |s: &str| AnyValue {
        value: Some(any_value::Value::StringValue(s.to_owned())),
    };
    let kv = |key: &str, value: AnyValue| KeyValue {
        key: key.to_owned(),
        value: Some(value),
        ..Default::default()
    };
    let int = |i: i64| AnyValue {
        value: Some(any_value::Value::IntValue(i)),
    };
    let resource = Resource {
        attributes: vec![
            kv("service.name", text("checkout")),
            kv("deployment.environment.name", text("prod")),
            kv("telemetry.sdk.language", text("go")),
            kv("telemetry.sdk.version", text("1.38.0")),
            kv("host.name", text("web-1")),
        ],
        ..Default::default()
    };
    (0..records.div_ceil(per_request)).map(move |n| {
        let first = n * per_request;
        let log_records = (first..(first + per_request).min(records))
            .map(|i| LogRecord {
                time_unix_nano: 1_765_000_000_000_000_000 + i as u64 * 1_000,
                observed_time_unix_nano: 1_765_000_000_000_000_000 + i as u64 * 1_000 + 10,
                severity_number: 9,
                severity_text: "INFO".into(),
                body: Some(text(&format!("GET /api/orders/{i} served"))),
                attributes: vec![
                    kv("http.request.method", text("GET")),
                    kv("http.route", text("/api/orders/{id}")),
                    kv("http.response.status_code", int(200)),
                    kv("user.id", int(i as i64 % 10_000)),
                    kv("cache", text(if i % 3 == 0 { "hit" } else { "miss" })),
                ],
                trace_id: (i as u128 + 1).to_be_bytes().to_vec(),
                span_id: (i as u64 + 1).to_be_bytes().to_vec(),
                ..Default::default()
            })
            .collect();
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(resource.clone()),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: "checkout.http".into(),
                        ..Default::default()
                    }),
                    log_records,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    })
}

/// Sends pre-encoded bodies; ignores the answer's content.
#[derive(Clone, Copy)]
struct RawCodec;

struct RawEncoder;
struct IgnoreDecoder;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = ();
    type Encoder = RawEncoder;
    type Decoder = IgnoreDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> IgnoreDecoder {
        IgnoreDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for IgnoreDecoder {
    type Item = ();
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<()>, Status> {
        use bytes::Buf;
        src.advance(src.remaining());
        Ok(Some(()))
    }
}
