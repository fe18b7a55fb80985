//! A burst: 2M calls of the headline event (a message and five fields) from
//! one thread, as fast as it can make them, each set-up with its defaults,
//! then a flush: how many events each delivers, and how many it drops.
//!
//! - `aires`: `aires::info!` into the global pipeline (default config: a
//!   4096-event queue that drops when full) with a transport that counts;
//! - `aires-block`: the same with `OverflowPolicy::Block` (the caller waits
//!   for room): the rate the pipeline sustains with nothing dropped;
//! - `aires-grow`: the same with `OverflowPolicy::Grow` at its default
//!   budget: the queue grows before it drops;
//! - `tracing-aires`, `tracing-aires-block`: `tracing::info!` through the
//!   Aires layer, default and blocking;
//! - `opentelemetry`: `tracing::info!` through `opentelemetry-appender-tracing`
//!   into the SDK's `BatchLogProcessor` (defaults: a 2048-record queue,
//!   batches of 512) with an exporter that counts and discards.
//!
//!     burst <set-up> [EVENTS]
//!
//! Prints one JSON line: the set-up, the calls, the seconds the calls took,
//! the events delivered and dropped, and the queue's capacity (Aires).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aires_benches::peers;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{BatchLogProcessor, LogBatch, LogExporter, SdkLoggerProvider};
use tracing_subscriber::layer::SubscriberExt;

#[derive(Debug, Default, Clone)]
struct CountingExporter(Arc<AtomicU64>);

impl LogExporter for CountingExporter {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        self.0
            .fetch_add(batch.iter().count() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// `Config::queue_capacity`'s default, which every set-up keeps.
const DEFAULT_QUEUE_CAPACITY: usize = 4096;

struct Outcome {
    emit: Duration,
    delivered: u64,
    dropped: u64,
    capacity: Option<usize>,
}

/// Runs `calls` through the global Aires pipeline started with `policy`.
fn aires(policy: Option<aires::OverflowPolicy>, calls: impl FnOnce()) -> Outcome {
    let counting = aires::transport::NullTransport::new();
    let mut config = aires::Config::new("bench")
        .env_overrides(false)
        .transport(counting.clone());
    if let Some(policy) = policy {
        config = config.overflow(policy);
    }
    let guard = aires::init(config).expect("init");
    let started = Instant::now();
    calls();
    let emit = started.elapsed();
    guard.shutdown(Duration::from_secs(120)).expect("shutdown");
    Outcome {
        emit,
        delivered: counting.events(),
        dropped: aires::metrics().events_dropped(),
        capacity: Some(DEFAULT_QUEUE_CAPACITY),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let setup = args.next().unwrap_or_else(|| "aires".into());
    let events: u64 = args
        .next()
        .map_or(2_000_000, |n| n.parse().expect("events"));
    let info_5 = || (0..events).for_each(peers::aires_info_5);
    let tracing_5 = || {
        tracing::subscriber::with_default(peers::tracing_aires(), || {
            (0..events).for_each(peers::tracing_info_5)
        })
    };
    let outcome = match setup.as_str() {
        "aires" => aires(None, info_5),
        "aires-block" => aires(Some(aires::OverflowPolicy::Block), info_5),
        "aires-grow" => aires(Some(aires::OverflowPolicy::grow()), info_5),
        "tracing-aires" => aires(None, tracing_5),
        "tracing-aires-block" => aires(Some(aires::OverflowPolicy::Block), tracing_5),
        "opentelemetry" => {
            let exported = CountingExporter::default();
            let provider = SdkLoggerProvider::builder()
                .with_log_processor(BatchLogProcessor::builder(exported.clone()).build())
                .build();
            let subscriber = tracing_subscriber::registry()
                .with(tracing_subscriber::filter::LevelFilter::INFO)
                .with(
                    opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(
                        &provider,
                    ),
                );
            let started = Instant::now();
            tracing::subscriber::with_default(subscriber, || {
                (0..events).for_each(peers::tracing_info_5)
            });
            let emit = started.elapsed();
            provider.force_flush().expect("flush");
            provider.shutdown().expect("shutdown");
            let delivered = exported.0.load(Ordering::Relaxed);
            Outcome {
                emit,
                delivered,
                dropped: events - delivered,
                capacity: None,
            }
        }
        other => panic!("unknown set-up {other:?}"),
    };
    let capacity = outcome
        .capacity
        .map_or("null".to_owned(), |c| c.to_string());
    println!(
        "{{\"setup\":\"{setup}\",\"events\":{events},\"emit_seconds\":{:.3},\"delivered\":{},\"dropped\":{},\"queue_capacity\":{capacity}}}",
        outcome.emit.as_secs_f64(),
        outcome.delivered,
        outcome.dropped,
    );
}
