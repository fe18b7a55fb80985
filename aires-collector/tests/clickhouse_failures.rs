//! Failures around ClickHouse: an outage mid-run, a collector restart
//! mid-run, a schema that does not match, a wrong password, a server that
//! hangs before the first insert.

mod common;

#[path = "common/clickhouse.rs"]
mod clickhouse_server;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aires_collector::sink::{ClickHouseSink, SinkErrorKind};
use aires_collector::CollectorConfig;
use aires_core::RetryPolicy;
use aires_transport_grpc::GrpcConfig;
use clickhouse_server::{int, TestClickHouse};
use common::*;

async fn start_collector(
    clickhouse: &TestClickHouse,
    listen: Option<std::net::SocketAddr>,
) -> aires_collector::RunningCollector {
    let sink = ClickHouseSink::start(&clickhouse.sink_config())
        .await
        .expect("sink starts");
    let mut config = CollectorConfig::for_tests();
    config.batch_timeout_ms = 50;
    if let Some(listen) = listen {
        config.listen = listen;
    }
    aires_collector::start(config, Arc::new(sink))
        .await
        .expect("collector starts")
}

/// A collector reaching `clickhouse` through a proxy that can be cut.
async fn collector_behind_proxy(
    clickhouse: &TestClickHouse,
) -> (aires_collector::RunningCollector, CuttableProxy) {
    let proxy = CuttableProxy::to(clickhouse.addr()).await;
    let sink = ClickHouseSink::start(&clickhouse.sink_config_via(proxy.addr))
        .await
        .expect("sink starts");
    let mut config = CollectorConfig::for_tests();
    config.batch_timeout_ms = 50;
    let collector = aires_collector::start(config, Arc::new(sink))
        .await
        .expect("collector starts");
    (collector, proxy)
}

