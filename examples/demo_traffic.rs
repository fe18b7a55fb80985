//! A small web shop's request logs, for the demo: HTTP requests across a
//! few routes with varied latencies, a trace per request with a few events
//! each, and failed payments with their error chains.
//!
//! Sends to the collector named by `AIRES_ENDPOINT` (scripts/demo sets it):
//!
//!     AIRES_ENDPOINT=http://127.0.0.1:4317 cargo run --example demo_traffic -- 2000
//!
//! With `--trickle RATE`, it keeps sending RATE requests a second until it
//! is stopped (`scripts/demo --console` runs it so, for the console's live
//! tail).

use std::error::Error;
use std::fmt;
use std::time::Duration;

use aires::{HttpInfo, SpanId, TraceId};

/// Routes: (method, route, median latency in ms, share of failures).
const ROUTES: [(&str, &str, f64, f64); 4] = [
    ("GET", "/orders/:id", 4.0, 0.01),
    ("POST", "/orders", 12.0, 0.03),
    ("POST", "/pay", 45.0, 0.12),
    ("GET", "/search", 25.0, 0.02),
];

/// xorshift64*: the demo needs plausible numbers, not cryptography.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A long-tailed latency around `median` (log-normal, sigma 0.6).
    fn latency(&mut self, median: f64) -> f64 {
        let (u1, u2) = (self.unit().max(1e-12), self.unit());
        let normal = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        median * (0.6 * normal).exp()
    }
}

#[derive(Debug)]
struct PaymentDeclined {
    order_id: u64,
    cause: std::io::Error,
}

impl fmt::Display for PaymentDeclined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "payment for order {} was declined", self.order_id)
    }
}

impl Error for PaymentDeclined {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.cause)
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // (requests, pause between requests) for a burst or a trickle.
    let (requests, trickle): (u64, Option<Duration>) = match args.as_slice() {
        [flag, rate] if flag == "--trickle" => {
            let rate: f64 = rate.parse()?;
            (
                u64::MAX,
                Some(Duration::from_secs_f64(1.0 / rate.max(0.01))),
            )
        }
        [n] => (n.parse()?, None),
        [] => (2000, None),
        _ => return Err("usage: demo_traffic [REQUESTS | --trickle RATE]".into()),
    };
    let guard = aires::init(aires::Config::new("webshop").environment("demo"))?;
    // A fixed seed for the burst (the same shop every run); the trickle
    // draws new ids, so its traces are its own.
    let seed = match trickle {
        None => 0x5eed_1234_abcd_0001,
        Some(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64 | 1),
    };
    let mut random = Random(seed);
    let mut failed = 0;
    for order_id in 0..requests {
        if let Some(pause) = trickle {
            std::thread::sleep(pause);
        } else if order_id % 20 == 19 {
            // About 2000 requests a second: a busy shop, not a flood.
            std::thread::sleep(Duration::from_millis(10));
        }
        let (method, route, median, failure_share) = ROUTES[(random.next() % 4) as usize];
        let trace = TraceId::from_int(u128::from(random.next()) << 64 | u128::from(random.next()));
        let span = SpanId::from_int(random.next() | 1);
        let path = route.replace(":id", &order_id.to_string());
        aires::info!(
            "request received",
            trace_id = trace,
            span_id = span,
            route = route
        );
        if route == "/search" {
            aires::info!(
                "search query",
                trace_id = trace,
                span_id = span,
                terms = 3,
                hits = random.next() % 40
            );
        }
        let millis = random.latency(median);
        let fails = random.unit() < failure_share;
        let status = if fails {
            if route == "/pay" {
                402
            } else {
                500
            }
        } else {
            200
        };
        let http = HttpInfo::new(method, route)
            .path(path)
            .status(status)
            .duration(Duration::from_secs_f64(millis / 1000.0))
            .client_ip("10.1.2.3")
            .scheme("https");
        if fails && route == "/pay" {
            failed += 1;
            let err = PaymentDeclined {
                order_id,
                cause: std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "card gateway timed out after 30s",
                ),
            };
            aires::error!(
                "request failed",
                trace_id = trace,
                span_id = span,
                http = http,
                error = &err,
                order_id = order_id,
            );
        } else if fails {
            failed += 1;
            let err = std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "inventory service reset the connection",
            );
            aires::error!(
                "request failed",
                trace_id = trace,
                span_id = span,
                http = http,
                error = &err,
                order_id = order_id,
            );
        } else {
            aires::info!(
                "request served",
                trace_id = trace,
                span_id = span,
                http = http,
                order_id = order_id
            );
        }
    }
    aires::flush(Duration::from_secs(30))?;
    let metrics = aires::metrics();
    println!(
        "webshop: {requests} requests ({failed} failed) -> {} events stored, {} dropped",
        metrics.events_sent,
        metrics.events_dropped()
    );
    guard.shutdown(Duration::from_secs(10))?;
    Ok(())
}
