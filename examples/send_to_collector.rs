//! An application that sends events to a local aires-collector over gRPC.
//!
//! Start a collector that prints what it stores, then run this:
//!
//!     cargo run -p aires-collector -- --listen 127.0.0.1:4317 --sink stdout
//!     cargo run --example send_to_collector
//!
//! `AIRES_ENDPOINT` overrides the address; `AIRES_GRPC_MODE=stream` uses one
//! long-lived stream instead of a call per batch.

use std::time::Duration;

use aires::HttpInfo;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let guard = aires::init(
        aires::Config::new("orders-api")
            .environment("dev")
            .endpoint("http://127.0.0.1:4317"),
    )?;

    for i in 0..100u64 {
        let status = if i % 10 == 0 { 500 } else { 200 };
        aires::info!(
            "request served",
            http = HttpInfo::new("GET", "/orders/:id")
                .path(format!("/orders/{i}"))
                .status(status)
                .duration(Duration::from_micros(800 + i * 37)),
            order_id = i,
        );
    }

    // Wait until the collector has acknowledged everything (stored it).
    aires::flush(Duration::from_secs(10))?;
    let metrics = aires::metrics();
    println!(
        "sent {} events in {} batches; dropped {}",
        metrics.events_sent,
        metrics.batches_sent,
        metrics.events_dropped()
    );
    guard.shutdown(Duration::from_secs(5))?;
    Ok(())
}
