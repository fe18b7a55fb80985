//! The console's query latency beside the same statements run directly:
//! for a word, a field filter and a trace lookup, the search page and the
//! histogram through the console's HTTP API, and the very statements the
//! console builds (`Store::search_sql` and friends) run with the ClickHouse
//! client, alternately, `--runs` times each. Prints one JSON line per case
//! with p50/p95 of both and their ratio (the console's overhead).
//!
//!     console-latency --console http://127.0.0.1:8480 \
//!         --clickhouse-url http://127.0.0.1:8123 --trace-id <32 hex> [--runs 20]
//!
//! `scripts/bench-console` fills a table of 10M demo-like events and runs it.

use std::time::{Duration, Instant};

use aires_console::client::Client;
use aires_console::query;
use aires_console::range::{now_ns, TimeRange};
use aires_console::store::{Store, StoreConfig};

struct Args {
    console: String,
    clickhouse: String,
    trace_id: String,
    runs: usize,
}

fn args() -> Args {
    let mut args = Args {
        console: String::new(),
        clickhouse: String::new(),
        trace_id: String::new(),
        runs: 20,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--console" => args.console = value,
            "--clickhouse-url" => args.clickhouse = value,
            "--trace-id" => args.trace_id = value,
            "--runs" => args.runs = value.parse().expect("a number"),
            other => panic!("unknown flag {other}"),
        }
    }
    assert!(!args.console.is_empty() && !args.clickhouse.is_empty() && !args.trace_id.is_empty());
    args
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = args();
    let console = Client::Remote {
        http: Default::default(),
        base: args.console.clone(),
        api_key: None,
    };
    let store = Store::new(&StoreConfig {
        url: args.clickhouse.clone(),
        ..StoreConfig::default()
    });
    let since = "24h";
    let cases = [
        ("word", "failed".to_owned()),
        (
            "field filter",
            "service:checkout http.status:>=500".to_owned(),
        ),
        ("trace lookup", format!("trace:{}", args.trace_id)),
    ];
    for (name, line) in &cases {
        let parsed = query::parse(line).expect("a valid query");
        for kind in ["search", "histogram"] {
            let mut via_console = Vec::new();
            let mut direct = Vec::new();
            let mut rows = 0;
            for run in 0..args.runs + 2 {
                let range = TimeRange::parse(Some(since), None, None, now_ns()).unwrap();
                let started = Instant::now();
                let answer = match kind {
                    "search" => console
                        .get(
                            "/api/search",
                            &[
                                ("q", line.clone()),
                                ("since", since.into()),
                                ("limit", "100".into()),
                            ],
                        )
                        .await
                        .map(|a| a["events"].as_array().map_or(0, Vec::len)),
                    _ => console
                        .get(
                            "/api/histogram",
                            &[
                                ("q", line.clone()),
                                ("since", since.into()),
                                ("buckets", "120".into()),
                            ],
                        )
                        .await
                        .map(|a| a["times"].as_array().map_or(0, Vec::len)),
                };
                let console_time = started.elapsed();
                let answer = answer.unwrap_or_else(|e| panic!("{name} {kind}: {e}"));
                let statement = match kind {
                    "search" => Store::search_sql(&parsed, &range, 100, None),
                    _ => Store::histogram_sql(&parsed, &range, range.step_seconds(120)),
                };
                let started = Instant::now();
                let direct_rows = store.run(&statement).await.expect("the direct query").len();
                let direct_time = started.elapsed();
                if run >= 2 {
                    via_console.push(ms(console_time));
                    direct.push(ms(direct_time));
                }
                rows = if kind == "search" {
                    answer
                } else {
                    direct_rows
                };
            }
            report(name, kind, rows, via_console, direct);
        }
    }
    // The trace view's own request.
    let mut via_console = Vec::new();
    let mut direct = Vec::new();
    let mut rows = 0;
    for run in 0..args.runs + 2 {
        let started = Instant::now();
        let answer = console
            .get(&format!("/api/traces/{}", args.trace_id), &[])
            .await
            .expect("the trace");
        let console_time = started.elapsed();
        let started = Instant::now();
        let direct_rows = store.run(&Store::trace_sql(&args.trace_id)).await.unwrap();
        let direct_time = started.elapsed();
        rows = answer["events"].as_array().map_or(0, Vec::len);
        assert_eq!(rows, direct_rows.len());
        if run >= 2 {
            via_console.push(ms(console_time));
            direct.push(ms(direct_time));
        }
    }
    report("trace lookup", "trace view", rows, via_console, direct);

    // A live tail's poll, a second after the last: what the page asks
    // every second (received_at has no index: this one scans it).
    for line in ["", "service:checkout"] {
        let mut times = Vec::new();
        for run in 0..args.runs + 2 {
            let cursor = (now_ns() - 1_000_000_000).to_string();
            let started = Instant::now();
            console
                .get("/api/tail", &[("q", line.to_owned()), ("cursor", cursor)])
                .await
                .expect("a tail poll");
            if run >= 2 {
                times.push(ms(started.elapsed()));
            }
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{{\"case\":\"tail poll {line}\",\"request\":\"tail\",\"runs\":{},\"console_p50_ms\":{:.1},\"console_p95_ms\":{:.1}}}",
            times.len(),
            percentile(&times, 0.5),
            percentile(&times, 0.95)
        );
    }
}

fn report(name: &str, kind: &str, rows: usize, mut console: Vec<f64>, mut direct: Vec<f64>) {
    console.sort_by(f64::total_cmp);
    direct.sort_by(f64::total_cmp);
    let (c50, c95) = (percentile(&console, 0.5), percentile(&console, 0.95));
    let (d50, d95) = (percentile(&direct, 0.5), percentile(&direct, 0.95));
    println!(
        "{{\"case\":\"{name}\",\"request\":\"{kind}\",\"rows\":{rows},\"runs\":{},\
         \"console_p50_ms\":{c50:.1},\"console_p95_ms\":{c95:.1},\
         \"direct_p50_ms\":{d50:.1},\"direct_p95_ms\":{d95:.1},\
         \"ratio_p50\":{:.3},\"ratio_p95\":{:.3}}}",
        console.len(),
        c50 / d50,
        c95 / d95
    );
}
