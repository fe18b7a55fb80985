//! The whole path for programs that log through `tracing` or through `log`
//! only: the layer (or the `log` bridge) -> the global pipeline -> gRPC ->
//! aires-collector -> ClickHouse, every column read back.

mod common;

#[path = "../../aires-collector/tests/common/clickhouse.rs"]
mod clickhouse_server;

use std::sync::Arc;
use std::time::Duration;

use aires_collector::sink::ClickHouseSink;
use aires_collector::CollectorConfig;
use clickhouse_server::{int, TestClickHouse};
use common::{Declined, DEADLINE};
use serde_json::{json, Value as Json};
use tracing_subscriber::layer::SubscriberExt;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// Keeps the tests of this binary apart when they share a process (`cargo
/// test`; cargo-nextest runs each in its own): each runs the global
/// pipeline. Held across awaits, so an async lock.
async fn global_lock() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

async fn collector_into(clickhouse: &TestClickHouse) -> aires_collector::RunningCollector {
    let sink = ClickHouseSink::start(&clickhouse.sink_config())
        .await
        .expect("migrations apply");
    let mut config = CollectorConfig::for_tests();
    config.batch_timeout_ms = 50;
    aires_collector::start(config, Arc::new(sink))
        .await
        .expect("collector starts")
}

/// The global pipeline, sending to `collector` over gRPC as an
/// application's would (the facade's `init` with an endpoint).
async fn init_sdk(collector: &aires_collector::RunningCollector) -> aires::Guard {
    let endpoint = format!("http://{}", collector.grpc_addr());
    tokio::task::spawn_blocking(move || {
        aires::init(
            aires::Config::new("shop")
                .environment("e2e")
                .env_overrides(false)
                .level(aires::LevelFilter::TRACE)
                .batch_timeout(Duration::from_millis(20))
                .endpoint(endpoint),
        )
    })
    .await
    .unwrap()
    .expect("init with an endpoint")
}

async fn shutdown(guard: aires::Guard) {
    tokio::task::spawn_blocking(move || guard.shutdown(DEADLINE))
        .await
        .unwrap()
        .expect("everything sent");
}

/// Every row of the test's database, oldest first, with the timestamp in
/// nanoseconds.
async fn rows(clickhouse: &TestClickHouse) -> Vec<Json> {
    clickhouse
        .rows("SELECT toUnixTimestamp64Nano(timestamp) AS ts, * FROM events ORDER BY timestamp, id")
        .await
}

