//! The console's JSON API against a real ClickHouse filled through the
//! real pipeline (SDK -> gRPC -> collector): what each query line finds is
//! checked against the events the test sent.

mod common;

use std::collections::BTreeSet;

use aires::{Event, Level};
use common::{trace_hex, Sent, Stack, CAUSE, EVENTS};
use serde_json::Value;

type Predicate = fn(&Sent) -> bool;

fn http_status(s: &Sent) -> Option<u16> {
    s.http.map(|h| h.2)
}

/// Query lines and which sent events each must find.
fn cases() -> Vec<(String, Predicate)> {
    let t1 = trace_hex(1);
    let cases: Vec<(&str, Predicate)> = vec![
        ("", |_| true),
        ("served", |s| s.message == "request served"),
        (r#""card gateway""#, |s| s.message.contains("card gateway")),
        (r#"-"health check""#, |s| {
            !s.message.contains("health check")
        }),
        ("api", |s| s.message.contains("/api/")),
        ("/api/orders", |s| s.message.contains("/api/orders")),
        ("Served", |_| false),
        ("service:checkout", |s| s.service == "checkout"),
        ("-service:checkout", |s| s.service != "checkout"),
        ("level:>=warn", |s| matches!(s.level, "warn" | "error")),
        ("level:warning", |s| s.level == "warn"),
        ("level:<info", |s| s.level == "debug"),
        ("http.status:>=500", |s| {
            http_status(s).is_some_and(|c| c >= 500)
        }),
        ("status:5*", |s| http_status(s).is_some_and(|c| c >= 500)),
        ("route:/pay", |s| s.http.is_some_and(|h| h.1 == "/pay")),
        ("route:/orders*", |s| {
            s.http.is_some_and(|h| h.1.starts_with("/orders"))
        }),
        ("method:get", |s| s.http.is_some_and(|h| h.0 == "GET")),
        ("duration:>=200", |s| s.http.is_some_and(|h| h.3 >= 200)),
        ("order_id:123", |s| s.n == 23),
        ("user:u3", |s| s.user == "u3"),
        ("ok:true", |s| s.ok),
        ("ratio:>5", |s| s.ratio > 5.0),
        ("n:<5", |s| s.n < 5),
        ("session:sess-even", |s| s.session.is_some()),
        ("error:*", |s| s.error),
        ("-error:*", |s| !s.error),
        ("error.message:declined", |s| s.error),
        (r#"msg:"cache miss""#, |s| {
            s.message.starts_with("cache miss")
        }),
        ("nosuchword", |_| false),
        (
            r#"service:checkout level:>=warn -"health check" route:/pay"#,
            |s| {
                s.service == "checkout"
                    && matches!(s.level, "warn" | "error")
                    && !s.message.contains("health check")
                    && s.http.is_some_and(|h| h.1 == "/pay")
            },
        ),
        // Hostile text finds nothing and changes nothing.
        ("'; DROP TABLE events; --", |_| false),
        (r#"service:"x' OR 1=1 --""#, |_| false),
        ("order_id:\"1) OR (1=1\"", |_| false),
    ];
    let mut cases: Vec<(String, Predicate)> =
        cases.into_iter().map(|(q, p)| (q.to_owned(), p)).collect();
    cases.push((format!("trace:{t1}"), |s| s.trace == trace_hex(1)));
    cases.push((format!("trace:{}", t1.to_uppercase()), |s| {
        s.trace == trace_hex(1)
    }));
    cases
}

