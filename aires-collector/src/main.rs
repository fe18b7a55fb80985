//! The `aires-collector` binary: configuration, logging, signals.

use std::process::ExitCode;
use std::sync::Arc;

use aires_collector::config::ConfigError;
use aires_collector::sink::ClickHouseSink;
use aires_collector::{CollectorConfig, NullSink, Sink, SinkKind, StdoutSink};
use tracing_subscriber::EnvFilter;

/// mimalloc: the collector allocates and frees many small strings per
/// event; glibc's allocator spent a third of the decode-and-transform time
/// in malloc, free and the page faults of returning memory to the kernel.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // An idle runtime thread gives its freed memory back (see
        // `aires_collector::allocator`).
        .on_thread_park(aires_collector::allocator::release_idle_memory)
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(run()),
        Err(error) => {
            eprintln!("aires-collector: cannot start the async runtime: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> ExitCode {
    let config = match CollectorConfig::load_from(std::env::args_os()) {
        Ok(config) => config,
        Err(ConfigError::Cli(error)) => error.exit(),
        Err(error) => {
            eprintln!("aires-collector: {error}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let sink: Arc<dyn Sink> = match config.sink {
        SinkKind::Clickhouse => match ClickHouseSink::start_waiting(
            &config.clickhouse(),
            std::time::Duration::from_secs(60),
        )
        .await
        {
            Ok(sink) => Arc::new(sink),
            Err(error) => {
                tracing::error!(url = %config.clickhouse_url, "cannot use ClickHouse: {error}");
                return ExitCode::FAILURE;
            }
        },
        SinkKind::Stdout => Arc::new(StdoutSink),
        SinkKind::Null => Arc::new(NullSink::default()),
    };
    let running = match aires_collector::start(config, sink).await {
        Ok(running) => running,
        Err(error) => {
            tracing::error!("{error}");
            return ExitCode::FAILURE;
        }
    };
    match running.otlp_http_addr() {
        Some(otlp_http) => tracing::info!(
            grpc = %running.grpc_addr(),
            metrics = %running.metrics_addr(),
            otlp_http = %otlp_http,
            "aires-collector listening (OTLP/gRPC on the grpc address)"
        ),
        None => tracing::info!(
            grpc = %running.grpc_addr(),
            metrics = %running.metrics_addr(),
            "aires-collector listening (OTLP/gRPC on the grpc address)"
        ),
    }
    wait_for_signal().await;
    tracing::info!("shutting down: no new requests; draining the pipeline");
    match running.shutdown().await {
        Ok(()) => {
            tracing::info!("drained and flushed; bye");
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!("{error}");
            ExitCode::FAILURE
        }
    }
}

/// SIGTERM or Ctrl-C (SIGINT).
async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