#[derive(Debug)]
#[allow(dead_code)]
struct Point {
    x: i32,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_program_logging_only_through_tracing_is_stored_with_every_field() {
    let _lock = global_lock().await;
    let clickhouse = TestClickHouse::start();
    let collector = collector_into(&clickhouse).await;
    let guard = init_sdk(&collector).await;
    let started_ns = aires_core::__private::system_unix_nanos();

    // The application: the facade's layer in an ordinary subscriber.
    let subscriber = tracing_subscriber::registry().with(aires::tracing::layer());
    let (mut line, mut plain_line) = (0, 0);
    tracing::subscriber::with_default(subscriber, || {
        let request = tracing::info_span!(
            "request",
            trace_id = TRACE,
            session_id = "sess-9",
            user = "ada",
            attempt = 1
        );
        let _request = request.enter();
        let payment = tracing::info_span!("payment", attempt = 2);
        let _payment = payment.enter();
        let err = Declined(std::io::Error::other("gateway timeout"));
        line = line!() + 1;
        tracing::error!(
            target: "shop::payments",
            int = -5,
            uint = u64::MAX,
            float = 2.5,
            yes = true,
            text = "EUR",
            point = ?Point { x: 1 },
            http.method = "POST",
            http.route = "/pay",
            http.path = "/pay/42",
            http.status_code = 502,
            http.duration_ms = 12.5,
            error = &err as &dyn std::error::Error,
            "payment {} failed",
            42
        );
        drop((_payment, _request));
        plain_line = line!() + 1;
        tracing::debug!("plain");
    });
    shutdown(guard).await;

    let rows = rows(&clickhouse).await;
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let row = &rows[0];
    assert!(int(&row["ts"]) >= i128::from(started_ns));
    assert_eq!(row["service"], "shop");
    assert_eq!(row["environment"], "e2e");
    assert_eq!(row["sdk_name"], "aires-rust");
    assert_eq!(row["severity"], "error");
    assert_eq!(row["message"], "payment 42 failed");
    assert_eq!(int(&row["attributes_int"]["int"]), -5);
    // The inner span's value wins over the outer's.
    assert_eq!(int(&row["attributes_int"]["attempt"]), 2);
    assert_eq!(row["attributes_string"]["uint"], u64::MAX.to_string());
    assert_eq!(row["attributes_float"]["float"], 2.5);
    assert_eq!(row["attributes_bool"]["yes"], true);
    assert_eq!(
        row["attributes_string"],
        json!({
            "uint": u64::MAX.to_string(),
            "text": "EUR",
            "point": "Point { x: 1 }",
            "target": "shop::payments",
            "user": "ada",
        })
    );
    assert_eq!(row["trace_id"], TRACE);
    let span_id = row["span_id"].as_str().unwrap();
    assert_eq!(span_id.len(), 16);
    assert_ne!(span_id, "0000000000000000");
    assert_eq!(row["session_id"], "sess-9");
    assert_eq!(row["http_method"], "POST");
    assert_eq!(row["http_route"], "/pay");
    assert_eq!(row["http_path"], "/pay/42");
    assert_eq!(row["http_status"], 502);
    assert_eq!(int(&row["http_duration_ns"]), 12_500_000);
    assert_eq!(row["error_type"], "", "unknown behind &dyn Error");
    assert_eq!(row["error_message"], "payment declined");
    assert_eq!(row["error_chain"], json!(["gateway timeout"]));
    assert_eq!(row["file"], file!());
    assert_eq!(row["line"], line);
    assert_eq!(row["module"], module_path!());

    let plain = &rows[1];
    assert_eq!(plain["severity"], "debug");
    assert_eq!(plain["message"], "plain");
    assert_eq!(plain["trace_id"], "", "outside any span");
    assert_eq!(plain["attributes_string"], json!({}));
    assert_eq!(plain["http_method"], "");
    assert_eq!(plain["error_message"], "");
    assert_eq!(plain["line"], plain_line);

    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_program_logging_only_through_log_is_stored_with_every_field() {
    let _lock = global_lock().await;
    let clickhouse = TestClickHouse::start();
    let collector = collector_into(&clickhouse).await;
    let guard = init_sdk(&collector).await;
    aires::log::init().expect("the only logger of this process");

    let err = Declined(std::io::Error::other("gateway timeout"));
    let line = line!() + 1;
    log::error!(
        target: "shop::payments",
        int = -5,
        uint = u64::MAX,
        float = 2.5,
        yes = true,
        text = "EUR",
        point:? = Point { x: 1 },
        cause:err = err;
        "payment {} failed",
        42
    );
    let plain_line = line!() + 1;
    log::trace!("plain");
    shutdown(guard).await;

    let rows = rows(&clickhouse).await;
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let row = &rows[0];
    assert_eq!(row["service"], "shop");
    assert_eq!(row["environment"], "e2e");
    assert_eq!(row["severity"], "error");
    assert_eq!(row["message"], "payment 42 failed");
    assert_eq!(row["attributes_int"], json!({"int": -5}));
    assert_eq!(row["attributes_float"], json!({"float": 2.5}));
    assert_eq!(row["attributes_bool"], json!({"yes": true}));
    assert_eq!(
        row["attributes_string"],
        json!({
            "target": "shop::payments",
            "uint": u64::MAX.to_string(),
            "text": "EUR",
            "point": "Point { x: 1 }",
        })
    );
    assert_eq!(row["trace_id"], "");
    assert_eq!(row["error_type"], "", "unknown behind log's &dyn Error");
    assert_eq!(row["error_message"], "payment declined");
    assert_eq!(row["error_chain"], json!(["gateway timeout"]));
    assert_eq!(row["file"], file!());
    assert_eq!(row["line"], line);
    assert_eq!(row["module"], module_path!());

    let plain = &rows[1];
    assert_eq!(plain["severity"], "trace");
    assert_eq!(plain["message"], "plain");
    assert_eq!(plain["attributes_string"], json!({}));
    assert_eq!(plain["error_message"], "");
    assert_eq!(plain["line"], plain_line);

    collector.shutdown().await.unwrap();
}
