//! Encoding a 256-event batch: the hand-written encoder against building the
//! prost-generated structs and encoding those (the obvious alternative).

use std::hint::black_box;

use aires::{Event, Limits, Uuid7};
use aires_core::__private::BatchEncoder;
use aires_proto::v1 as proto;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use prost::Message;

const BATCH: usize = 256;

fn to_proto(event: &Event) -> proto::Event {
    use aires::Value;
    proto::Event {
        id: event.id().to_bytes().to_vec().into(),
        timestamp_unix_nano: event.timestamp_unix_nanos(),
        severity: event.level().as_proto(),
        message: event.message().to_owned(),
        attributes: event
            .attributes()
            .iter()
            .map(|a| proto::Attribute {
                key: a.key.to_string(),
                value: Some(match &a.value {
                    Value::Str(s) => proto::attribute::Value::StringValue(s.to_string()),
                    Value::I64(v) => proto::attribute::Value::IntValue(*v),
                    Value::U64(v) => proto::attribute::Value::UintValue(*v),
                    Value::F64(v) => proto::attribute::Value::DoubleValue(*v),
                    Value::Bool(v) => proto::attribute::Value::BoolValue(*v),
                    other => proto::attribute::Value::StringValue(other.to_string()),
                }),
            })
            .collect(),
        http: event.http().map(|h| {
            Box::new(proto::HttpInfo {
                method: h.method.to_string(),
                route: h.route.to_string(),
                status_code: u32::from(h.status),
                duration_nanos: h.duration.as_nanos() as u64,
                ..Default::default()
            })
        }),
        ..Default::default()
    }
}

fn encode(c: &mut Criterion) {
    let events = aires_benches::sample_events(BATCH);
    let mut group = c.benchmark_group("encode_batch_256");
    group.throughput(Throughput::Elements(BATCH as u64));
    let mut encoder = BatchEncoder::new("bench", "prod", Limits::default());
    let mut buf = Vec::with_capacity(64 * 1024);
    group.bench_function("aires_batch_encoder", |b| {
        b.iter(|| {
            buf.clear();
            encoder.encode(Uuid7::now(), black_box(&events), &mut buf);
            black_box(buf.len())
        })
    });
    group.bench_function("prost_structs_baseline", |b| {
        b.iter(|| {
            let batch = proto::EventBatch {
                batch_id: Uuid7::now().to_bytes().to_vec().into(),
                service: "bench".into(),
                environment: "prod".into(),
                events: black_box(&events).iter().map(to_proto).collect(),
                ..Default::default()
            };
            buf.clear();
            batch.encode(&mut buf).expect("buffer grows");
            black_box(buf.len())
        })
    });
    group.finish();
}

criterion_group!(benches, encode);
criterion_main!(benches);
