//! The whole path: SDK -> gRPC -> collector -> ClickHouse -> query.

mod common;

#[path = "common/clickhouse.rs"]
mod clickhouse_server;

use std::sync::Arc;
use std::time::Duration;

use aires_collector::sink::ClickHouseSink;
use aires_collector::CollectorConfig;
use aires_core::{Event, HttpInfo, Level, SpanId, TraceId};
use aires_transport_grpc::GrpcConfig;
use clickhouse_server::{int, TestClickHouse};
use common::*;

/// An error with a cause, to check that the chain is stored.
#[derive(Debug)]
struct Declined(std::io::Error);

impl std::fmt::Display for Declined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("payment declined")
    }
}

impl std::error::Error for Declined {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_older_than_the_ttl_is_kept_from_when_it_was_received() {
    // Events are kept --clickhouse-ttl-days (30) from their receipt: one
    // whose own time is 40 days back (replayed, a wrong clock) is stored
    // and stays, rather than being deleted by the TTL as it is inserted.
    let clickhouse = TestClickHouse::start();
    let collector = collector_into(&clickhouse).await;
    let sdk = sdk(GrpcConfig::new(endpoint(&collector)), |c| c);
    let forty_days = 40 * 24 * 3_600 * 1_000_000_000u64;
    let then = aires_core::__private::system_unix_nanos() - forty_days;
    sdk.emit(
        Event::builder(Level::Info, "replayed from long ago")
            .timestamp_unix_nanos(then)
            .build(),
    );
    flush(&sdk).await;
    let rows = clickhouse
        .rows(
            "SELECT toUnixTimestamp64Nano(timestamp) AS ts FROM events \
             WHERE message = 'replayed from long ago'",
        )
        .await;
    assert_eq!(rows.len(), 1, "the old event is stored: {rows:?}");
    assert_eq!(int(&rows[0]["ts"]), then as i128, "with its own time");
    shutdown_sdk(sdk).await;
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_arrives_once_with_every_field_intact() {
    let clickhouse = TestClickHouse::start();
    let collector = collector_into(&clickhouse).await;
    let sdk = sdk(GrpcConfig::new(endpoint(&collector)), |c| c.batch_size(100));

    static SITE: aires_core::CallSite =
        aires_core::CallSite::new_static("src/pay.rs", 42, "shop::pay");
    let trace = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
    let base_ns: u64 = aires_core::__private::system_unix_nanos() - 5_000_000_000;
    const EVENTS: u64 = 500;
    for i in 0..EVENTS {
        let mut builder = Event::builder(
            if i % 10 == 0 {
                Level::Error
            } else {
                Level::Info
            },
            format!("request {i} served"),
        )
        .timestamp_unix_nanos(base_ns + i * 1_000 + 7)
        .attr("i", i as i64)
        .attr("big", u64::MAX - i)
        .attr("ratio", i as f64 / 4.0)
        .attr("ok", i % 2 == 0)
        .attr("who", format!("user-{i}"))
        .tags(["checkout", "v2"])
        .call_site(&SITE)
        .http(
            HttpInfo::new("GET", if i % 2 == 0 { "/orders/:id" } else { "/pay" })
                .path(format!("/orders/{i}"))
                .status(if i % 10 == 0 { 502 } else { 200 })
                .duration(Duration::from_micros(1_000 + i)),
        );
        if i < 5 {
            builder = builder
                .trace_id(trace)
                .span_id(SpanId::from_int(i + 1))
                .session_id("sess-1");
        }
        if i % 10 == 0 {
            builder = builder.error(&Declined(std::io::Error::other("gateway timeout")));
        }
        sdk.emit(builder.build());
    }
    flush(&sdk).await;

    // Exactly once.
    let counts = clickhouse
        .rows("SELECT count() AS n, uniqExact(id) AS ids FROM events")
        .await;
    assert_eq!(int(&counts[0]["n"]), EVENTS as i128);
    assert_eq!(int(&counts[0]["ids"]), EVENTS as i128);

    // Every field of one event, to the nanosecond.
    let rows = clickhouse
        .rows(
            "SELECT toUnixTimestamp64Nano(timestamp) AS ts, * FROM events \
             WHERE attributes_int['i'] = 10",
        )
        .await;
    let row = &rows[0];
    assert_eq!(int(&row["ts"]), (base_ns + 10 * 1_000 + 7) as i128);
    assert_eq!(row["service"], "test-service");
    assert_eq!(row["environment"], "test");
    assert_eq!(row["severity"], "error");
    assert_eq!(row["message"], "request 10 served");
    assert_eq!(int(&row["attributes_int"]["i"]), 10);
    assert_eq!(row["attributes_string"]["big"], (u64::MAX - 10).to_string());
    assert_eq!(row["attributes_float"]["ratio"], 2.5);
    assert_eq!(row["attributes_bool"]["ok"], true);
    assert_eq!(row["attributes_string"]["who"], "user-10");
    assert_eq!(row["tags"], serde_json::json!(["checkout", "v2"]));
    assert_eq!(row["http_method"], "GET");
    assert_eq!(row["http_route"], "/orders/:id");
    assert_eq!(row["http_path"], "/orders/10");
    assert_eq!(row["http_status"], 502);
    assert_eq!(int(&row["http_duration_ns"]), 1_010_000);
    assert!(
        row["error_type"].as_str().unwrap().ends_with("Declined"),
        "{}",
        row["error_type"]
    );
    assert_eq!(row["error_message"], "payment declined");
    assert_eq!(row["error_chain"], serde_json::json!(["gateway timeout"]));
    assert_eq!(
        (
            row["file"].as_str(),
            row["line"].as_u64(),
            row["module"].as_str()
        ),
        (Some("src/pay.rs"), Some(42), Some("shop::pay"))
    );
    assert_eq!(row["sdk_name"], "aires-rust");

    // The trace lookup and the text search return exactly the right rows.
    let trace_rows = clickhouse
        .rows(&format!(
            "SELECT attributes_int['i'] AS i, span_id, session_id FROM events WHERE trace_id = '{trace}' ORDER BY timestamp"
        ))
        .await;
    let found: Vec<i128> = trace_rows.iter().map(|r| int(&r["i"])).collect();
    assert_eq!(found, [0, 1, 2, 3, 4]);
    assert_eq!(trace_rows[1]["span_id"], "0000000000000002");
    assert_eq!(trace_rows[1]["session_id"], "sess-1");
    let found = clickhouse
        .rows("SELECT count() AS n FROM events WHERE hasToken(message, '42')")
        .await;
    assert_eq!(int(&found[0]["n"]), 1);

    // The materialized views hold the right totals.
    let errors = clickhouse
        .rows("SELECT sum(total) AS total, sum(errors) AS errors FROM error_rate_per_minute")
        .await;
    assert_eq!(int(&errors[0]["total"]), EVENTS as i128);
    assert_eq!(int(&errors[0]["errors"]), (EVENTS / 10) as i128);
    let latency = clickhouse
        .rows(
            "SELECT route, sum(requests) AS requests FROM http_latency_per_minute \
             GROUP BY route ORDER BY route",
        )
        .await;
    assert_eq!(latency.len(), 2);
    assert_eq!(
        (latency[0]["route"].as_str(), int(&latency[0]["requests"])),
        (Some("/orders/:id"), 250)
    );
    assert_eq!(
        (latency[1]["route"].as_str(), int(&latency[1]["requests"])),
        (Some("/pay"), 250)
    );

    // The dashboard queries of sql/queries, with their parameters.
    let service = [("service", "test-service"), ("minutes", "60")];
    let rate = clickhouse.query_file("error_rate.sql", &service);
    let total: i128 = rate.iter().map(|r| int(&r["events"])).sum();
    let failed: i128 = rate.iter().map(|r| int(&r["errors"])).sum();
    assert_eq!((total, failed), (EVENTS as i128, (EVENTS / 10) as i128));
    let routes = clickhouse.query_file("latency_by_route.sql", &service);
    assert_eq!(routes.len(), 2);
    for route in &routes {
        assert_eq!(int(&route["requests"]), 250);
        // Durations are 1.000 to 1.499 ms: every quantile lies in between.
        for q in ["p50_ms", "p95_ms", "p99_ms"] {
            let ms = route[q].as_f64().unwrap();
            assert!((1.0..1.5).contains(&ms), "{q} = {ms}");
        }
    }
    let trace_hex = trace.to_string();
    let in_trace = clickhouse.query_file("trace_events.sql", &[("trace_id", &trace_hex)]);
    assert_eq!(in_trace.len(), 5);
    let found = clickhouse.query_file(
        "search_messages.sql",
        &[("token", "42"), ("minutes", "60"), ("limit", "10")],
    );
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["message"], "request 42 served");
    let errors = clickhouse.query_file(
        "latest_errors.sql",
        &[("service", "test-service"), ("limit", "3")],
    );
    let messages: Vec<&str> = errors
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        [
            "request 490 served",
            "request 480 served",
            "request 470 served"
        ]
    );
    assert_eq!(
        errors[0]["error_chain"],
        serde_json::json!(["gateway timeout"])
    );

