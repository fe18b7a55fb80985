//! Cost of one event on the calling thread, through the real global
//! pipeline (queue + batch worker + a null transport).

use std::hint::black_box;
use std::time::Duration;

use aires::{Config, LevelFilter, NullTransport};
use aires_benches::timed_in_chunks;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// Events timed between flushes: well under the default queue capacity
/// (4096), so no call takes the drop path.
const CHUNK: u64 = 1_024;

fn emit(c: &mut Criterion) {
    let guard = aires::init(
        Config::new("bench")
            .env_overrides(false)
            .level(LevelFilter::INFO)
            .transport(NullTransport::new()),
    )
    .expect("init");

    let mut group = c.benchmark_group("emit");
    group.throughput(Throughput::Elements(1));
    group.bench_function("static_message_3_fields", |b| {
        b.iter_custom(|iters| {
            timed_in_chunks(iters, CHUNK, |i| {
                aires::info!(
                    "order placed",
                    order_id = black_box(i),
                    amount = black_box(9.99),
                    currency = "EUR"
                )
            })
        })
    });
    group.bench_function("formatted_message_3_fields", |b| {
        b.iter_custom(|iters| {
            timed_in_chunks(iters, CHUNK, |i| {
                aires::info!(
                    "order {} placed",
                    black_box(i),
                    amount = black_box(9.99),
                    currency = "EUR",
                    paid = true
                )
            })
        })
    });
    // The same event built but not enqueued: the share of the cost that is
    // the clock, the id and the builder.
    group.bench_function("build_only_3_fields", |b| {
        b.iter(|| {
            let mut builder = aires::Event::builder(aires::Level::Info, "order placed");
            builder.push_attr("order_id", black_box(1u64));
            builder.push_attr("amount", black_box(9.99));
            builder.push_attr("currency", aires::Value::from_static("EUR"));
            black_box(builder.build())
        })
    });
    group.bench_function("disabled_level", |b| {
        b.iter(|| aires::debug!("not recorded", order_id = black_box(1u64)))
    });
    group.finish();

    let metrics = aires::metrics();
    assert_eq!(
        metrics.events_dropped_queue_full, 0,
        "a bench emit took the drop path"
    );
    guard.shutdown(Duration::from_secs(30)).expect("shutdown");
}

criterion_group!(benches, emit);
criterion_main!(benches);
