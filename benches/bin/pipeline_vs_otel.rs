//! Pipeline throughput, whole processes: the same event (static message,
//! three fields) from one and from two producer threads through
//!
//! - the Aires SDK (gRPC transport, default settings, producers blocking
//!   rather than dropping) into `aires-collector --sink null`;
//! - the OpenTelemetry SDK (`tracing` through
//!   `opentelemetry-appender-tracing`, the `BatchLogProcessor` with its
//!   default settings, the OTLP/gRPC exporter) into `otlp-sink`, a minimal
//!   OTLP receiver that counts and discards;
//!
//! over loopback on the same machine. Producers emit flat out for a fixed
//! time; then the SDK is flushed. Each run starts a fresh receiver and a
//! fresh client process and reads both processes' CPU time from `/proc`, so
//! the figure of merit is events delivered per CPU-second, client and
//! receiver together. OpenTelemetry's batch processor cannot block the
//! caller, so what it drops is reported beside what it delivered.
//!
//! Prints one JSON object per run on stdout.
//!
//!     pipeline-vs-otel [--seconds 5] [--bin-dir target/release]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aires::{Config, OverflowPolicy};
use aires_benches::peers;
use opentelemetry_otlp::WithExportConfig;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("client") {
        client(
            &args[2],
            &args[3],
            args[4].parse().unwrap(),
            args[5].parse().unwrap(),
        );
        return;
    }
    let mut seconds = 5.0f64;
    let mut bin_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("target/release"));
    let mut rest = args.iter().skip(1);
    while let Some(flag) = rest.next() {
        match flag.as_str() {
            "--seconds" => {
                seconds = rest
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--seconds N")
            }
            "--bin-dir" => bin_dir = PathBuf::from(rest.next().expect("--bin-dir DIR")),
            other => panic!(
                "unknown flag {other}; usage: pipeline-vs-otel [--seconds 5] [--bin-dir DIR]"
            ),
        }
    }
    for producers in [1u32, 2] {
        for sdk in ["aires", "opentelemetry"] {
            run(&bin_dir, sdk, producers, seconds);
        }
    }
}

/// CPU seconds (user + system) a process has used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc stat");
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields overall, in clock ticks (100 per second on Linux).
    let after = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

/// Reads lines from a child's output until one starts with `prefix`.
fn wait_line(out: &mut BufReader<ChildStdout>, prefix: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        if out.read_line(&mut line).expect("read child output") == 0 {
            panic!("child exited before printing {prefix}");
        }
        if let Some(value) = line.trim().strip_prefix(prefix) {
            return value.to_string();
        }
    }
}

struct Receiver {
    child: Child,
    out: BufReader<ChildStdout>,
    endpoint: String,
}

