//! The peers of the side-by-side benches, each set up the way its users
//! usually run it, and the same events emitted through each: a static
//! message with three fields (an integer, a float and a string), and the
//! headline event with five (`*_5`).
//!
//! - tracing JSON: `tracing-subscriber`'s JSON fmt layer writing through
//!   `tracing-appender`'s non-blocking writer (set not to drop) into
//!   `io::sink()`.
//! - tracing + OpenTelemetry: `opentelemetry-appender-tracing` into the
//!   `opentelemetry_sdk` `BatchLogProcessor` with an exporter that discards.
//! - log: `log` with key-values into `env_logger` writing into `io::sink()`.
//!
//! All set-ups filter at INFO, so `debug` calls measure the disabled path.

use std::hint::black_box;
use std::io;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{BatchLogProcessor, LogBatch, LogExporter, SdkLoggerProvider};
use tracing_subscriber::layer::SubscriberExt;

/// Aires as the emit benches run it: the global pipeline at INFO into a
/// null transport.
pub fn init_aires() -> aires::Guard {
    aires::init(
        aires::Config::new("bench")
            .env_overrides(false)
            .level(aires::LevelFilter::INFO)
            .transport(aires::transport::NullTransport::new()),
    )
    .expect("init")
}

/// The event through Aires.
#[inline(always)]
pub fn aires_info(i: u64) {
    aires::info!(
        "order placed",
        order_id = black_box(i),
        amount = black_box(9.99),
        currency = "EUR"
    )
}

/// The same call at a level the set-up filters out.
#[inline(always)]
pub fn aires_debug(i: u64) {
    aires::debug!("order placed", order_id = black_box(i))
}

/// The event through `tracing` (either tracing set-up).
#[inline(always)]
pub fn tracing_info(i: u64) {
    tracing::info!(
        order_id = black_box(i),
        amount = black_box(9.99),
        currency = "EUR",
        "order placed"
    )
}

/// The headline event: a static message and five fields (an integer, a
/// static string, an unsigned, a float and a bool), as a service logs a
/// handled request.
#[inline(always)]
pub fn tracing_info_5(i: u64) {
    tracing::info!(
        user_id = black_box(i),
        path = "/api/orders",
        status = 200u64,
        latency_ms = black_box(12.5),
        ok = true,
        "request handled"
    )
}

/// The same event through Aires' own macro.
#[inline(always)]
pub fn aires_info_5(i: u64) {
    aires::info!(
        "request handled",
        user_id = black_box(i),
        path = "/api/orders",
        status = 200u64,
        latency_ms = black_box(12.5),
        ok = true
    )
}

/// `tracing` into Aires: the Aires layer on a registry, the global
/// pipeline as [`init_aires`] starts it.
pub fn tracing_aires() -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::registry().with(aires::tracing::layer())
}

/// What any layer pays before its own work: `tracing`'s dispatch to a
/// layer on a registry, and one `Visit` call per field, into a visitor
/// that keeps nothing (the floor under `tracing_aires_5`).
pub fn tracing_visit_only() -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::registry().with(VisitOnly)
}

struct VisitOnly;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for VisitOnly {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        event.record(&mut Discard);
    }
}

/// Looks at each value, as a layer would, and keeps none.
struct Discard;

impl tracing::field::Visit for Discard {
    fn record_f64(&mut self, _: &tracing::field::Field, value: f64) {
        black_box(value);
    }

    fn record_u64(&mut self, _: &tracing::field::Field, value: u64) {
        black_box(value);
    }

    fn record_bool(&mut self, _: &tracing::field::Field, value: bool) {
        black_box(value);
    }

    fn record_str(&mut self, _: &tracing::field::Field, value: &str) {
        black_box(value);
    }

    fn record_debug(&mut self, _: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        black_box(value);
    }
}

/// The same call at a level the set-up filters out.
#[inline(always)]
pub fn tracing_debug(i: u64) {
    tracing::debug!(order_id = black_box(i), "order placed")
}

/// The event through `log`.
#[inline(always)]
pub fn log_info(i: u64) {
    log::info!(
        order_id = black_box(i),
        amount = black_box(9.99),
        currency = "EUR";
        "order placed"
    )
}

/// The headline five-field event through `log`.
#[inline(always)]
pub fn log_info_5(i: u64) {
    log::info!(
        user_id = black_box(i),
        path = "/api/orders",
        status = 200u64,
        latency_ms = black_box(12.5),
        ok = true;
        "request handled"
    )
}

/// The same call at a level the set-up filters out.
#[inline(always)]
pub fn log_debug(i: u64) {
    log::debug!(order_id = black_box(i); "order placed")
}

/// tracing's JSON fmt layer through the non-blocking writer. Keep the guard
/// alive while the subscriber is in use: dropping it stops the writer.
pub fn tracing_json() -> (
    impl tracing::Subscriber + Send + Sync,
    tracing_appender::non_blocking::WorkerGuard,
) {
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(io::sink());
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::INFO)
        .with(tracing_subscriber::fmt::layer().json().with_writer(writer));
    (subscriber, guard)
}

/// OpenTelemetry's exporter contract with nothing behind it: what is
/// measured is the bridge, the log record and the batch processor.
#[derive(Debug)]
struct DiscardingExporter;

impl LogExporter for DiscardingExporter {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        black_box(batch.iter().count());
        Ok(())
    }
}

/// tracing into OpenTelemetry's batch log processor (default batch config:
/// queue 2048, batches of 512, 1 s delay). Flush with
/// `provider.force_flush()`; shut down with `provider.shutdown()`.
pub fn tracing_opentelemetry() -> (impl tracing::Subscriber + Send + Sync, SdkLoggerProvider) {
    let provider = SdkLoggerProvider::builder()
        .with_log_processor(BatchLogProcessor::builder(DiscardingExporter).build())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::INFO)
        .with(opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(&provider));
    (subscriber, provider)
}

/// Installs `env_logger` as the process's `log` logger (once per process).
pub fn install_env_logger() {
    env_logger::Builder::new()
        .filter_level(log::LevelFilter::Info)
        .target(env_logger::Target::Pipe(Box::new(io::sink())))
        .init();
}