fn expected(stack: &Stack, predicate: Predicate) -> BTreeSet<i64> {
    stack
        .sent
        .iter()
        .filter(|s| predicate(s))
        .map(|s| s.n)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_finds_exactly_the_events_it_describes() {
    let stack = Stack::start().await;
    let client = stack.client();
    for (line, predicate) in cases() {
        let page = client
            .get(
                "/api/search",
                &[
                    ("q", line.clone()),
                    ("since", "1h".into()),
                    ("limit", "500".into()),
                ],
            )
            .await
            .unwrap_or_else(|e| panic!("{line:?}: {e}"));
        let found: BTreeSet<i64> = stack.ns(&page["events"]).into_iter().collect();
        assert_eq!(found, expected(&stack, predicate), "{line:?}");
        // The same through a POST body.
        let posted = client
            .post(
                "/api/search",
                &serde_json::json!({ "q": line, "limit": 500 }),
            )
            .await
            .unwrap();
        assert_eq!(posted["events"], page["events"], "{line:?} posted");
        assert!(page["next"].is_null(), "{line:?}: one page holds them all");
        // The histogram counts the same events, per level.
        let hist = client
            .get(
                "/api/histogram",
                &[("q", line.clone()), ("since", "1h".into())],
            )
            .await
            .unwrap();
        let total: i64 = hist["levels"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|counts| counts.as_array().unwrap())
            .map(|n| n.as_i64().unwrap())
            .sum();
        assert_eq!(total as usize, found.len(), "{line:?}: histogram total");
    }
    // An event by id, whole or by its first characters.
    let (id, n) = stack.ids.iter().next().unwrap();
    for line in [
        format!("id:{id}"),
        format!("id:{}", id.to_uppercase()),
        format!("id:{}*", &id[..30]),
    ] {
        let page = client
            .get("/api/search", &[("q", line.clone())])
            .await
            .unwrap();
        assert_eq!(stack.ns(&page["events"]), vec![*n], "{line}");
    }
    let rows = stack
        .clickhouse
        .rows("SELECT count() AS n FROM events")
        .await;
    assert_eq!(
        common::clickhouse_server::int(&rows[0]["n"]),
        EVENTS as i128
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_follow_the_cursor_newest_first_without_gaps_or_repeats() {
    let stack = Stack::start().await;
    let client = stack.client();
    let all = client
        .get("/api/search", &[("limit", "500".into())])
        .await
        .unwrap();
    let all = all["events"].as_array().unwrap().clone();
    assert_eq!(all.len(), EVENTS);
    let key = |e: &Value| {
        (
            e["ts"].as_str().unwrap().parse::<i64>().unwrap(),
            e["id"].as_str().unwrap().to_owned(),
        )
    };
    assert!(
        all.windows(2).all(|w| key(&w[0]) > key(&w[1])),
        "newest first, by (timestamp, id)"
    );
    let mut paged = Vec::new();
    let mut before = String::new();
    for _ in 0..EVENTS {
        let page = client
            .get(
                "/api/search",
                &[("limit", "7".into()), ("before", before.clone())],
            )
            .await
            .unwrap();
        paged.extend(page["events"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(next) => before = next.to_owned(),
            None => break,
        }
    }
    let ids = |list: &[Value]| list.iter().map(|e| e["id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(&paged), ids(&all));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_shows_every_column_and_its_trace_all_its_events() {
    let stack = Stack::start().await;
    let client = stack.client();
    let errors = client
        .get("/api/search", &[("q", "error:* route:/pay".into())])
        .await
        .unwrap();
    let first = &errors["events"][0];
    let id = first["id"].as_str().unwrap();
    let detail = client
        .get(
            &format!("/api/events/{id}"),
            &[("ts", first["ts"].as_str().unwrap().into())],
        )
        .await
        .unwrap();
    // Every column the store has, as the store has it.
    let direct = stack
        .clickhouse
        .rows(&format!(
            "SELECT * EXCEPT (timestamp, received_at, batch_digest), \
             toString(batch_digest) AS batch_digest FROM events WHERE id = '{id}'"
        ))
        .await;
    for (column, value) in direct[0].as_object().unwrap() {
        assert_eq!(&detail[column], value, "column {column}");
    }
    assert_eq!(detail["error_chain"], serde_json::json!([CAUSE]));
    assert_eq!(detail["error_message"], "payment declined");
    // Without the time hint too; an unknown id is a 404.
    let again = client.get(&format!("/api/events/{id}"), &[]).await.unwrap();
    assert_eq!(again["id"], detail["id"]);
    let missing = client
        .get("/api/events/0193a4b2-0000-7000-8000-000000000000", &[])
        .await
        .unwrap_err();
    assert_eq!(missing.status(), Some(404));

    let trace = detail["trace_id"].as_str().unwrap();
    let answer = client
        .get(&format!("/api/traces/{trace}"), &[])
        .await
        .unwrap();
    let ns = stack.ns(&answer["events"]);
    let expected: Vec<i64> = stack
        .sent
        .iter()
        .filter(|s| s.trace == trace)
        .map(|s| s.n)
        .collect();
    let mut sorted = ns.clone();
    sorted.sort();
    assert_eq!(sorted, expected);
    let times: Vec<i64> = answer["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["ts"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "oldest first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tail_returns_what_is_stored_after_its_cursor() {
    let stack = Stack::start().await;
    let client = stack.client();
    let first = client
        .get("/api/tail", &[("q", "service:search".into())])
        .await
        .unwrap();
    let shown: BTreeSet<i64> = stack.ns(&first["events"]).into_iter().collect();
    let search: BTreeSet<i64> = stack
        .sent
        .iter()
        .filter(|s| s.service == "search")
        .map(|s| s.n)
        .collect();
    assert_eq!(shown, search, "the last minute's matching events");
    let cursor = first["cursor"].as_str().unwrap().to_owned();
    stack
        .send(
            "search",
            Event::builder(Level::Warn, "freshly stored")
                .attr("n", 1000)
                .build(),
        )
        .await;
    stack
        .send(
            "checkout",
            Event::builder(Level::Warn, "freshly stored")
                .attr("n", 1001)
                .build(),
        )
        .await;
    let next = client
        .get(
            "/api/tail",
            &[("q", "service:search".into()), ("cursor", cursor.clone())],
        )
        .await
        .unwrap();
    let messages: Vec<&str> = next["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(messages.contains(&"freshly stored"), "{messages:?}");
    assert_eq!(
        messages.iter().filter(|m| **m == "freshly stored").count(),
        1,
        "only the search service's"
    );
    assert!(
        next["cursor"].as_str().unwrap().parse::<i64>().unwrap() > cursor.parse::<i64>().unwrap()
    );
    assert!(next["matched"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tail_counts_only_new_events_and_rereads_its_overlap_for_late_inserts() {
    let stack = Stack::start().await;
    let client = stack.client();
    let tail = |cursor: String| {
        let client = client.clone();
        async move {
            client
                .get(
                    "/api/tail",
                    &[("q", "service:checkout".into()), ("cursor", cursor)],
                )
                .await
                .unwrap()
        }
    };
    let messages = |page: &Value| -> Vec<String> {
        page["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["message"].as_str().unwrap().to_owned())
            .collect()
    };
    // More than one poll shows.
    stack
        .send_all(
            "checkout",
            (0..250).map(|i| {
                Event::builder(Level::Info, "busy")
                    .attr("n", 3000 + i)
                    .build()
            }),
        )
        .await;
    let first = tail(String::new()).await;
    let checkout = stack
        .sent
        .iter()
        .filter(|s| s.service == "checkout")
        .count() as u64;
    assert_eq!(
        first["matched"].as_u64(),
        Some(checkout + 250),
        "counted, not all shown"
    );
    assert_eq!(first["events"].as_array().unwrap().len(), 200);
    let cursor = first["cursor"].as_str().unwrap().to_owned();

    // One new event: those seen before the cursor are re-read (the
    // overlap) but not counted as new.
    stack
        .send(
            "checkout",
            Event::builder(Level::Info, "one more")
                .attr("n", 4000)
                .build(),
        )
        .await;
    let next = tail(cursor.clone()).await;
    assert!(
        next["matched"].is_null(),
        "only one is new: {}",
        next["matched"]
    );
    assert!(messages(&next).contains(&"one more".to_owned()));
    let cursor = next["cursor"].as_str().unwrap().to_owned();

    // An insert that becomes visible late, received before the cursor.
    let late = cursor.parse::<i64>().unwrap() - 2_000_000_000;
    stack
        .clickhouse
        .client()
        .query(&format!(
            "INSERT INTO events (timestamp, received_at, id, service, severity, message) \
             SELECT now64(9), fromUnixTimestamp64Nano(toInt64({late})), generateUUIDv4(), \
             'checkout', 'info', 'late arrival'"
        ))
        .execute()
        .await
        .unwrap();
    let after = tail(cursor).await;
    assert!(messages(&after).contains(&"late arrival".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboards_read_the_views() {
    let stack = Stack::start().await;
    let client = stack.client();
    let rate = client
        .get("/api/dashboards/error-rate", &[("since", "1h".into())])
        .await
        .unwrap();
    for service in ["checkout", "search"] {
        let sum = |field: &str| -> i64 {
            rate["series"][service][field]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .sum()
        };
        let sent: Vec<&Sent> = stack.sent.iter().filter(|s| s.service == service).collect();
        assert_eq!(sum("total") as usize, sent.len(), "{service}");
        assert_eq!(
            sum("errors") as usize,
            sent.iter().filter(|s| s.error).count(),
            "{service}"
        );
    }
    let latency = client
        .get("/api/dashboards/latency", &[("since", "1h".into())])
        .await
        .unwrap();
    let routes: BTreeSet<&str> = latency["series"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    let sent_routes: BTreeSet<&str> = stack
        .sent
        .iter()
        .filter_map(|s| s.http.map(|h| h.1))
        .collect();
    assert_eq!(routes, sent_routes);
    for (route, series) in latency["series"].as_object().unwrap() {
        let requests: i64 = series["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| common::clickhouse_server::int(v) as i64)
            .sum();
        let sent = stack
            .sent
            .iter()
            .filter(|s| s.http.is_some_and(|h| h.1 == route))
            .count();
        assert_eq!(requests as usize, sent, "{route}");
        for i in 0..series["p50"].as_array().unwrap().len() {
            if let (Some(p50), Some(p95), Some(p99)) = (
                series["p50"][i].as_f64(),
                series["p95"][i].as_f64(),
                series["p99"][i].as_f64(),
            ) {
                assert!(p50 <= p95 && p95 <= p99, "{route}: {p50} {p95} {p99}");
            }
        }
    }
    // A service filter narrows the latency to that service's routes.
    let search_only = client
        .get(
            "/api/dashboards/latency",
            &[("since", "1h".into()), ("service", "search".into())],
        )
        .await
        .unwrap();
    let search_routes: BTreeSet<&str> = stack
        .sent
        .iter()
        .filter(|s| s.service == "search")
        .filter_map(|s| s.http.map(|h| h.1))
        .collect();
    let got: BTreeSet<&str> = search_only["series"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(got, search_routes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_a_clear_4xx_and_nothing_breaks() {
    let stack = Stack::start().await;
    let client = stack.client();
    // 100 KB of text: refused by the parser, through a POST body (a URI
    // that long is refused before any handler, with 414).
    let long = "x' OR 1=1 -- ".repeat(8 * 1024);
    let error = client
        .post(
            "/api/search",
            &serde_json::json!({ "q": long, "since": "1h" }),
        )
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(400));
    assert!(error.to_string().contains("at most 4096"), "{error}");
    let error = client
        .post(
            "/api/search",
            &serde_json::json!({ "q": "x", "limit": "many" }),
        )
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(400), "{error}");
    let error = client
        .post(
            "/api/search",
            &serde_json::json!({ "q": "x", "drop": "table" }),
        )
        .await
        .unwrap_err();
    assert!(error.to_string().contains("unknown field"), "{error}");
    // A method a route does not take: refused as JSON like the rest.
    let error = client
        .post(
            "/api/traces/4bf92f3577b34da6a3ce929d0e0e4736",
            &serde_json::json!({}),
        )
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(405), "{error}");
    for (path, params, status, says) in [
        (
            "/api/search",
            vec![("limit", "many".to_owned())],
            400,
            "limit",
        ),
        (
            "/api/search",
            vec![("q", "\"open".to_owned())],
            400,
            "never closed",
        ),
        (
            "/api/search",
            vec![("q", "level:>=loud".to_owned())],
            400,
            "not a level",
        ),
        (
            "/api/search",
            vec![("q", "status:>abc".to_owned())],
            400,
            "needs a number",
        ),
        (
            "/api/search",
            vec![("since", "soon".to_owned())],
            400,
            "not a duration",
        ),
        (
            "/api/search",
            vec![("from", "now".to_owned()), ("to", "now-1h".to_owned())],
            400,
            "ends before",
        ),
        (
            "/api/search",
            vec![("before", "'; DROP".to_owned())],
            400,
            "not a page cursor",
        ),
        (
            "/api/histogram",
            vec![("q", "a\u{0}b".to_owned())],
            400,
            "control character",
        ),
        (
            "/api/events/1%27%20OR%201%3D1",
            vec![],
            400,
            "not an event id",
        ),
        ("/api/traces/zz", vec![], 400, "not a trace id"),
        (
            "/api/traces/00000000000000000000000000000001",
            vec![],
            404,
            "no events",
        ),
        (
            "/api/tail",
            vec![("cursor", "x".to_owned())],
            400,
            "not a tail cursor",
        ),
        ("/api/nothing", vec![], 404, "no such API route"),
        ("/api/events/%FF%FE", vec![], 400, "UTF-8"),
        (
            "/api/tail",
            vec![("cursor", "-1".to_owned())],
            400,
            "not a tail cursor",
        ),
        (
            "/api/events/0193a4b2-0000-7000-8000-000000000000",
            vec![("ts", "-9223372036854775808".to_owned())],
            400,
            "not a time in ns",
        ),
        (
            "/api/histogram",
            vec![
                ("from", "-9223372036854".to_owned()),
                ("to", "9223372036854".to_owned()),
            ],
            400,
            "is not a time",
        ),
        (
            "/api/dashboards/error-rate",
            vec![
                ("from", "-9223372036854".to_owned()),
                ("to", "9223372036854".to_owned()),
            ],
            400,
            "is not a time",
        ),
        (
            "/api/search",
            vec![("since", "9999d".to_owned())],
            400,
            "longer than 400 days",
        ),
    ] {
        let error = client.get(path, &params).await.unwrap_err();
        assert_eq!(error.status(), Some(status), "{path} {params:?}: {error}");
        assert!(error.to_string().contains(says), "{path}: {error}");
    }
    let rows = stack
        .clickhouse
        .rows("SELECT count() AS n FROM events")
        .await;
    assert_eq!(
        common::clickhouse_server::int(&rows[0]["n"]),
        EVENTS as i128
    );
}
