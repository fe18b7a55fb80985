//! With a slow sink, the collector's queue fills, handlers wait, clients
//! slow down, memory stays bounded, and nothing is lost.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aires_core::OverflowPolicy;
use aires_transport_grpc::{GrpcConfig, Mode};
use common::*;

/// Smaller than what the client keeps in flight (4 batches of 100), so the
/// collector, not the client, is the limit.
/// The SDK's request size limit in these tests, and the events such a
/// request holds at most (each event here encodes to 30 bytes or more).
const MAX_REQUEST_BYTES: usize = 64 * 1024;
const MAX_REQUEST_EVENTS: usize = MAX_REQUEST_BYTES / 30;
const QUEUE_CAPACITY: usize = 300;

async fn slow_sink_backpressures(mode: Mode) {
    let sink = Arc::new(MemorySink::default());
    *sink.delay.lock() = Duration::from_millis(40);
    let collector = collector(sink.clone(), |c| {
        c.queue_capacity = QUEUE_CAPACITY;
        c.batch_size = 50;
        c.max_batch_rows = 300;
    })
    .await;
    // The SDK waits for room instead of dropping, so every event must
    // arrive; its producer is what gets slowed down.
    let sdk = sdk(GrpcConfig::new(endpoint(&collector)).mode(mode), |c| {
        c.batch_size(100)
            .max_in_flight(4)
            // The smallest: while its window is full, the SDK's batches
            // grow up to this, and a request is at most this large.
            .max_batch_bytes(MAX_REQUEST_BYTES)
            .queue_capacity(200)
            .overflow(OverflowPolicy::Block)
    });

    // Past what the SDK holds before its producer must wait: its queue
    // (200), its window (4 x 100) and the batches that grow behind it
    // (three of at most MAX_REQUEST_EVENTS).
    const EVENTS: usize = 20_000;
    let producing = Arc::new(AtomicBool::new(true));
    let producer = {
        let sdk = sdk.clone();
        let producing = producing.clone();
        tokio::task::spawn_blocking(move || {
            emit(&sdk, EVENTS);
            producing.store(false, Ordering::SeqCst);
        })
    };

    // Watch the collector while the producer runs.
    let max_depth = Arc::new(AtomicU64::new(0));
    let mut saw_full_and_waiting = false;
    let mut max_sdk_queue = 0;
    while producing.load(Ordering::SeqCst) {
        let text = metrics_text(&collector).await;
        let depth = gauge(&text, "aires_collector_queue_depth");
        max_depth.fetch_max(depth, Ordering::SeqCst);
        let sdk_metrics = sdk.metrics();
        max_sdk_queue = max_sdk_queue.max(sdk_metrics.queue_depth);
        // The collector is full while the SDK has sends outstanding and
        // events queued: the client is being held back, not dropping.
        if depth as usize + 100 > QUEUE_CAPACITY
            && sdk_metrics.batches_in_flight > 0
            && sdk_metrics.queue_depth > 0
        {
            saw_full_and_waiting = true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    producer.await.unwrap();
    flush(&sdk).await;

    assert!(
        saw_full_and_waiting,
        "the pipeline never filled up while the client waited"
    );
    // The hold-up reached the application: the SDK's own queue (200) filled,
    // so its producer waited rather than the collector buffering more.
    assert!(
        max_sdk_queue >= 150,
        "the SDK queue peaked at {max_sdk_queue} of 200"
    );
    // Guaranteed by the permits; shown here for the record.
    assert!(
        max_depth.load(Ordering::SeqCst) as usize <= QUEUE_CAPACITY,
        "queue depth {} exceeded its capacity {QUEUE_CAPACITY}",
        max_depth.load(Ordering::SeqCst)
    );
    assert_eq!(
        indexes(&sink.rows()),
        (0..EVENTS as i64).collect::<Vec<_>>(),
        "every event exactly once"
    );
    assert_eq!(sdk.metrics().events_dropped(), 0);
    // A slow sink gets larger writes: up to max_batch_rows, plus at most
    // one request's rows (a request is not split).
    let largest = sink.batches.lock().iter().map(|b| b.len()).max().unwrap();
    assert!(
        largest > 50 && largest <= 300 + MAX_REQUEST_EVENTS,
        "largest write {largest}"
    );
    shutdown_sdk(sdk).await;
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_clients_are_slowed_down_and_nothing_is_lost() {
    slow_sink_backpressures(Mode::Unary).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_clients_are_slowed_down_and_nothing_is_lost() {
    slow_sink_backpressures(Mode::Streaming).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_outage_is_retried_and_acks_wait() {
    let sink = Arc::new(MemorySink::default());
    for _ in 0..3 {
        sink.fail_next(aires_collector::SinkError::transient("connection refused"));
    }
    let collector = collector(sink.clone(), |_| {}).await;
    let response = client(&collector)
        .await
        .ingest(batch(10))
        .await
        .unwrap()
        .into_inner();
    // Answered only after the fourth attempt stored the rows.
    assert_eq!(response.accepted, 10);
    assert_eq!(*sink.attempts.lock(), 4);
    assert_eq!(sink.row_count(), 10);
    let retries = gauge(
        &metrics_text(&collector).await,
        "aires_collector_sink_retries_total",
    );
    assert_eq!(retries, 3);
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_sink_failure_is_reported_to_the_client() {
    let sink = Arc::new(MemorySink::default());
    sink.fail_next(aires_collector::SinkError::permanent("no such column: foo"));
    let collector = collector(sink.clone(), |_| {}).await;
    let status = client(&collector).await.ingest(batch(4)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert!(
        status.message().contains("no such column"),
        "{}",
        status.message()
    );
    let failed = gauge(
        &metrics_text(&collector).await,
        "aires_collector_events_failed_total",
    );
    assert_eq!(failed, 4);
    collector.shutdown().await.unwrap();
}

async fn metrics_text(collector: &aires_collector::RunningCollector) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = collector.metrics_addr();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

fn gauge(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}
