//! aires-loadgen: drives the real SDK from N producer threads at a target
//! rate (or flat out) for a duration or an event count, with realistic
//! events (a message, 3-8 typed attributes, HTTP information on about a
//! third, errors on a few), into a collector or a null transport.
//!
//! A progress line (rate, drops, batches in flight) is refreshed every
//! second on stderr; the summary is one JSON object on stdout: events/s,
//! drops, retries, event-to-ack latency percentiles (from a sample of the
//! acknowledged batches) and, with `--clickhouse-url`, event-to-queryable
//! percentiles of probe events polled for in ClickHouse.

mod events;
mod latency;
mod probes;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aires::{Config, OverflowPolicy};
use clap::Parser;

/// Drives the Aires SDK and reports what it measured.
#[derive(Debug, Parser)]
#[command(name = "aires-loadgen", version, about)]
struct Args {
    /// Collector endpoint (`http://host:4317`); without it, a null transport.
    #[arg(long, env = "AIRES_ENDPOINT")]
    endpoint: Option<String>,
    /// Producer threads.
    #[arg(long, default_value_t = 2)]
    threads: u32,
    /// Target events per second across all threads; 0 = as fast as possible.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Stop after this many events (across all threads).
    #[arg(long, conflicts_with = "duration")]
    events: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Wait for room when the SDK queue is full instead of dropping.
    #[arg(long)]
    block: bool,
    /// ClickHouse HTTP URL: send probe events and time how long until they
    /// are queryable there.
    #[arg(long)]
    clickhouse_url: Option<String>,
    /// ClickHouse database of the events table.
    #[arg(long, default_value = "aires")]
    clickhouse_database: String,
    /// Service name of the generated events.
    #[arg(long, default_value = "aires-loadgen")]
    service: String,
    /// Print the progress line (on stderr) every second.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    progress: bool,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let acks = latency::AckTimer::new(8);
    let transport: Box<dyn FnOnce(Config) -> Config> = match &args.endpoint {
        Some(endpoint) => {
            let grpc = aires::grpc::GrpcConfig::new(endpoint.clone())
                .apply_env(|name| std::env::var(name).ok())?;
            let inner = aires::grpc::GrpcTransport::new(grpc)?;
            let timed = acks.wrap(inner);
            Box::new(move |config: Config| config.transport(timed))
        }
        None => {
            let timed = acks.wrap(aires::transport::NullTransport::new());
            Box::new(move |config: Config| config.transport(timed))
        }
    };
    let mut config = Config::new(args.service.clone());
    if args.block {
        config = config.overflow(OverflowPolicy::Block);
    }
    let guard = aires::init(transport(config))?;

    let stop = Arc::new(AtomicBool::new(false));
    let emitted = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let per_thread_events = args.events.map(|n| n / u64::from(args.threads.max(1)));
    let per_thread_rate = args.rate as f64 / f64::from(args.threads.max(1));
    let producers: Vec<_> = (0..args.threads.max(1))
        .map(|thread| {
            let (stop, emitted) = (stop.clone(), emitted.clone());
            std::thread::spawn(move || {
                events::produce(thread, per_thread_events, per_thread_rate, &stop, &emitted)
            })
        })
        .collect();

    let prober = args.clickhouse_url.clone().map(|url| {
        probes::Prober::start(
            url,
            args.clickhouse_database.clone(),
            args.service.clone(),
            stop.clone(),
        )
    });

    let deadline = start + Duration::from_secs_f64(args.duration);
    let mut last = (Instant::now(), 0u64);
    while !producers.iter().all(|p| p.is_finished()) {
        if args.events.is_none() && Instant::now() >= deadline {
            stop.store(true, Ordering::SeqCst);
        }
        std::thread::sleep(Duration::from_millis(100));
        if args.progress && last.0.elapsed() >= Duration::from_secs(1) {
            let now = emitted.load(Ordering::Relaxed);
            let metrics = aires::metrics();
            eprint!(
                "\r{:>10.0} events/s  emitted {:>10}  dropped {:>8}  in flight {:>3}  queue {:>6}   ",
                (now - last.1) as f64 / last.0.elapsed().as_secs_f64(),
                now,
                metrics.events_dropped(),
                metrics.batches_in_flight,
                metrics.queue_depth
            );
            last = (Instant::now(), now);
        }
    }
    stop.store(true, Ordering::SeqCst);
    for producer in producers {
        producer.join().expect("producer thread");
    }
    let emitting = start.elapsed().as_secs_f64();
    aires::flush(Duration::from_secs(120))?;
    let delivered = start.elapsed().as_secs_f64();
    let queryable = prober.map(|p| p.finish()).transpose()?;
    let metrics = aires::metrics();
    guard.shutdown(Duration::from_secs(30))?;
    if args.progress {
        eprintln!();
    }

    let total = emitted.load(Ordering::SeqCst);
    let ack = acks.percentiles();
    let mut summary = serde_json::json!({
        "events": total,
        "threads": args.threads,
        "emit_seconds": emitting,
        "events_per_s_emitted": total as f64 / emitting,
        "events_per_s_delivered": metrics.events_sent as f64 / delivered,
        "events_sent": metrics.events_sent,
        "dropped": metrics.events_dropped(),
        "outcome_unknown": metrics.events_outcome_unknown,
        "dropped_queue_full": metrics.events_dropped_queue_full,
        "retries": metrics.batch_retries,
        "batches": metrics.batches_sent,
        "ack_latency_ms": { "p50": ack.0, "p90": ack.1, "p99": ack.2, "samples": ack.3 },
        "transport": if args.endpoint.is_some() { "grpc" } else { "null" },
        "peak_rss_bytes": peak_rss_bytes(),
    });
    if let Some((p50, p99, n)) = queryable {
        summary["queryable_latency_ms"] =
            serde_json::json!({ "p50": p50, "p99": p99, "probes": n });
    }
    println!("{summary}");
    Ok(())
}

/// The process's peak resident set size (`VmHWM`), where `/proc` has it.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