fn start_receiver(bin_dir: &Path, sdk: &str) -> Receiver {
    let mut command = match sdk {
        "aires" => {
            let mut command = Command::new(bin_dir.join("aires-collector"));
            command.args([
                "--sink",
                "null",
                "--listen",
                "127.0.0.1:0",
                "--metrics-listen",
                "127.0.0.1:0",
            ]);
            command
        }
        _ => Command::new(bin_dir.join("otlp-sink")),
    };
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start the {sdk} receiver from {}: {e}", bin_dir.display()));
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let endpoint = if sdk == "aires" {
        // The collector logs its addresses on stderr; keep draining it.
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let addr = loop {
            let line = lines.next().expect("collector exited").expect("stderr");
            if let Some(at) = line.find("grpc=") {
                break line[at + 5..]
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .to_string();
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        addr
    } else {
        wait_line(&mut out, "otlp=")
    };
    Receiver {
        child,
        out,
        endpoint: format!("http://{endpoint}"),
    }
}

fn run(bin_dir: &Path, sdk: &str, producers: u32, seconds: f64) {
    let mut receiver = start_receiver(bin_dir, sdk);
    let receiver_cpu_before = cpu_seconds(receiver.child.id());
    let client = Command::new(std::env::current_exe().expect("own path"))
        .args([
            "client",
            sdk,
            &receiver.endpoint,
            &producers.to_string(),
            &seconds.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the client");
    let client_report = {
        let out = client.wait_with_output().expect("client");
        assert!(out.status.success(), "client failed: {:?}", out.status);
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let receiver_cpu = cpu_seconds(receiver.child.id()) - receiver_cpu_before;
    let received: Option<u64> = if sdk == "aires" {
        let status = Command::new("kill")
            .args(["-TERM", &receiver.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        None
    } else {
        drop(receiver.child.stdin.take());
        Some(
            wait_line(&mut receiver.out, "received=")
                .parse()
                .expect("count"),
        )
    };
    receiver.child.wait().expect("receiver exit");
    // client report: emitted delivered dropped wall_seconds cpu_seconds
    let fields: Vec<f64> = client_report
        .split_whitespace()
        .map(|v| v.parse().expect("client report"))
        .collect();
    let (emitted, mut delivered, wall, client_cpu) = (fields[0], fields[1], fields[2], fields[3]);
    if let Some(received) = received {
        delivered = received as f64;
    }
    let cpu = client_cpu + receiver_cpu;
    println!(
        "{{\"sdk\":\"{sdk}\",\"producers\":{producers},\"emitted\":{emitted},\"delivered\":{delivered},\
         \"dropped\":{dropped},\"wall_seconds\":{wall:.3},\"events_per_second\":{eps:.0},\
         \"client_cpu_seconds\":{client_cpu:.2},\"receiver_cpu_seconds\":{receiver_cpu:.2},\
         \"events_per_cpu_second\":{epc:.0}}}",
        dropped = emitted - delivered,
        eps = delivered / wall,
        epc = delivered / cpu,
    );
    std::io::stdout().flush().unwrap();
}

/// Emits flat out from `producers` threads for `seconds`, flushes, and
/// prints `emitted delivered wall_seconds cpu_seconds`.
fn client(sdk: &str, endpoint: &str, producers: u32, seconds: f64) {
    let cpu_before = cpu_seconds(std::process::id());
    let emitted = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let produce = |emit: fn(u64)| {
        std::thread::scope(|scope| {
            for _ in 0..producers {
                scope.spawn(|| {
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..256 {
                            emit(i);
                            i += 1;
                        }
                    }
                    emitted.fetch_add(i, Ordering::Relaxed);
                });
            }
            std::thread::sleep(Duration::from_secs_f64(seconds));
            stop.store(true, Ordering::Relaxed);
        });
    };
    let start = Instant::now();
    let delivered = match sdk {
        "aires" => {
            let guard = aires::init(
                Config::new("bench")
                    .env_overrides(false)
                    .endpoint(endpoint)
                    .overflow(OverflowPolicy::Block),
            )
            .expect("init");
            produce(peers::aires_info);
            guard.shutdown(Duration::from_secs(120)).expect("shutdown");
            let metrics = aires::metrics();
            assert_eq!(metrics.events_dropped(), 0, "{metrics:?}");
            metrics.events_sent
        }
        _ => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let _entered = runtime.enter();
            let exporter = opentelemetry_otlp::LogExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .build()
                .expect("OTLP exporter");
            let provider = opentelemetry_sdk::logs::SdkLoggerProvider::builder()
                .with_batch_exporter(exporter)
                .build();
            let subscriber = {
                use tracing_subscriber::layer::SubscriberExt;
                tracing_subscriber::registry()
                    .with(tracing_subscriber::filter::LevelFilter::INFO)
                    .with(
                        opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(
                            &provider,
                        ),
                    )
            };
            tracing::subscriber::set_global_default(subscriber).expect("subscriber");
            produce(peers::tracing_info);
            provider.force_flush().expect("force_flush");
            provider.shutdown().expect("shutdown");
            0 // counted by the receiver
        }
    };
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds(std::process::id()) - cpu_before;
    println!(
        "{} {delivered} {wall} {cpu}",
        emitted.load(Ordering::Relaxed)
    );
}
