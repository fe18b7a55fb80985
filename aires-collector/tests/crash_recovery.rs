//! The write-ahead log (`--data-dir`) across a SIGKILL of the collector
//! binary: an insert stored and never answered is not stored again, a
//! batch answered as persisted is stored after the restart, and a damaged
//! log does not stop the collector from starting.

#[path = "common/clickhouse.rs"]
mod clickhouse_server;
mod common;
#[path = "common/process.rs"]
mod process;
#[path = "common/raw.rs"]
mod raw;

use std::time::{Duration, Instant};

use aires_proto::v1 as proto;
use clickhouse_server::{int, TestClickHouse};
use common::{batch, AnswerSwallowingProxy, CuttableProxy};
use process::CollectorProcess;
use prost::Message;
use raw::{raw_client_at, RawCodec};

const DEADLINE: Duration = Duration::from_secs(60);

/// The binary storing into `clickhouse` (at `url`, which may be a proxy)
/// with its log in `data_dir`, and `extra` flags.
fn collector(
    clickhouse: &TestClickHouse,
    url: &str,
    data_dir: &std::path::Path,
    extra: &[&str],
) -> CollectorProcess {
    let mut args = vec![
        "--sink",
        "clickhouse",
        "--clickhouse-url",
        url,
        "--clickhouse-database",
        &clickhouse.database,
        "--data-dir",
        data_dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    CollectorProcess::start(&args)
}

async fn ingest(
    endpoint: &str,
    batch: &proto::EventBatch,
) -> Result<proto::IngestResponse, tonic::Status> {
    raw_client_at(endpoint)
        .await
        .unary(
            tonic::Request::new(bytes::Bytes::from(batch.encode_to_vec())),
            http::uri::PathAndQuery::from_static("/aires.v1.Collector/Ingest"),
            RawCodec::<proto::IngestResponse>::default(),
        )
        .await
        .map(|r| r.into_inner())
}

async fn count(clickhouse: &TestClickHouse, sql: &str) -> i128 {
    int(&clickhouse.rows(sql).await[0]["n"])
}

async fn wait_for_count(clickhouse: &TestClickHouse, sql: &str, expected: i128) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let n = count(clickhouse, sql).await;
        if n == expected {
            return;
        }
        assert!(Instant::now() < deadline, "{sql}: {n}, expected {expected}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every count that must agree once each event is stored once.
async fn assert_stored_once(clickhouse: &TestClickHouse, events: i128) {
    for sql in [
        "SELECT count() AS n FROM events",
        "SELECT uniqExact(id) AS n FROM events",
        "SELECT sum(total) AS n FROM error_rate_per_minute",
        "SELECT sum(rows) AS n FROM batches FINAL",
    ] {
        assert_eq!(count(clickhouse, sql).await, events, "{sql}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_insert_stored_and_never_answered_is_not_stored_again_after_a_kill_and_restart() {
    let clickhouse = TestClickHouse::start();
    let proxy = AnswerSwallowingProxy::to(clickhouse.addr()).await;
    let dir = tempfile::tempdir().unwrap();
    let through_proxy = format!("http://{}", proxy.addr);
    let first = collector(
        &clickhouse,
        &through_proxy,
        dir.path(),
        &["--batch-timeout-ms", "300"],
    );
    // Stored normally: the sink has the table's schema from here on.
    ingest(&first.grpc, &batch(1)).await.unwrap();
    proxy.swallow();
    // Two batches, merged into one insert that is stored but whose answer
    // never comes back; then the collector is killed.
    let batches = [batch(40), batch(60)];
    let calls: Vec<_> = batches
        .iter()
        .map(|b| {
            let (endpoint, b) = (first.grpc.clone(), b.clone());
            tokio::spawn(async move { ingest(&endpoint, &b).await })
        })
        .collect();
    wait_for_count(&clickhouse, "SELECT count() AS n FROM events", 101).await;
    first.kill();
    for call in calls {
        assert!(call.await.unwrap().is_err(), "never answered");
    }

    // Restarted on the same log, straight to ClickHouse. The client
    // retries each batch alone, without marking it as a retry (as a client
    // written from proto/ may): the log knows them.
    let second = collector(
        &clickhouse,
        &clickhouse.url,
        dir.path(),
        &["--batch-timeout-ms", "20"],
    );
    for b in &batches {
        let answer = ingest(&second.grpc, b).await.unwrap();
        assert_eq!(answer.accepted as usize, b.events.len());
    }
    assert_stored_once(&clickhouse, 101).await;
    assert!(
        second
            .log()
            .contains("storing what the write-ahead log held"),
        "{}",
        second.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_answered_as_persisted_is_stored_after_a_kill_while_clickhouse_was_away() {
    let clickhouse = TestClickHouse::start();
    let proxy = CuttableProxy::to(clickhouse.addr()).await;
    let dir = tempfile::tempdir().unwrap();
    let through_proxy = format!("http://{}", proxy.addr);
    let first = collector(
        &clickhouse,
        &through_proxy,
        dir.path(),
        &["--ack", "persisted", "--batch-timeout-ms", "20"],
    );
    ingest(&first.grpc, &batch(1)).await.unwrap();
    wait_for_count(&clickhouse, "SELECT count() AS n FROM events", 1).await;
    proxy.cut();
    // ClickHouse is unreachable, yet the answer comes: the batch is in the
    // log.
    let persisted = batch(50);
    let answer = tokio::time::timeout(Duration::from_secs(10), ingest(&first.grpc, &persisted))
        .await
        .expect("answered without waiting for ClickHouse")
        .unwrap();
    assert_eq!(answer.accepted, 50);
    first.kill();
    proxy.restore();

    // No client sends it again: the restarted collector stores it.
    let second = collector(&clickhouse, &clickhouse.url, dir.path(), &[]);
    wait_for_count(&clickhouse, "SELECT count() AS n FROM events", 51).await;
    assert_stored_once(&clickhouse, 51).await;
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_log_is_reported_and_skipped_and_the_collector_serves() {
    let dir = tempfile::tempdir().unwrap();
    // A segment with a valid start and garbage after it, and a newer one.
    let mut damaged = b"AIRESWL1".to_vec();
    damaged.extend_from_slice(&[0xde; 64]);
    std::fs::write(dir.path().join("00000000000000000000.wal"), &damaged).unwrap();
    std::fs::write(dir.path().join("00000000000000000005.wal"), b"AIRESWL1").unwrap();
    let collector =
        CollectorProcess::start(&["--sink", "null", "--data-dir", dir.path().to_str().unwrap()]);
    let answer = ingest(&collector.grpc, &batch(3)).await.unwrap();
    assert_eq!(answer.accepted, 3);
    assert!(
        collector.log().contains("is damaged"),
        "the damage is reported:\n{}",
        collector.log()
    );
}

#[test]
fn persisted_acks_need_a_data_dir() {
    let error =
        aires_collector::CollectorConfig::load_from(["aires-collector", "--ack", "persisted"])
            .unwrap_err();
    assert!(error.to_string().contains("--data-dir"), "{error}");
}