/// Emits `count` numbered events from a thread, a few at a time, until done.
fn produce(
    sdk: &aires_core::Pipeline,
    count: usize,
) -> (tokio::task::JoinHandle<()>, Arc<AtomicBool>) {
    let done = Arc::new(AtomicBool::new(false));
    let sdk = sdk.clone();
    let finished = done.clone();
    let handle = tokio::task::spawn_blocking(move || {
        for i in 0..count {
            sdk.emit(
                aires_core::Event::builder(aires_core::Level::Info, "steady traffic")
                    .attr("i", i as i64)
                    .build(),
            );
            if i % 50 == 49 {
                // Spread the events over time so the failure lands mid-run.
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        finished.store(true, Ordering::SeqCst);
    });
    (handle, done)
}

async fn assert_each_exactly_once(clickhouse: &TestClickHouse, count: usize) {
    let rows = clickhouse
        .rows("SELECT count() AS n, uniqExact(attributes_int['i']) AS distinct_i FROM events")
        .await;
    assert_eq!(int(&rows[0]["n"]), count as i128, "rows stored");
    assert_eq!(
        int(&rows[0]["distinct_i"]),
        count as i128,
        "distinct events"
    );
    let views = clickhouse
        .rows("SELECT sum(total) AS total FROM error_rate_per_minute")
        .await;
    assert_eq!(
        int(&views[0]["total"]),
        count as i128,
        "the view counted each once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clickhouse_outage_mid_run_loses_and_duplicates_nothing() {
    let clickhouse = TestClickHouse::start();
    let (collector, proxy) = collector_behind_proxy(&clickhouse).await;
    // The application prefers waiting to dropping while the outage lasts
    // longer than its buffers cover.
    let sdk = sdk(GrpcConfig::new(endpoint(&collector)), |c| {
        c.batch_size(50).overflow(aires_core::OverflowPolicy::Block)
    });
    const EVENTS: usize = 6_000;
    let (producer, _) = produce(&sdk, EVENTS);

    // Some events are stored, then ClickHouse becomes unreachable...
    assert!(wait_until(DEADLINE, || collector.metrics().events_inserted.get() > 200).await);
    proxy.cut();
    // ...for a few seconds: five failed writes, retried after 0.1 + 0.2 +
    // 0.4 + 0.8 + 1.6 s of backoff.
    assert!(wait_until(DEADLINE, || collector.metrics().sink_retries.get() >= 5).await);
    proxy.restore();

    producer.await.unwrap();
    flush(&sdk).await;
    assert_eq!(sdk.metrics().events_dropped(), 0);
    assert_each_exactly_once(&clickhouse, EVENTS).await;
    shutdown_sdk(sdk).await;
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_collector_restart_mid_run_loses_nothing() {
    let clickhouse = TestClickHouse::start();
    let first = start_collector(&clickhouse, None).await;
    let address = first.grpc_addr();
    let sdk = sdk(GrpcConfig::new(endpoint(&first)), |c| {
        c.batch_size(50)
            .overflow(aires_core::OverflowPolicy::Block)
            .retry(
                RetryPolicy::default()
                    .max_elapsed(Duration::from_secs(60))
                    .initial_backoff(Duration::from_millis(50))
                    .max_backoff(Duration::from_millis(500)),
            )
    });
    const EVENTS: usize = 3_000;
    let (producer, _) = produce(&sdk, EVENTS);
    assert!(wait_until(DEADLINE, || first.metrics().events_inserted.get() > 200).await);
    // A rolling restart: the old instance drains, a new one takes its address.
    first.shutdown().await.unwrap();
    let second = start_collector(&clickhouse, Some(address)).await;

    producer.await.unwrap();
    flush(&sdk).await;
    assert_eq!(sdk.metrics().events_dropped(), 0);
    assert_each_exactly_once(&clickhouse, EVENTS).await;
    shutdown_sdk(sdk).await;
    second.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_sdk_defaults_a_collector_restart_of_two_seconds_loses_nothing() {
    let clickhouse = TestClickHouse::start();
    let first = start_collector(&clickhouse, None).await;
    let address = first.grpc_addr();
    // Nothing but the endpoint: the retry policy, the queue and the
    // overflow policy are the SDK's defaults.
    let sdk = sdk(GrpcConfig::new(endpoint(&first)), |c| c);
    const EVENTS: usize = 3_000;
    let (producer, _) = produce(&sdk, EVENTS);
    assert!(wait_until(DEADLINE, || first.metrics().events_inserted.get() > 200).await);
    // A redeploy: the old instance drains and stops; the new one takes two
    // seconds to come up at the same address.
    first.shutdown().await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let second = start_collector(&clickhouse, Some(address)).await;

    producer.await.unwrap();
    flush(&sdk).await;
    let metrics = sdk.metrics();
    assert_eq!(metrics.events_dropped(), 0, "{metrics:?}");
    assert_eq!(metrics.events_outcome_unknown, 0, "{metrics:?}");
    assert!(
        metrics.batch_retries > 0,
        "the restart was felt: {metrics:?}"
    );
    assert_each_exactly_once(&clickhouse, EVENTS).await;
    shutdown_sdk(sdk).await;
    second.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_given_up_on_while_the_collector_holds_them_are_unknown_not_dropped() {
    let clickhouse = TestClickHouse::start();
    let (collector, proxy) = collector_behind_proxy(&clickhouse).await;
    // An outage longer than the SDK's whole retry budget: the collector
    // holds the batches (and answers nothing) until ClickHouse is back.
    proxy.cut();
    let sdk = sdk(GrpcConfig::new(endpoint(&collector)), |c| {
        c.batch_size(100)
            .send_timeout(Duration::from_millis(300))
            .retry(
                RetryPolicy::default()
                    .max_elapsed(Duration::from_secs(1))
                    .initial_backoff(Duration::from_millis(50))
                    .max_backoff(Duration::from_millis(200)),
            )
    });
    emit(&sdk, 500);
    flush(&sdk).await;
    let metrics = sdk.metrics();
    assert_eq!(metrics.events_outcome_unknown, 500, "{metrics:?}");
    assert_eq!(metrics.events_dropped(), 0, "{metrics:?}");
    proxy.restore();
    // The collector stores them all: they were never lost, and counting them
    // as dropped would have been false.
    assert!(
        wait_until(DEADLINE, || collector.metrics().events_inserted.get()
            == 500)
        .await
    );
    assert_each_exactly_once(&clickhouse, 500).await;
    shutdown_sdk(sdk).await;
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_mismatch_is_a_clear_permanent_error() {
    let clickhouse = TestClickHouse::start();
    // Someone else's table where events should be.
    let admin = clickhouse.server_client();
    admin
        .query(&format!("CREATE DATABASE {}", clickhouse.database))
        .execute()
        .await
        .unwrap();
    admin
        .query(&format!(
            "CREATE TABLE {}.events (id UInt64, note String) ENGINE = MergeTree ORDER BY id",
            clickhouse.database
        ))
        .execute()
        .await
        .unwrap();
    let mut config = clickhouse.sink_config();
    config.migrate = false;
    let sink = ClickHouseSink::start(&config).await.unwrap();
    let mut collector_config = CollectorConfig::for_tests();
    collector_config.batch_timeout_ms = 20;
    let collector = aires_collector::start(collector_config, Arc::new(sink))
        .await
        .unwrap();

    let status = client(&collector).await.ingest(batch(3)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert!(
        status.message().contains("schema mismatch"),
        "{}",
        status.message()
    );
    assert_eq!(collector.metrics().events_failed.get(), 3);
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_a_clear_permanent_error() {
    let clickhouse = TestClickHouse::start_with_login("aires", "right");
    let mut config = clickhouse.sink_config();
    config.password = "wrong".into();
    let error = ClickHouseSink::start(&config).await.unwrap_err();
    assert_eq!(error.kind, SinkErrorKind::Permanent);
    assert!(
        error.message.contains("Authentication failed"),
        "{}",
        error.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_hangs_before_the_first_insert_fails_the_write_in_time() {
    use aires_collector::identity::{Digest, Part};
    use aires_collector::{RowBatch, Sink};
    let clickhouse = TestClickHouse::start();
    let proxy = AnswerSwallowingProxy::to(clickhouse.addr()).await;
    let mut config = clickhouse.sink_config_via(proxy.addr);
    config.timeout = Duration::from_secs(1);
    let sink = ClickHouseSink::start(&config).await.expect("sink starts");
    // The server takes requests and never answers, before the sink's first
    // insert, which looks the table's schema up first.
    proxy.swallow();
    let batch = RowBatch::alone(
        vec![aires_collector::row::Row::default()],
        Part {
            digest: Digest([7; 16]),
            received_ns: 0,
            rows: 1,
        },
    );
    let failed = tokio::time::timeout(DEADLINE, sink.write(&batch))
        .await
        .expect("the write hung past its timeout")
        .expect_err("nothing answered");
    assert_eq!(failed.kind, SinkErrorKind::Transient, "{failed}");
}
