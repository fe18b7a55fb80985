//! Sustained throughput from producer threads through the queue, the batch
//! worker and delivery into a null transport. Producers use the blocking
//! overflow policy, so the figure is what the pipeline sustains with nothing
//! dropped.
//!
//! - `pipeline_to_null_transport`: events built with `Event::builder` (four
//!   attributes) and moved into a pipeline of their own;
//! - `info_5_to_null_transport`: the headline event (`aires::info!` with
//!   five fields) into the global pipeline, built in its queue slot.

use std::hint::black_box;
use std::time::{Duration, Instant};

use aires::transport::NullTransport;
use aires::{Config, Event, Level, OverflowPolicy};
use aires_core::Pipeline;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const EVENTS_PER_ITER: u64 = 400_000;

fn run(pipeline: &Pipeline, producers: u64) -> Duration {
    let per_producer = EVENTS_PER_ITER / producers;
    let start = Instant::now();
    std::thread::scope(|scope| {
        for p in 0..producers {
            let pipeline = pipeline.clone();
            scope.spawn(move || {
                for i in 0..per_producer {
                    pipeline.emit(
                        Event::builder(Level::Info, "order placed")
                            .attr("order_id", black_box(i))
                            .attr("amount", black_box(9.99))
                            .attr("currency", aires::Value::from_static("EUR"))
                            .attr("producer", p)
                            .build(),
                    );
                }
            });
        }
    });
    pipeline.flush(Duration::from_secs(60)).expect("flush");
    start.elapsed()
}

fn throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("pipeline_to_null_transport");
    group.sample_size(10);
    group.throughput(Throughput::Elements(EVENTS_PER_ITER));
    for producers in [1u64, 2] {
        let null = NullTransport::new();
        let pipeline = Pipeline::start(
            Config::new("bench")
                .env_overrides(false)
                .overflow(OverflowPolicy::Block)
                .transport(null.clone()),
        )
        .expect("start");
        group.bench_with_input(
            BenchmarkId::new("producers", producers),
            &producers,
            |b, &n| b.iter_custom(|iters| (0..iters).map(|_| run(&pipeline, n)).sum()),
        );
        pipeline
            .shutdown(Duration::from_secs(60))
            .expect("shutdown");
        let metrics = pipeline.metrics();
        assert_eq!(metrics.events_dropped(), 0, "{metrics:?}");
        assert_eq!(null.events(), metrics.events_enqueued);
    }
    group.finish();
}

fn run_info_5(producers: u64) -> Duration {
    let per_producer = EVENTS_PER_ITER / producers;
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..producers {
            scope.spawn(move || {
                for i in 0..per_producer {
                    aires_benches::peers::aires_info_5(i);
                }
            });
        }
    });
    aires::flush(Duration::from_secs(60)).expect("flush");
    start.elapsed()
}

fn throughput_info_5(c: &mut Criterion) {
    let null = NullTransport::new();
    let guard = aires::init(
        Config::new("bench")
            .env_overrides(false)
            .overflow(OverflowPolicy::Block)
            .transport(null.clone()),
    )
    .expect("init");
    let mut group = c.benchmark_group("info_5_to_null_transport");
    group.sample_size(10);
    group.throughput(Throughput::Elements(EVENTS_PER_ITER));
    for producers in [1u64, 2] {
        group.bench_with_input(
            BenchmarkId::new("producers", producers),
            &producers,
            |b, &n| b.iter_custom(|iters| (0..iters).map(|_| run_info_5(n)).sum()),
        );
    }
    group.finish();
    guard.shutdown(Duration::from_secs(60)).expect("shutdown");
    let metrics = aires::metrics();
    assert_eq!(metrics.events_dropped(), 0, "{metrics:?}");
    assert_eq!(null.events(), metrics.events_enqueued);
}

criterion_group!(benches, throughput, throughput_info_5);
criterion_main!(benches);
