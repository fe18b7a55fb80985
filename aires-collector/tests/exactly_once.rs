//! Exactly once across collectors: a retry of a batch that was stored by a
//! collector which then died without answering (or that is retried through
//! another instance) is recognised in the `batches` ledger and not stored
//! again, in the base table or in any view.

#[path = "common/clickhouse.rs"]
mod clickhouse_server;
mod common;
#[path = "common/raw.rs"]
mod raw;

use std::sync::Arc;
use std::time::Duration;

use aires_collector::sink::ClickHouseSink;
use aires_collector::CollectorConfig;
use aires_proto::v1 as proto;
use clickhouse_server::{int, TestClickHouse};
use common::{batch, AnswerSwallowingProxy, CuttableProxy};
use prost::Message;
use raw::raw_ingest;

const DEADLINE: Duration = Duration::from_secs(60);

async fn start_collector(
    sink: ClickHouseSink,
    batch_timeout_ms: u64,
) -> aires_collector::RunningCollector {
    let mut config = CollectorConfig::for_tests();
    config.batch_timeout_ms = batch_timeout_ms;
    aires_collector::start(config, Arc::new(sink))
        .await
        .expect("collector starts")
}

/// A collector writing straight to `clickhouse`.
async fn direct_collector(clickhouse: &TestClickHouse) -> aires_collector::RunningCollector {
    let sink = ClickHouseSink::start(&clickhouse.sink_config())
        .await
        .unwrap();
    start_collector(sink, 20).await
}

/// `batch` as a client sends its attempt number `attempt`.
fn attempt(batch: &proto::EventBatch, attempt: u32) -> bytes::Bytes {
    proto::EventBatch {
        attempt,
        ..batch.clone()
    }
    .encode_to_vec()
    .into()
}

async fn count(clickhouse: &TestClickHouse, sql: &str) -> i128 {
    int(&clickhouse.rows(sql).await[0]["n"])
}

