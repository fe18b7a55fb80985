//! Event-to-queryable latency: a probe event every 200 ms, each polled for
//! in ClickHouse until it can be read back.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Probes measured at least, even if the load ends sooner.
const MIN_PROBES: usize = 20;

/// The probing thread.
pub struct Prober {
    thread: JoinHandle<Result<Vec<f64>, String>>,
}

impl Prober {
    /// Probes until `stop` is set and at least 20 probes are measured.
    pub fn start(url: String, database: String, service: String, stop: Arc<AtomicBool>) -> Self {
        let thread = std::thread::spawn(move || {
            let mut latencies = Vec::new();
            let mut probe = 0u64;
            while !stop.load(Ordering::SeqCst) || latencies.len() < MIN_PROBES {
                let sent = Instant::now();
                // Warnings: the table is ordered by (service, severity,
                // timestamp), so polling for them reads few rows and does
                // not slow the inserts being measured.
                aires::warn!("probe", probe = probe);
                let sql = format!(
                    "SELECT count() FROM events WHERE service = '{service}' AND severity = 'warn' \
                     AND mapContains(attributes_int, 'probe') AND attributes_int['probe'] = {probe}"
                );
                while query(&url, &database, &sql)? != "1" {
                    if sent.elapsed() > Duration::from_secs(60) {
                        return Err(format!("probe {probe} was not queryable after 60 s"));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                probe += 1;
                std::thread::sleep(Duration::from_millis(200).saturating_sub(sent.elapsed()));
            }
            Ok(latencies)
        });
        Prober { thread }
    }

    /// p50 and p99 in milliseconds, and the probe count.
    pub fn finish(self) -> Result<(f64, f64, usize), String> {
        let mut latencies = self
            .thread
            .join()
            .map_err(|_| "the prober panicked".to_string())??;
        latencies.sort_by(f64::total_cmp);
        let at = |p: f64| {
            let rank = ((p * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
            (latencies[rank - 1] * 10.0).round() / 10.0
        };
        Ok((at(0.5), at(0.99), latencies.len()))
    }
}

/// One query over ClickHouse's HTTP interface; the body, trimmed.
fn query(url: &str, database: &str, sql: &str) -> Result<String, String> {
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(host).map_err(|e| format!("ClickHouse at {url}: {e}"))?;
    let request = format!(
        "POST /?database={database} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{sql}",
        sql.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| e.to_string())?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("ClickHouse answered: {head} {body}"));
    }
    Ok(body.trim().to_owned())
}
