//! The collector's own metrics, in the Prometheus text format on
//! `/metrics` of their own port. Names say what happened:
//!
//! | metric | what |
//! |---|---|
//! | `aires_collector_events_received_total` | events in requests taken into the pipeline |
//! | `aires_collector_events_inserted_total` | events the sink stored |
//! | `aires_collector_events_rejected_total` | events refused one by one (a request refused whole is counted in `requests_rejected_total`, its events nowhere) |
//! | `aires_collector_events_failed_total` | events the sink refused for good |
//! | `aires_collector_requests_rejected_total` | requests, and batches of a stream, refused whole (auth, size, malformed, id reused, shutting down, store failed) |
//! | `aires_collector_requests_cancelled_total` | calls and streams the client ended or gave up on before their answer |
//! | `aires_collector_sink_retries_total` | transient sink failures retried |
//! | `aires_collector_batches_deduplicated_total` | retried batches answered as stored from the first attempt's outcome, or found in the sink's ledger, not stored again |
//! | `aires_collector_ledger_lookups_total` | retried batches this collector did not know, looked up in the sink's ledger |
//! | `aires_collector_otlp_log_records_received_total` | OpenTelemetry log records received over OTLP/gRPC and OTLP/HTTP, before the checks (they are counted as events from there on) |
//! | `aires_collector_otlp_log_records_refused_total` | OpenTelemetry log records refused past the limit on one request's events (each attempt of a request counts; they never become events) |
//! | `aires_collector_queue_depth` | events accepted and not yet answered |
//! | `aires_collector_pending_bytes` | bytes of the memory budget held by requests accepted and not yet answered |
//! | `aires_collector_wal_bytes` | bytes the write-ahead log holds on disk (`--data-dir`) |
//! | `aires_collector_batch_rows` | rows per sink write (histogram) |
//! | `aires_collector_sink_latency_seconds` | duration of successful sink writes (histogram) |

use std::sync::Arc;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

/// Every metric the collector keeps.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub events_received: Counter,
    pub events_inserted: Counter,
    pub events_rejected: Counter,
    pub events_failed: Counter,
    pub requests_rejected: Counter,
    pub requests_cancelled: Counter,
    pub sink_retries: Counter,
    pub batches_deduplicated: Counter,
    pub ledger_lookups: Counter,
    pub otlp_log_records_received: Counter,
    pub otlp_log_records_refused: Counter,
    pub queue_depth: Gauge,
    pub pending_bytes: Gauge,
    pub wal_bytes: Gauge,
    pub batch_rows: Histogram,
    pub sink_latency: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("aires_collector");
        let metrics = Metrics {
            events_received: Counter::default(),
            events_inserted: Counter::default(),
            events_rejected: Counter::default(),
            events_failed: Counter::default(),
            requests_rejected: Counter::default(),
            requests_cancelled: Counter::default(),
            sink_retries: Counter::default(),
            batches_deduplicated: Counter::default(),
            ledger_lookups: Counter::default(),
            otlp_log_records_received: Counter::default(),
            otlp_log_records_refused: Counter::default(),
            queue_depth: Gauge::default(),
            pending_bytes: Gauge::default(),
            wal_bytes: Gauge::default(),
            batch_rows: Histogram::new(exponential_buckets(10.0, 2.0, 15)),
            sink_latency: Histogram::new(exponential_buckets(0.000_5, 2.0, 16)),
            registry: Registry::default(),
        };
        registry.register(
            "events_received",
            "Events in decoded requests",
            metrics.events_received.clone(),
        );
        registry.register(
            "events_inserted",
            "Events the sink stored",
            metrics.events_inserted.clone(),
        );
        registry.register(
            "events_rejected",
            "Events refused by the transform",
            metrics.events_rejected.clone(),
        );
        registry.register(
            "events_failed",
            "Events the sink refused for good",
            metrics.events_failed.clone(),
        );
        registry.register(
            "requests_rejected",
            "Requests refused whole: auth, size, malformed, id reused, shutting down, store failed",
            metrics.requests_rejected.clone(),
        );
        registry.register(
            "requests_cancelled",
            "Calls and streams the client ended or gave up on before their answer",
            metrics.requests_cancelled.clone(),
        );
        registry.register(
            "sink_retries",
            "Transient sink failures retried",
            metrics.sink_retries.clone(),
        );
        registry.register(
            "batches_deduplicated",
            "Retried batches answered as stored (from memory or the sink's ledger) instead of stored again",
            metrics.batches_deduplicated.clone(),
        );
        registry.register(
            "ledger_lookups",
            "Retried batches this collector did not know, looked up in the sink's ledger",
            metrics.ledger_lookups.clone(),
        );
        registry.register(
            "otlp_log_records_received",
            "OpenTelemetry log records received (OTLP/gRPC and OTLP/HTTP), before the checks",
            metrics.otlp_log_records_received.clone(),
        );
        registry.register(
            "otlp_log_records_refused",
            "OpenTelemetry log records refused past the limit on one request's events",
            metrics.otlp_log_records_refused.clone(),
        );
        registry.register(
            "queue_depth",
            "Events accepted and not yet answered",
            metrics.queue_depth.clone(),
        );
        registry.register(
            "pending_bytes",
            "Bytes of the memory budget held by requests accepted and not yet answered",
            metrics.pending_bytes.clone(),
        );
        registry.register(
            "wal_bytes",
            "Bytes the write-ahead log holds on disk",
            metrics.wal_bytes.clone(),
        );
        registry.register(
            "batch_rows",
            "Rows per sink write",
            metrics.batch_rows.clone(),
        );
        registry.register(
            "sink_latency_seconds",
            "Duration of successful sink writes",
            metrics.sink_latency.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }
}

impl Metrics {
    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

/// Serves `/metrics` on `listener` until `shutdown` resolves; `render`
/// produces the page.
pub async fn serve(
    listener: TcpListener,
    render: Arc<dyn Fn() -> String + Send + Sync>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::http::header::CONTENT_TYPE;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let render = render.clone();
            async move {
                (
                    [(
                        CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    render(),
                )
            }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let metrics = Metrics::default();
        metrics.events_received.inc_by(3);
        metrics.batch_rows.observe(1000.0);
        let text = metrics.render();
        assert!(
            text.contains("aires_collector_events_received_total 3"),
            "{text}"
        );
        assert!(text.contains("aires_collector_batch_rows_bucket"), "{text}");
        assert!(
            text.contains("# HELP aires_collector_sink_latency_seconds"),
            "{text}"
        );
    }
}
