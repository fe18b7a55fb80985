//! 2M `tracing::info!` calls (message and five fields) from one thread, as
//! fast as it can make them, each set-up with its defaults, then a flush:
//! how many events each delivers, and how many it drops.
//!
//! - `aires`: the Aires layer into the global pipeline (default config:
//!   a 4096-event queue that drops when full) with the null transport;
//! - `opentelemetry`: `opentelemetry-appender-tracing` into the SDK's
//!   `BatchLogProcessor` (defaults: a 2048-record queue, batches of 512)
//!   with an exporter that counts and discards.
//!
//!     bridge-sustained <aires|aires-block|opentelemetry> [EVENTS]
//!
//! `aires-block` is `aires` with `OverflowPolicy::Block`: the caller waits
//! for room instead of dropping.
//!
//! Prints one JSON line.

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

fn main() {
    let mut args = std::env::args().skip(1);
    let setup = args.next().unwrap_or_else(|| "aires".into());
    let events: u64 = args
        .next()
        .map_or(2_000_000, |n| n.parse().expect("events"));
    let (emit_seconds, delivered, dropped) = match setup.as_str() {
        "aires" | "aires-block" => {
            let null = aires::transport::NullTransport::new();
            let mut config = aires::Config::new("bench")
                .env_overrides(false)
                .transport(null.clone());
            if setup == "aires-block" {
                config = config.overflow(aires::OverflowPolicy::Block);
            }
            let guard = aires::init(config).expect("init");
            let started = Instant::now();
            tracing::subscriber::with_default(peers::tracing_aires(), || {
                for i in 0..events {
                    peers::tracing_info_5(i);
                }
            });
            let emit = started.elapsed();
            guard.shutdown(Duration::from_secs(60)).expect("shutdown");
            let m = aires::metrics();
            (emit, null.events(), m.events_dropped())
        }
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
                for i in 0..events {
                    peers::tracing_info_5(i);
                }
            });
            let emit = started.elapsed();
            provider.force_flush().expect("flush");
            provider.shutdown().expect("shutdown");
            let delivered = exported.0.load(Ordering::Relaxed);
            (emit, delivered, events - delivered)
        }
        other => panic!("unknown set-up {other:?}"),
    };
    println!(
        "{{\"setup\":\"{setup}\",\"events\":{events},\"emit_seconds\":{:.3},\"delivered\":{delivered},\"dropped\":{dropped}}}",
        emit_seconds.as_secs_f64()
    );
}
