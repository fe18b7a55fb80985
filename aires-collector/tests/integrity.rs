//! One buggy or hostile client cannot make another client's acknowledged
//! events vanish, and an answer always means what it says. Each case sends
//! raw requests to a real collector storing into a real ClickHouse engine
//! and checks the stored rows, not only the answers.

mod common;

#[path = "common/clickhouse.rs"]
mod clickhouse_server;
#[path = "common/raw.rs"]
mod raw;

use std::sync::Arc;
use std::time::Duration;

use aires_collector::sink::ClickHouseSink;
use aires_collector::CollectorConfig;
use aires_proto::v1 as proto;
use clickhouse_server::{int, TestClickHouse};
use common::*;
use prost::Message;
use raw::*;
use tonic::Code;

async fn collector_into(
    clickhouse: &TestClickHouse,
    configure: impl FnOnce(&mut CollectorConfig),
) -> aires_collector::RunningCollector {
    let sink = ClickHouseSink::start(&clickhouse.sink_config())
        .await
        .expect("migrations apply");
    let mut config = CollectorConfig::for_tests();
    config.batch_timeout_ms = 50;
    configure(&mut config);
    aires_collector::start(config, Arc::new(sink))
        .await
        .expect("collector starts")
}

async fn count(clickhouse: &TestClickHouse, filter: &str) -> i128 {
    let rows = clickhouse
        .rows(&format!("SELECT count() AS n FROM events WHERE {filter}"))
        .await;
    int(&rows[0]["n"])
}

fn uuid(bytes: &[u8]) -> String {
    uuid::Uuid::from_slice(bytes).unwrap().to_string()
}

