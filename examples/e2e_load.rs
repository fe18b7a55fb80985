//! Load and latency probe for the end-to-end figures (scripts/bench-e2e).
//!
//! Sends `EVENTS` events from `THREADS` producer threads as fast as the
//! pipeline takes them (the blocking overflow policy: nothing is dropped),
//! and meanwhile emits a probe event every 200 ms and polls ClickHouse
//! until the probe is queryable, timing event-to-queryable. Prints one
//! JSON line of results.
//!
//!     AIRES_ENDPOINT=http://127.0.0.1:4317 cargo run --release --example e2e_load -- \
//!         http://127.0.0.1:8123 aires 200000 2

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aires::{Event, Level, OverflowPolicy};

/// Runs a query over ClickHouse's HTTP interface; returns the body.
fn query(url: &str, database: &str, sql: &str) -> std::io::Result<String> {
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(host)?;
    let body = sql.as_bytes();
    write!(
        stream,
        "POST /?database={database} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or("")
        .trim()
        .to_owned())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let clickhouse = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "http://127.0.0.1:8123".into());
    let database = args.get(2).cloned().unwrap_or_else(|| "aires".into());
    let events: u64 = args.get(3).map_or(Ok(200_000), |n| n.parse())?;
    let threads: u64 = args.get(4).map_or(Ok(2), |n| n.parse())?;

    let guard = aires::init(
        aires::Config::new("e2e-load")
            .overflow(OverflowPolicy::Block(Duration::from_secs(60)))
            .level(aires::LevelFilter::INFO),
    )?;
    // Probes: one every 200 ms, each polled until queryable, from their own
    // thread, during the load and after it until 20 are measured.
    let stop = Arc::new(AtomicBool::new(false));
    let prober = {
        let (clickhouse, database, stop) = (clickhouse.clone(), database.clone(), stop.clone());
        std::thread::spawn(move || -> Result<Vec<f64>, String> {
            let mut latencies = Vec::new();
            let mut probe = 0u64;
            while !stop.load(Ordering::SeqCst) || probe < 20 {
                let sent = Instant::now();
                // Probes are warnings: the table is ordered by (service,
                // severity, timestamp), so polling for them reads few rows
                // and does not slow the inserts being measured.
                Event::builder(Level::Warn, "probe")
                    .attr("probe", probe)
                    .emit();
                let sql = format!(
                    "SELECT count() FROM events WHERE service = 'e2e-load' AND severity = 'warn' \
                     AND mapContains(attributes_int, 'probe') AND attributes_int['probe'] = {probe}"
                );
                while query(&clickhouse, &database, &sql).map_err(|e| e.to_string())? != "1" {
                    if sent.elapsed() > Duration::from_secs(60) {
                        return Err(format!("probe {probe} never became queryable"));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                probe += 1;
                std::thread::sleep(Duration::from_millis(200).saturating_sub(sent.elapsed()));
            }
            Ok(latencies)
        })
    };

    // Load: flat out from the producer threads; timed until all of it is
    // queryable.
    let start = Instant::now();
    let producers: Vec<_> = (0..threads)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..events / threads {
                    aires::info!(
                        "order placed",
                        order_id = i,
                        producer = t,
                        amount = 9.99,
                        currency = "EUR"
                    );
                }
            })
        })
        .collect();
    for producer in producers {
        producer.join().expect("producer");
    }
    aires::flush(Duration::from_secs(120))?;
    let expected = events / threads * threads;
    let count_sql = "SELECT count() FROM events WHERE service = 'e2e-load' AND severity = 'info'";
    let waited = Instant::now();
    while query(&clickhouse, &database, count_sql)?.parse::<u64>()? < expected {
        if waited.elapsed() > Duration::from_secs(120) {
            return Err("not every event became queryable within 120 s after the flush".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::SeqCst);
    let mut latencies = prober.join().expect("prober")?;
    latencies.sort_by(f64::total_cmp);
    let metrics = aires::metrics();
    println!(
        "{{\"events\":{expected},\"seconds\":{elapsed:.3},\"events_per_s\":{:.0},\"probes\":{},\"latency_p50_ms\":{:.1},\"latency_p99_ms\":{:.1},\"dropped\":{}}}",
        expected as f64 / elapsed,
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        metrics.events_dropped()
    );
    guard.shutdown(Duration::from_secs(30))?;
    Ok(())
}