/// Waits until `sql` (a count named `n`) reaches `expected`.
async fn wait_for_count(clickhouse: &TestClickHouse, sql: &str, expected: i128) {
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        let n = count(clickhouse, sql).await;
        if n == expected {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{sql}: {n}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_stored_by_a_collector_that_died_unanswered_are_not_stored_again_on_retry() {
    let clickhouse = TestClickHouse::start();
    let proxy = AnswerSwallowingProxy::to(clickhouse.addr()).await;
    let through_proxy = clickhouse.sink_config_via(proxy.addr);
    // The first collector merges both batches into one insert, which is
    // stored, but whose answer never reaches it.
    let first = start_collector(ClickHouseSink::start(&through_proxy).await.unwrap(), 300).await;
    // One batch stored normally first: the sink has looked the table's
    // schema up, so what follows is only the insert.
    raw_ingest(&first, attempt(&batch(1), 1)).await.unwrap();
    proxy.swallow();
    let batches = [batch(40), batch(60)];
    let calls: Vec<_> = batches
        .iter()
        .map(|b| {
            let body = attempt(b, 1);
            let first = &first;
            let endpoint = common::endpoint(first);
            tokio::spawn(async move {
                let mut client = raw::raw_client_at(&endpoint).await;
                client
                    .unary(
                        tonic::Request::new(body),
                        http::uri::PathAndQuery::from_static("/aires.v1.Collector/Ingest"),
                        raw::RawCodec::<proto::IngestResponse>::default(),
                    )
                    .await
            })
        })
        .collect();
    wait_for_count(&clickhouse, "SELECT count() AS n FROM events", 101).await;
    // The first collector is gone for its clients: no answer ever comes.
    for call in calls {
        call.abort();
    }

    // The client retries each batch, one at a time (so neither is merged
    // with the same neighbour as before), through another collector (or the
    // same one restarted: either has no memory of the batches).
    let second = direct_collector(&clickhouse).await;
    for b in &batches {
        let answer = raw_ingest(&second, attempt(b, 2)).await.unwrap();
        assert_eq!(answer.accepted as usize, b.events.len());
        assert_eq!(answer.rejected, 0);
    }
    let metrics = second.metrics();
    assert_eq!(metrics.ledger_lookups.get(), 2);
    assert_eq!(metrics.batches_deduplicated.get(), 2);
    assert_eq!(metrics.events_inserted.get(), 0);

    // Once in the base table, once in every view, once in the ledger
    // (with the batch stored first).
    assert_eq!(
        count(&clickhouse, "SELECT count() AS n FROM events").await,
        101
    );
    assert_eq!(
        count(&clickhouse, "SELECT uniqExact(id) AS n FROM events").await,
        101
    );
    assert_eq!(
        count(
            &clickhouse,
            "SELECT sum(total) AS n FROM error_rate_per_minute"
        )
        .await,
        101
    );
    assert_eq!(
        count(&clickhouse, "SELECT sum(rows) AS n FROM batches FINAL").await,
        101
    );
    assert_eq!(
        count(&clickhouse, "SELECT count() AS n FROM batches FINAL").await,
        3
    );
    drop(first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_of_a_batch_never_stored_is_stored_and_first_attempts_are_never_looked_up() {
    let clickhouse = TestClickHouse::start();
    let collector = direct_collector(&clickhouse).await;
    let lost = batch(30);
    let answer = raw_ingest(&collector, attempt(&lost, 3)).await.unwrap();
    assert_eq!(answer.accepted, 30);
    for _ in 0..3 {
        raw_ingest(&collector, attempt(&batch(10), 1))
            .await
            .unwrap();
    }
    let metrics = collector.metrics();
    assert_eq!(
        metrics.ledger_lookups.get(),
        1,
        "only the retry is looked up"
    );
    assert_eq!(metrics.batches_deduplicated.get(), 0);
    assert_eq!(
        count(&clickhouse, "SELECT count() AS n FROM events").await,
        60
    );
    // A retry this collector stored itself is answered from its memory.
    raw_ingest(&collector, attempt(&lost, 4)).await.unwrap();
    assert_eq!(collector.metrics().batches_deduplicated.get(), 1);
    assert_eq!(collector.metrics().ledger_lookups.get(), 1);
    assert_eq!(
        count(&clickhouse, "SELECT count() AS n FROM events").await,
        60
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_that_cannot_be_looked_up_is_refused_as_unavailable_and_stores_nothing() {
    let clickhouse = TestClickHouse::start();
    let proxy = CuttableProxy::to(clickhouse.addr()).await;
    let mut through_proxy = clickhouse.sink_config_via(proxy.addr);
    through_proxy.timeout = Duration::from_secs(2);
    let collector = start_collector(ClickHouseSink::start(&through_proxy).await.unwrap(), 20).await;
    proxy.cut();
    let retry = batch(25);
    let status = raw_ingest(&collector, attempt(&retry, 2))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(
        status
            .message()
            .contains("cannot check whether this retried batch is already stored"),
        "{}",
        status.message()
    );
    proxy.restore();
    // The client retries again, and this time it is looked up and stored.
    let answer = raw_ingest(&collector, attempt(&retry, 3)).await.unwrap();
    assert_eq!(answer.accepted, 25);
    assert_eq!(
        count(&clickhouse, "SELECT count() AS n FROM events").await,
        25
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_attempt_number_is_not_part_of_the_batch() {
    // Inside one collector, a retry with a new attempt number is the same
    // batch (not "the same id with other content").
    let clickhouse = TestClickHouse::start();
    let collector = direct_collector(&clickhouse).await;
    let b = batch(5);
    raw_ingest(&collector, attempt(&b, 0)).await.unwrap();
    for n in [1, 2, 77, u32::MAX] {
        let answer = raw_ingest(&collector, attempt(&b, n)).await.unwrap();
        assert_eq!(answer.accepted, 5);
    }
    assert_eq!(
        count(&clickhouse, "SELECT count() AS n FROM events").await,
        5
    );
    // Other content under the same id is still refused.
    let mut other = b.clone();
    other.events[0].message = "changed".into();
    let status = raw_ingest(&collector, attempt(&other, 2))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::AlreadyExists);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_held_through_an_outage_and_retried_through_another_collector_is_stored_once() {
    let clickhouse = TestClickHouse::start();
    let proxy = CuttableProxy::to(clickhouse.addr()).await;
    let mut through_proxy = clickhouse.sink_config_via(proxy.addr);
    through_proxy.timeout = Duration::from_secs(2);
    let first = start_collector(ClickHouseSink::start(&through_proxy).await.unwrap(), 20).await;
    let second = start_collector(ClickHouseSink::start(&through_proxy).await.unwrap(), 20).await;
    // ClickHouse goes away; the first collector takes the batch and holds
    // it, retrying, longer than its client waits.
    proxy.cut();
    let held = batch(50);
    let first_attempt = {
        let endpoint = common::endpoint(&first);
        let body = attempt(&held, 1);
        tokio::spawn(async move {
            raw::raw_client_at(&endpoint)
                .await
                .unary(
                    tonic::Request::new(body),
                    http::uri::PathAndQuery::from_static("/aires.v1.Collector/Ingest"),
                    raw::RawCodec::<proto::IngestResponse>::default(),
                )
                .await
        })
    };
    assert!(
        common::wait_until(DEADLINE, || first.metrics().sink_retries.get() >= 1).await,
        "the first collector's write failed"
    );
    // The client gives up on it and retries through the second collector,
    // which cannot look it up while ClickHouse is away...
    let refused = raw_ingest(&second, attempt(&held, 2)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable);
    // The first collector, having retried its insert past the SDKs' send
    // timeout, turns to writing its batches alone.
    assert!(
        common::wait_until(Duration::from_secs(60), || first
            .metrics()
            .ledger_lookups
            .get()
            > 0)
        .await,
        "the first collector looks its batches up"
    );
    // Once ClickHouse is back, both collectors store the batch: the first
    // from its backlog, the second for the retry. ClickHouse keeps one.
    proxy.restore();
    let answer = raw_ingest(&second, attempt(&held, 3)).await.unwrap();
    assert_eq!(answer.accepted, 50);
    let first_answer = first_attempt.await.unwrap().unwrap().into_inner();
    assert_eq!(first_answer.accepted, 50);
    assert_eq!(
        count(&clickhouse, "SELECT count() AS n FROM events").await,
        50
    );
    assert_eq!(
        count(
            &clickhouse,
            "SELECT sum(total) AS n FROM error_rate_per_minute"
        )
        .await,
        50
    );
}