    shutdown_sdk(sdk).await;
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_idempotent_and_recorded() {
    let clickhouse = TestClickHouse::start();
    let client = clickhouse.server_client();
    let first =
        aires_collector::sink::clickhouse::migrations::apply(&client, &clickhouse.database, 30)
            .await
            .unwrap();
    assert_eq!(first, vec![1, 2, 3, 4, 5]);
    let again =
        aires_collector::sink::clickhouse::migrations::apply(&client, &clickhouse.database, 30)
            .await
            .unwrap();
    assert!(again.is_empty(), "nothing left to apply: {again:?}");
    let recorded = clickhouse
        .rows("SELECT version FROM aires_migrations FINAL ORDER BY version")
        .await;
    let versions: Vec<i128> = recorded.iter().map(|r| int(&r["version"])).collect();
    assert_eq!(versions, [1, 2, 3, 4, 5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collectors_starting_together_migrate_safely() {
    let clickhouse = TestClickHouse::start();
    let client = clickhouse.server_client();
    let database = clickhouse.database.clone();
    let runs: Vec<_> = (0..3)
        .map(|_| {
            let (client, database) = (client.clone(), database.clone());
            tokio::spawn(async move {
                aires_collector::sink::clickhouse::migrations::apply(&client, &database, 30).await
            })
        })
        .collect();
    for run in runs {
        run.await.unwrap().expect("every concurrent run succeeds");
    }
    // One set of tables, usable, and each version recorded once.
    let recorded = clickhouse
        .rows("SELECT version, count() AS n FROM aires_migrations FINAL GROUP BY version ORDER BY version")
        .await;
    assert_eq!(
        recorded.len(),
        aires_collector::sink::clickhouse::migrations::MIGRATIONS.len()
    );
    assert!(recorded.iter().all(|r| int(&r["n"]) == 1), "{recorded:?}");
    let tables = clickhouse
        .rows("SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name")
        .await;
    let names: Vec<&str> = tables.iter().map(|t| t["name"].as_str().unwrap()).collect();
    for expected in [
        "events",
        "error_rate_per_minute",
        "http_latency_per_minute",
        "mv_error_rate",
        "mv_http_latency",
        "batches",
        "mv_batches",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
}
