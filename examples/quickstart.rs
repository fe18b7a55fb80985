//! The shortest tour of Aires: start it, record a few events, exit.
//!
//! With no transport configured, events are printed to stdout as JSON lines,
//! exactly as a collector would receive them.
//!
//!     cargo run --example quickstart

use std::error::Error;
use std::fmt;
use std::time::Duration;

use aires::{HttpInfo, TraceId};

/// An error with a cause, to show how `error = &err` records the chain.
#[derive(Debug)]
struct PaymentError {
    order_id: u64,
    cause: std::io::Error,
}

impl fmt::Display for PaymentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "payment for order {} failed", self.order_id)
    }
}

impl Error for PaymentError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.cause)
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    // AIRES_* environment variables override these settings.
    let _guard = aires::init(aires::Config::new("checkout").environment("dev"))?;

    aires::info!("service started", version = "1.4.2", workers = 4);

    let trace_id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736")?;
    aires::info!(
        "request served",
        trace_id = trace_id,
        http = HttpInfo::new("GET", "/orders/:id")
            .path("/orders/1042")
            .status(200)
            .duration(Duration::from_micros(1830)),
        cache_hit = true,
    );

    let user = "ada";
    aires::warn!("slow query for {user}", table = "orders", ms = 812);

    let err = PaymentError {
        order_id: 1042,
        cause: std::io::Error::new(std::io::ErrorKind::TimedOut, "card gateway timed out"),
    };
    aires::error!(
        "payment failed",
        trace_id = trace_id,
        error = &err,
        amount = 99.5,
        currency = "EUR",
        tags = ["payments"],
    );

    // Dropping the guard at the end of main sends everything still queued.
    Ok(())
}
