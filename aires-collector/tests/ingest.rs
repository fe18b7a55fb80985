//! Unary and streaming ingestion through the real SDK transport and the
//! generated client, with per-batch acknowledgements.

mod common;

use std::sync::Arc;

use aires_proto::v1 as proto;
use aires_transport_grpc::{Compression, GrpcConfig, Mode};
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_ingestion_stores_every_event() {
    let sink = Arc::new(MemorySink::default());
    let collector = collector(sink.clone(), |_| {}).await;
    // Batches cut on size only, so their count is exact.
    let sdk = sdk(GrpcConfig::new(endpoint(&collector)), |c| {
        c.batch_size(100)
            .batch_timeout(std::time::Duration::from_secs(3600))
    });
    emit(&sdk, 1_000);
    flush(&sdk).await;
    assert_eq!(indexes(&sink.rows()), (0..1_000).collect::<Vec<_>>());
    let metrics = sdk.metrics();
    assert_eq!(metrics.events_sent, 1_000);
    assert_eq!(metrics.batches_sent, 10);
    let row = &sink.rows()[0];
    assert_eq!(&*row.service, "test-service");
    assert_eq!(&*row.environment, "test");
    assert_eq!(row.severity, "info");
    assert_eq!(&*row.sdk_name, "aires-rust");
    shutdown_sdk(sdk).await;
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_ingestion_stores_every_event() {
    let sink = Arc::new(MemorySink::default());
    let collector = collector(sink.clone(), |_| {}).await;
    let sdk = sdk(
        GrpcConfig::new(endpoint(&collector)).mode(Mode::Streaming),
        |c| {
            c.batch_size(50)
                .max_in_flight(8)
                .batch_timeout(std::time::Duration::from_secs(3600))
        },
    );
    emit(&sdk, 2_000);
    flush(&sdk).await;
    assert_eq!(indexes(&sink.rows()), (0..2_000).collect::<Vec<_>>());
    // Batches of 50, or larger while all 8 slots of the window are taken.
    let metrics = sdk.metrics();
    assert!(
        (1..=40).contains(&metrics.batches_sent),
        "{} batches",
        metrics.batches_sent
    );
    assert_eq!(metrics.events_sent, 2_000);
    assert_eq!(metrics.events_dropped(), 0);
    shutdown_sdk(sdk).await;
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_compressed_when_asked() {
    use std::sync::atomic::Ordering;
    let mut sent_bytes = Vec::new();
    for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let sink = Arc::new(MemorySink::default());
        let collector = collector(sink.clone(), |_| {}).await;
        let (proxy, counts) = counting_proxy(collector.grpc_addr()).await;
        let sdk = sdk(
            GrpcConfig::new(format!("http://{proxy}")).compression(compression),
            |c| c,
        );
        emit(&sdk, 300);
        flush(&sdk).await;
        assert_eq!(sink.row_count(), 300, "{compression:?}");
        shutdown_sdk(sdk).await;
        // The proxy's count is final once the SDK's connection has closed.
        assert!(wait_until(DEADLINE, || counts.closed.load(Ordering::SeqCst)).await);
        sent_bytes.push(counts.sent.load(Ordering::SeqCst));
        collector.shutdown().await.unwrap();
    }
    let (plain, gzip, zstd) = (sent_bytes[0], sent_bytes[1], sent_bytes[2]);
    assert!(gzip * 2 < plain, "gzip sent {gzip} bytes, plain {plain}");
    assert!(zstd * 2 < plain, "zstd sent {zstd} bytes, plain {plain}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_stream_ack_names_its_batch() {
    let sink = Arc::new(MemorySink::default());
    let collector = collector(sink.clone(), |_| {}).await;
    let mut client = client(&collector).await;
    let batches: Vec<proto::EventBatch> = (0..5).map(|_| batch(20)).collect();
    let sent_ids: Vec<Vec<u8>> = batches.iter().map(|b| b.batch_id.to_vec()).collect();
    let mut acks = client
        .ingest_stream(tokio_stream::iter(batches))
        .await
        .unwrap()
        .into_inner();
    let mut acked = Vec::new();
    while let Some(ack) = acks.message().await.unwrap() {
        assert_eq!(ack.accepted, 20);
        assert_eq!(ack.rejected, 0);
        assert!(ack.error.is_none());
        acked.push(ack.batch_id.to_vec());
    }
    acked.sort();
    let mut expected = sent_ids.clone();
    expected.sort();
    assert_eq!(acked, expected);
    assert_eq!(sink.row_count(), 100);
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingest_answer_comes_after_the_rows_are_stored() {
    let sink = Arc::new(MemorySink::default());
    *sink.delay.lock() = std::time::Duration::from_millis(200);
    let collector = collector(sink.clone(), |_| {}).await;
    let mut client = client(&collector).await;
    let response = client.ingest(batch(7)).await.unwrap().into_inner();
    // The answer exists only once the slow sink has the rows.
    assert_eq!(response.accepted, 7);
    assert_eq!(sink.row_count(), 7);
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_service_reports_serving() {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    let sink = Arc::new(MemorySink::default());
    let collector = collector(sink, |_| {}).await;
    let channel = tonic::transport::Channel::from_shared(endpoint(&collector))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    for service in ["", "aires.v1.Collector"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(
            status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "{service:?}"
        );
    }
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_happened() {
    let sink = Arc::new(MemorySink::default());
    let collector = collector(sink.clone(), |_| {}).await;
    let mut client = client(&collector).await;
    let mut bad = batch(3);
    bad.events[1].span_id = vec![1, 2, 3].into();
    let response = client.ingest(bad).await.unwrap().into_inner();
    assert_eq!((response.accepted, response.rejected), (2, 1));
    let text = http_get(collector.metrics_addr(), "/metrics").await;
    assert!(
        text.contains("aires_collector_events_received_total 3"),
        "{text}"
    );
    assert!(
        text.contains("aires_collector_events_inserted_total 2"),
        "{text}"
    );
    assert!(
        text.contains("aires_collector_events_rejected_total 1"),
        "{text}"
    );
    assert!(text.contains("aires_collector_queue_depth 0"), "{text}");
    assert!(
        text.contains("aires_collector_sink_latency_seconds_count 1"),
        "{text}"
    );
    collector.shutdown().await.unwrap();
}

/// A minimal HTTP/1.1 GET, to read `/metrics` without another client crate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_past_its_deadline_fails_as_retryable() {
    use aires_core::transport::Transport;
    let sink = Arc::new(MemorySink::default());
    *sink.delay.lock() = std::time::Duration::from_secs(2);
    let collector = collector(sink.clone(), |_| {}).await;
    let transport = aires_transport_grpc::GrpcTransport::new(
        GrpcConfig::new(endpoint(&collector)).timeout(std::time::Duration::from_millis(200)),
    )
    .unwrap();
    use prost::Message;
    let raw = batch(3);
    let encoded = aires_core::transport::EncodedBatch::new(
        aires_core::Uuid7::from_bytes(raw.batch_id.as_ref().try_into().unwrap()),
        raw.encode_to_vec(),
        3,
    );
    let error = transport.send(encoded).await.unwrap_err();
    assert!(error.is_retryable(), "{error}");
    assert!(
        error.to_string().contains("DeadlineExceeded") || error.to_string().contains("Cancelled"),
        "{error}"
    );
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_batch_is_stored_once() {
    let sink = Arc::new(MemorySink::default());
    *sink.delay.lock() = std::time::Duration::from_millis(300);
    let collector = collector(sink.clone(), |_| {}).await;
    let original = batch(10);
    // A retry while the first attempt is still in the pipeline...
    let first = {
        let mut client = client(&collector).await;
        let batch = original.clone();
        tokio::spawn(async move { client.ingest(batch).await })
    };
    let mut client = client(&collector).await;
    assert!(wait_until(DEADLINE, || collector.metrics().events_received.get() == 10).await);
    let retry = client.ingest(original.clone()).await.unwrap().into_inner();
    let first = first.await.unwrap().unwrap().into_inner();
    assert_eq!((first.accepted, retry.accepted), (10, 10));
    // ...and one after it was stored, on a new connection.
    let late = client.ingest(original).await.unwrap().into_inner();
    assert_eq!(late.accepted, 10);
    assert_eq!(sink.row_count(), 10, "stored once");
    assert_eq!(collector.metrics().batches_deduplicated.get(), 2);
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_batches_are_in_flight_on_one_connection() {
    use std::sync::atomic::Ordering;
    let sink = Arc::new(MemorySink::default());
    *sink.delay.lock() = std::time::Duration::from_millis(300);
    let collector = collector(sink.clone(), |c| c.batch_size = 1_000).await;
    let (proxy, counts) = counting_proxy(collector.grpc_addr()).await;
    let sdk = sdk(GrpcConfig::new(format!("http://{proxy}")), |c| {
        c.batch_size(10)
            .max_in_flight(4)
            .batch_timeout(std::time::Duration::from_secs(3600))
    });
    emit(&sdk, 40);
    // All four batches reach the collector while none is answered yet
    // (the sink is slow): they are in flight together...
    assert!(wait_until(DEADLINE, || collector.metrics().events_received.get() == 40).await);
    assert_eq!(sink.row_count(), 0);
    assert_eq!(sdk.metrics().batches_in_flight, 4);
    flush(&sdk).await;
    assert_eq!(sink.row_count(), 40);
    // ...over one connection.
    assert_eq!(counts.connections.load(Ordering::SeqCst), 1);
    shutdown_sdk(sdk).await;
    collector.shutdown().await.unwrap();
}