fn with_zero_event_ids(mut batch: proto::EventBatch) -> proto::EventBatch {
    for event in &mut batch.events {
        event.id = vec![0; 16].into();
    }
    batch
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_with_all_zero_event_ids_never_hide_another_clients_rows() {
    let clickhouse = TestClickHouse::start();
    // A long window, so that the three batches are merged into one insert.
    let collector = collector_into(&clickhouse, |c| c.batch_timeout_ms = 400).await;
    let client = client(&collector).await;
    let (b1, h, b2) = (
        with_zero_event_ids(batch(1)),
        batch(10),
        with_zero_event_ids(batch(1)),
    );
    let h_id = uuid(&h.batch_id);
    let (mut c1, mut ch, mut c2) = (client.clone(), client.clone(), client.clone());
    let (r1, rh, r2) = tokio::join!(c1.ingest(b1), ch.ingest(h), c2.ingest(b2));
    let accepted = [r1, rh, r2].map(|r| r.unwrap().into_inner().accepted);
    assert_eq!(accepted, [1, 10, 1]);
    // The three went into one insert, where the old token saw two batches'
    // worth of all-zero ids at both ends.
    let metrics = collector.metrics().render();
    assert!(
        metrics.contains("aires_collector_batch_rows_count 1\n")
            && metrics.contains("aires_collector_batch_rows_sum 12.0"),
        "{metrics}"
    );
    assert_eq!(
        count(&clickhouse, &format!("batch_id = '{h_id}'")).await,
        10
    );
    assert_eq!(count(&clickhouse, "1").await, 12);

    // Five batches of ten events whose ids are all zero: fifty rows.
    let answers = futures_join_all(
        (0..5)
            .map(|_| {
                let mut client = client.clone();
                async move { client.ingest(with_zero_event_ids(batch(10))).await }
            })
            .collect(),
    )
    .await;
    for answer in answers {
        assert_eq!(answer.unwrap().into_inner().accepted, 10);
    }
    assert_eq!(
        count(
            &clickhouse,
            "id = toUUID('00000000-0000-0000-0000-000000000000')"
        )
        .await,
        52
    );
    assert_eq!(count(&clickhouse, "1").await, 62);
    collector.shutdown().await.unwrap();
}

/// Runs `futures` concurrently and returns their outputs in order.
async fn futures_join_all<T: Send + 'static>(
    futures: Vec<impl std::future::Future<Output = T> + Send + 'static>,
) -> Vec<T> {
    let tasks: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_batch_id_is_refused_and_the_first_batch_stays_stored() {
    let clickhouse = TestClickHouse::start();
    let collector = collector_into(&clickhouse, |_| {}).await;
    let mut client = client(&collector).await;
    let first = batch(5);
    let mut second = batch(7);
    second.batch_id = first.batch_id.clone();
    second.service = "intruder".into();
    let id = uuid(&first.batch_id);
    assert_eq!(
        client
            .ingest(first.clone())
            .await
            .unwrap()
            .into_inner()
            .accepted,
        5
    );
    let status = client.ingest(second.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    assert!(status.message().contains(&id), "{}", status.message());
    // Asked again, the answer is the same.
    let status = client.ingest(second).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    // A true retry (the same bytes) is answered as stored, and not stored again.
    assert_eq!(client.ingest(first).await.unwrap().into_inner().accepted, 5);
    assert_eq!(count(&clickhouse, &format!("batch_id = '{id}'")).await, 5);
    assert_eq!(count(&clickhouse, "service = 'intruder'").await, 0);

    // A nil batch id is refused.
    let mut nil = batch(2);
    nil.batch_id = vec![0; 16].into();
    let status = client.ingest(nil).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("nil"), "{}", status.message());
    assert_eq!(count(&clickhouse, "1").await, 5);
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_with_other_api_keys_cannot_touch_each_others_batches() {
    let clickhouse = TestClickHouse::start();
    let collector = collector_into(&clickhouse, |c| {
        c.api_keys = vec!["tenant-a".into(), "tenant-b".into()];
    })
    .await;
    let mut client = client(&collector).await;
    let send = |key: &'static str, batch: proto::EventBatch| {
        let mut request = tonic::Request::new(batch);
        request
            .metadata_mut()
            .insert("x-api-key", key.parse().unwrap());
        request
    };
    let mut a = batch(3);
    a.service = "a".into();
    let mut b = batch(4);
    b.service = "b".into();
    b.batch_id = a.batch_id.clone();
    // B takes the id first; A's batch with the same id is still its own.
    for (key, batch, expected) in [("tenant-b", &b, 4), ("tenant-a", &a, 3)] {
        let answer = client.ingest(send(key, batch.clone())).await.unwrap();
        assert_eq!(answer.into_inner().accepted, expected, "{key}");
    }
    // Each one's retry is recognised within its own scope.
    for (key, batch, expected) in [("tenant-a", &a, 3), ("tenant-b", &b, 4)] {
        let answer = client.ingest(send(key, batch.clone())).await.unwrap();
        assert_eq!(answer.into_inner().accepted, expected, "{key} retry");
    }
    // B cannot pass off other content under the id it used.
    let status = client
        .ingest(send("tenant-b", a.clone()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(count(&clickhouse, "service = 'a'").await, 3);
    assert_eq!(count(&clickhouse, "service = 'b'").await, 4);
    // Another scheme is named, not called missing.
    let mut basic = tonic::Request::new(batch(1));
    basic
        .metadata_mut()
        .insert("authorization", "Basic dGVuYW50LWE=".parse().unwrap());
    let status = client.ingest(basic).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(
        status
            .message()
            .contains("unsupported authorization scheme"),
        "{}",
        status.message()
    );
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_event_that_is_not_utf8_leaves_its_nine_neighbours_stored() {
    let clickhouse = TestClickHouse::start();
    let collector = collector_into(&clickhouse, |_| {}).await;
    let ten = batch(10);
    let id = uuid(&ten.batch_id);
    let response = raw_ingest(&collector, with_malformed_message(ten, 4).into())
        .await
        .unwrap();
    assert_eq!((response.accepted, response.rejected), (9, 1));
    assert_eq!(response.rejections[0].index, 4);
    assert_eq!(count(&clickhouse, &format!("batch_id = '{id}'")).await, 9);
    assert_eq!(count(&clickhouse, "message = 'event 4'").await, 0);
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_too_large_for_their_field_are_refused_not_stored_cut() {
    use proto::wide;
    let clickhouse = TestClickHouse::start();
    let collector = collector_into(&clickhouse, |_| {}).await;
    let base = batch(3);
    let mut events: Vec<wide::Event> = base
        .events
        .iter()
        .map(|e| wide::Event::decode(e.encode_to_vec().as_slice()).unwrap())
        .collect();
    events[0].http = Some(wide::HttpInfo {
        method: "GET".into(),
        status_code: (1 << 32) + 200,
        ..Default::default()
    });
    events[1].call_site = Some(wide::CallSite {
        file: "f.rs".into(),
        line: 1 << 40,
        ..Default::default()
    });
    // Past year 2262: kept, with the value sent.
    events[2].timestamp_unix_nano = u64::MAX - 7;
    let encoded = wide::EventBatch {
        batch_id: base.batch_id.clone(),
        service: "wide".into(),
        events: events.iter().map(|e| e.encode_to_vec().into()).collect(),
        ..Default::default()
    }
    .encode_to_vec();
    let response = raw_ingest(&collector, encoded.into()).await.unwrap();
    assert_eq!((response.accepted, response.rejected), (1, 2));
    let reasons: Vec<&str> = response
        .rejections
        .iter()
        .map(|r| r.reason.as_str())
        .collect();
    assert_eq!(
        reasons,
        [
            "http status 4294967496 is not a status code",
            "call_site.line 1099511627776 does not fit uint32"
        ]
    );
    let rows = clickhouse
        .rows(
            "SELECT message, http_status, line, \
             attributes_string['aires.original_timestamp_ns'] AS original FROM events",
        )
        .await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["message"], "event 2");
    assert_eq!(rows[0]["original"], (u64::MAX - 7).to_string());
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unary_call_with_two_messages_is_refused_and_stores_nothing() {
    let sink = Arc::new(MemorySink::default());
    let collector = collector(sink.clone(), |_| {}).await;
    let bodies: Vec<bytes::Bytes> = vec![
        batch(2).encode_to_vec().into(),
        batch(3).encode_to_vec().into(),
    ];
    let status = raw_client(&collector)
        .await
        .client_streaming(
            tonic::Request::new(tokio_stream::iter(bodies)),
            http::uri::PathAndQuery::from_static("/aires.v1.Collector/Ingest"),
            RawCodec::<proto::IngestResponse>::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("exactly one"),
        "{}",
        status.message()
    );
    assert_eq!(sink.row_count(), 0);
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_while_every_call_waits_on_a_slow_store() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    let sink = Arc::new(MemorySink::default());
    *sink.delay.lock() = Duration::from_secs(3);
    let collector = collector(sink.clone(), |c| c.max_concurrent_requests = 8).await;
    // Ten calls: eight in progress, waiting on the store, two held back.
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let endpoint = endpoint(&collector);
            tokio::spawn(async move {
                let mut client = proto::collector_client::CollectorClient::connect(endpoint)
                    .await
                    .unwrap();
                client.ingest(batch(1)).await
            })
        })
        .collect();
    assert!(wait_until(DEADLINE, || *sink.attempts.lock() > 0).await);
    let channel = tonic::transport::Channel::from_shared(endpoint(&collector))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    let answer = tokio::time::timeout(
        Duration::from_secs(1),
        health.check(HealthCheckRequest::default()),
    )
    .await
    .expect("health answers within its deadline")
    .unwrap();
    assert_eq!(answer.into_inner().status, ServingStatus::Serving as i32);
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().into_inner().accepted, 1);
    }
    // While draining, health says NOT_SERVING.
    let mut watch = health
        .watch(HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::Serving as i32);
    let stopping = tokio::spawn(collector.shutdown());
    let next = tokio::time::timeout(DEADLINE, watch.message())
        .await
        .expect("a status change")
        .unwrap()
        .unwrap();
    assert_eq!(next.status, ServingStatus::NotServing as i32);
    drop(watch);
    stopping.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_is_counted_as_cancelled_not_refused() {
    let sink = Arc::new(MemorySink::default());
    *sink.delay.lock() = Duration::from_secs(2);
    let collector = collector(sink.clone(), |_| {}).await;
    let metrics = collector.metrics();
    let mut client = client(&collector).await;
    // A unary call given up while the store is slow: only once the
    // collector has it (a loaded machine may take longer than any fixed
    // wait to deliver it), so that there is something to cancel.
    let unary = {
        let mut client = client.clone();
        tokio::spawn(async move { client.ingest(batch(2)).await })
    };
    assert!(wait_until(DEADLINE, || metrics.events_received.get() >= 2).await);
    unary.abort();
    assert!(
        unary.await.unwrap_err().is_cancelled(),
        "the call was still waiting"
    );
    // A stream reset by its client, once its batch is received.
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(batch(1)).await.unwrap();
    let acks = client
        .ingest_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap();
    assert!(wait_until(DEADLINE, || metrics.events_received.get() >= 3).await);
    drop(acks);
    drop(tx);
    drop(client);
    assert!(
        wait_until(DEADLINE, || metrics.requests_cancelled.get() >= 2).await,
        "cancellations counted: {}",
        metrics.requests_cancelled.get()
    );
    assert_eq!(metrics.requests_rejected.get(), 0);
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_whose_acks_are_never_read_stops_being_read() {
    let sink = Arc::new(MemorySink::default());
    let collector = collector(sink.clone(), |c| c.max_stream_pending_batches = 8).await;
    // The client runs on a runtime of its own, shut down at the end as a
    // client process that exits would be (a client that never reads holds
    // a graceful shutdown until its timeout).
    let client_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let endpoint = endpoint(&collector);
    client_runtime.spawn(async move {
        let mut client = proto::collector_client::CollectorClient::connect(endpoint)
            .await
            .unwrap();
        // 10,000 batches of 100 refused events, acks never read.
        let refused = |_| {
            let mut batch = batch(100);
            for event in &mut batch.events {
                event.severity = 0;
            }
            batch
        };
        let batches = tokio_stream::iter((0..10_000).map(refused));
        let _acks = client.ingest_stream(batches).await.unwrap();
        std::future::pending::<()>().await;
    });
    let metrics = collector.metrics();
    // The stream is read until its acks fill the connection's window and
    // eight more wait; then it is not read any further.
    let deadline = std::time::Instant::now() + DEADLINE;
    let mut last = metrics.events_received.get();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = metrics.events_received.get();
        if now == last && now > 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still reading: {now}");
        last = now;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let read = metrics.events_received.get();
    assert_eq!(read, last, "no more is read while the acks wait");
    assert!(read < 10_000 * 100 / 10, "{read} events read of 1,000,000");
    client_runtime.shutdown_background();
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_batch_id_is_refused_while_the_first_is_still_being_stored() {
    let sink = Arc::new(MemorySink::default());
    *sink.delay.lock() = Duration::from_millis(500);
    let collector = collector(sink.clone(), |_| {}).await;
    let first = batch(3);
    let mut second = batch(4);
    second.batch_id = first.batch_id.clone();
    let mut client_a = client(&collector).await;
    let storing = tokio::spawn(async move { client_a.ingest(first).await });
    assert!(wait_until(DEADLINE, || *sink.attempts.lock() > 0).await);
    let status = client(&collector).await.ingest(second).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    assert_eq!(storing.await.unwrap().unwrap().into_inner().accepted, 3);
    assert_eq!(indexes(&sink.rows()), [0, 1, 2]);
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_over_the_limit_are_refused_and_idle_streams_are_ended() {
    let sink = Arc::new(MemorySink::default());
    let collector = collector(sink.clone(), |c| {
        c.max_open_streams = 1;
        c.stream_idle_timeout_secs = 1;
    })
    .await;
    let mut client = client(&collector).await;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(batch(2)).await.unwrap();
    let mut acks = client
        .ingest_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(acks.message().await.unwrap().unwrap().accepted, 2);
    // A second stream while the first is open: refused at once.
    let refused = client
        .ingest_stream(tokio_stream::iter(vec![batch(1)]))
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(
        refused.message().contains("too many open streams"),
        "{}",
        refused.message()
    );
    // Unary calls are not held behind the stream.
    assert_eq!(
        client.ingest(batch(1)).await.unwrap().into_inner().accepted,
        1
    );
    // The first stream, idle, is ended; its slot is free again.
    let ended = tokio::time::timeout(DEADLINE, acks.message())
        .await
        .expect("the idle stream ends")
        .unwrap_err();
    assert_eq!(ended.code(), Code::Unavailable);
    assert!(
        ended.message().contains("no batch for 1 s"),
        "{}",
        ended.message()
    );
    let mut again = client
        .ingest_stream(tokio_stream::iter(vec![batch(3)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.message().await.unwrap().unwrap().accepted, 3);
    drop(tx);
    assert_eq!(sink.row_count(), 6);
    collector.shutdown().await.unwrap();
}
