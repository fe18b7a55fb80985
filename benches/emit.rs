//! Cost of one event on the calling thread, Aires side by side with the
//! loggers Rust services use today, for the same events: a static message
//! with three fields (an integer, a float and a string), and the headline
//! event with five (an integer, a static string, an unsigned, a float and
//! a bool; the benches named `*_5`).
//!
//! - `aires`: `aires::info!` through the real global pipeline (queue, batch
//!   worker, a null transport).
//! - `tracing_aires_5`: `tracing::info!` through the Aires layer
//!   (`aires::tracing::layer()`) into that pipeline.
//! - `tracing_visit_only_5`: the same call into a layer that visits every
//!   field and keeps nothing: what `tracing` itself costs any layer.
//! - `tracing_json_non_blocking`: `tracing::info!` into a
//!   `tracing-subscriber` JSON fmt layer writing through `tracing-appender`'s
//!   non-blocking writer into `io::sink()`.
//! - `tracing_opentelemetry_batch`: `tracing::info!` through
//!   `opentelemetry-appender-tracing` into the `opentelemetry_sdk`
//!   `BatchLogProcessor` with an exporter that discards.
//! - `log_env_logger`: `log::info!` (with key-values) into `env_logger`
//!   writing into `io::sink()`.
//!
//! The set-ups are in `peers.rs`. Every pipeline with a queue drains between
//! timed chunks or is set to block rather than drop, so no call is timed on
//! a drop path. The two tracing set-ups are installed with `tracing::subscriber::with_default`
//! (both live in one process); `log` allows one logger per process, so it is
//! installed globally. Each `*_disabled` bench is the same call at a level
//! the set-up filters out (DEBUG under an INFO minimum).

use std::hint::black_box;
use std::time::Duration;

use aires_benches::peers;
use aires_benches::{timed_in_chunks, timed_in_chunks_with};
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

/// Events timed between flushes: well under every queue's capacity (Aires
/// 4096, OpenTelemetry's batch processor 2048), so no call takes a drop
/// path.
const CHUNK: u64 = 1_024;

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

fn aires(group: &mut Group<'_>) {
    group.bench_function("aires", |b| {
        b.iter_custom(|iters| timed_in_chunks(iters, CHUNK, peers::aires_info))
    });
    group.bench_function("aires_5", |b| {
        b.iter_custom(|iters| timed_in_chunks(iters, CHUNK, peers::aires_info_5))
    });
    group.bench_function("aires_disabled", |b| b.iter(|| peers::aires_debug(1)));
    // `tracing` into Aires: the same `tracing::info!` as the tracing peers,
    // through the Aires layer into the pipeline above.
    tracing::subscriber::with_default(peers::tracing_aires(), || {
        group.bench_function("tracing_aires_5", |b| {
            b.iter_custom(|iters| timed_in_chunks(iters, CHUNK, peers::tracing_info_5))
        });
    });
    // The floor under it: the same call into a layer that only visits.
    tracing::subscriber::with_default(peers::tracing_visit_only(), || {
        group.bench_function("tracing_visit_only_5", |b| {
            b.iter(|| peers::tracing_info_5(black_box(1)))
        });
    });
}

fn tracing_json_non_blocking(group: &mut Group<'_>) {
    let (subscriber, _writer) = peers::tracing_json();
    tracing::subscriber::with_default(subscriber, || {
        group.bench_function("tracing_json_non_blocking", |b| {
            b.iter(|| peers::tracing_info(1))
        });
        group.bench_function("tracing_json_non_blocking_5", |b| {
            b.iter(|| peers::tracing_info_5(1))
        });
        group.bench_function("tracing_json_non_blocking_disabled", |b| {
            b.iter(|| peers::tracing_debug(1))
        });
    });
}

fn tracing_opentelemetry_batch(group: &mut Group<'_>) {
    let (subscriber, provider) = peers::tracing_opentelemetry();
    tracing::subscriber::with_default(subscriber, || {
        group.bench_function("tracing_opentelemetry_batch", |b| {
            b.iter_custom(|iters| {
                timed_in_chunks_with(iters, CHUNK, peers::tracing_info, || {
                    provider.force_flush().expect("force_flush")
                })
            })
        });
        group.bench_function("tracing_opentelemetry_batch_5", |b| {
            b.iter_custom(|iters| {
                timed_in_chunks_with(iters, CHUNK, peers::tracing_info_5, || {
                    provider.force_flush().expect("force_flush")
                })
            })
        });
        group.bench_function("tracing_opentelemetry_batch_disabled", |b| {
            b.iter(|| peers::tracing_debug(1))
        });
    });
    provider.shutdown().expect("provider shutdown");
}

fn log_env_logger(group: &mut Group<'_>) {
    peers::install_env_logger();
    group.bench_function("log_env_logger", |b| b.iter(|| peers::log_info(1)));
    group.bench_function("log_env_logger_5", |b| b.iter(|| peers::log_info_5(1)));
    group.bench_function("log_env_logger_disabled", |b| {
        b.iter(|| peers::log_debug(1))
    });
}

fn emit_vs_peers(c: &mut Criterion) {
    let guard = peers::init_aires();

    let mut group = c.benchmark_group("emit_vs_peers");
    group.throughput(Throughput::Elements(1));
    aires(&mut group);
    tracing_json_non_blocking(&mut group);
    tracing_opentelemetry_batch(&mut group);
    log_env_logger(&mut group);
    group.finish();

    assert_eq!(
        aires::metrics().events_dropped_queue_full,
        0,
        "a bench emit took the drop path"
    );
    guard.shutdown(Duration::from_secs(30)).expect("shutdown");
}

/// Where Aires' own cost goes: a formatted message, and the event built but
/// not enqueued (clock, id and builder without the hand-off).
fn emit_breakdown(c: &mut Criterion) {
    let guard = peers::init_aires();
    let mut group = c.benchmark_group("emit");
    group.throughput(Throughput::Elements(1));
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
    group.bench_function("build_only_3_fields", |b| {
        b.iter(|| {
            let mut builder = aires::Event::builder(aires::Level::Info, "order placed");
            builder.push_attr("order_id", black_box(1u64));
            builder.push_attr("amount", black_box(9.99));
            builder.push_attr("currency", aires::Value::from_static("EUR"));
            black_box(builder.build())
        })
    });
    group.finish();
    guard.shutdown(Duration::from_secs(30)).expect("shutdown");
}

criterion_group!(benches, emit_vs_peers, emit_breakdown);
criterion_main!(benches);
