//! The collector path: decoding a batch into rows per core, one gRPC round trip of
//! a 256-event batch, and sustained ingestion into the null sink from
//! several client tasks over loopback.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aires_collector::{CollectorConfig, NullSink, SinkKind};
use aires_core::__private::BatchEncoder;
use aires_core::transport::{EncodedBatch, Transport};
use aires_core::{Limits, Uuid7};
use aires_transport_grpc::{GrpcConfig, GrpcTransport};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const BATCH: usize = 256;

/// The allocator the aires-collector binary uses, so the figures are the
/// binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One realistic 256-event batch, encoded by the SDK's encoder.
fn encoded_batch() -> EncodedBatch {
    let events = aires_benches::sample_events(BATCH);
    let mut encoder = BatchEncoder::new("bench", "prod", Limits::default());
    let mut buf = Vec::new();
    let id = Uuid7::now();
    encoder.encode(id, &events, &mut buf);
    EncodedBatch::new(id, buf, BATCH)
}

fn decode_transform(c: &mut Criterion) {
    let batch = encoded_batch();
    let mut group = c.benchmark_group("collector_decode_transform");
    group.throughput(Throughput::Elements(BATCH as u64));
    // The collector's path: the batch decoded straight into rows.
    group.bench_function("batch_256", |b| {
        b.iter(|| {
            black_box(
                aires_collector::decode::decode_batch(
                    &batch.payload,
                    1_780_000_000_000_000_000,
                    Default::default(),
                )
                .expect("valid"),
            )
        })
    });
    // The reference path it is compared with: prost's structs, then the
    // same rules.
    group.bench_function("batch_256_prost_then_transform", |b| {
        b.iter(|| {
            black_box(aires_collector::reference::transform_batch(
                &batch.payload,
                1_780_000_000_000_000_000,
                Default::default(),
            ))
        })
    });
    group.finish();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A collector with the null sink. `batch_timeout_ms` is short here: an
/// answer waits for its rows to be written, and a batch smaller than
/// `batch_size` (1000 rows) waits for the timeout (500 ms by default), which
/// would measure the timer instead of the collector.
async fn null_collector(batch_timeout_ms: u64) -> aires_collector::RunningCollector {
    let mut config = CollectorConfig::for_tests();
    config.sink = SinkKind::Null;
    config.batch_timeout_ms = batch_timeout_ms;
    aires_collector::start(config, Arc::new(NullSink::default()))
        .await
        .expect("collector")
}

fn round_trip(c: &mut Criterion) {
    let runtime = runtime();
    let collector = runtime.block_on(null_collector(1));
    let transport =
        GrpcTransport::new(GrpcConfig::new(format!("http://{}", collector.grpc_addr()))).unwrap();
    let batch = encoded_batch();
    let mut group = c.benchmark_group("grpc_round_trip");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("unary_batch_256", |b| {
        b.to_async(&runtime).iter(|| async {
            // Same id every time: the null sink does not care.
            transport.send(batch.clone()).await.expect("stored")
        })
    });
    group.finish();
    runtime.block_on(collector.shutdown()).unwrap();
}

fn sustained(c: &mut Criterion) {
    let runtime = runtime();
    let collector = runtime.block_on(null_collector(10));
    let endpoint = format!("http://{}", collector.grpc_addr());
    let batch = encoded_batch();
    const BATCHES_PER_ITER: usize = 400;
    let mut group = c.benchmark_group("collector_sustained_null_sink");
    group.sample_size(10);
    group.throughput(Throughput::Elements((BATCHES_PER_ITER * BATCH) as u64));
    for clients in [8usize, 32] {
        let transports: Vec<GrpcTransport> = (0..clients)
            .map(|_| GrpcTransport::new(GrpcConfig::new(&endpoint)).unwrap())
            .collect();
        group.bench_with_input(
            BenchmarkId::new("clients", clients),
            &clients,
            |b, &clients| {
                b.to_async(&runtime).iter_custom(|iters| {
                    let transports = transports.clone();
                    let batch = batch.clone();
                    async move {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            let start = Instant::now();
                            let tasks: Vec<_> = transports
                                .iter()
                                .cloned()
                                .map(|transport| {
                                    let batch = batch.clone();
                                    tokio::spawn(async move {
                                        for _ in 0..BATCHES_PER_ITER / clients {
                                            transport.send(batch.clone()).await.expect("stored");
                                        }
                                    })
                                })
                                .collect();
                            for task in tasks {
                                task.await.expect("client task");
                            }
                            total += start.elapsed();
                        }
                        total
                    }
                })
            },
        );
    }
    group.finish();
    runtime.block_on(collector.shutdown()).unwrap();
}

criterion_group!(benches, decode_transform, round_trip, sustained);
criterion_main!(benches);
