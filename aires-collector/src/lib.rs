//! aires-collector: receives Aires event batches over gRPC, flattens each
//! event into a row, and stores the rows through a backpressured pipeline.
//!
//! ```text
//! gRPC (Ingest, IngestStream, health)      server/ (framing checked)
//!   -> bounded queue -> N processors       pipeline/, decode/ (into rows)
//!   -> batcher (1000 rows / 500 ms)        pipeline/batcher.rs
//!   -> Sink (stdout, null, ...)            sink/
//! ```
//!
//! Delivery is at-least-once: a request is answered only after its rows
//! are stored. Between requests the collector keeps only the memory of
//! recent batches, to answer retries (see [`pipeline::recent_batches`]);
//! several instances behind an L4 balancer need no coordination.
//!
//! [`start`] runs a collector inside the current Tokio runtime (the binary
//! and the tests use it); [`RunningCollector::shutdown`] stops accepting,
//! drains, and flushes.

pub mod allocator;
pub mod config;
pub mod decode;
pub mod identity;
pub mod otlp;
pub mod pipeline;
#[cfg(any(test, feature = "reference"))]
pub mod reference;
pub mod row;
pub mod rules;
pub mod server;
pub mod sink;
pub mod telemetry;
pub mod wal;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::codec::CompressionEncoding;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Identity, Server, ServerTlsConfig};

pub use config::{CollectorConfig, SinkKind};
pub use sink::{NullSink, RowBatch, Sink, SinkError, SinkErrorKind, SinkFuture, StdoutSink};

use pipeline::Pipeline;
use server::collector_server::CollectorServer;
use server::{ApiKeys, CallLimitLayer, CollectorService, RefusalLayer};
use telemetry::Metrics;

/// Why the collector could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The TLS certificate or key cannot be read or used.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// The write-ahead log cannot be opened.
    #[error("cannot open the write-ahead log in {dir}: {source}")]
    Log {
        dir: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// Why a shutdown did not finish cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ShutdownError {
    /// Draining took longer than the shutdown timeout.
    #[error("draining did not finish within {0:?}; unstored events were not acknowledged")]
    Timeout(Duration),
    /// A server task failed.
    #[error("server error: {0}")]
    Server(String),
}

/// A collector serving in the background.
#[derive(Debug)]
pub struct RunningCollector {
    grpc_addr: SocketAddr,
    metrics_addr: SocketAddr,
    otlp_http_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    done: JoinHandle<Result<(), String>>,
    metrics: Arc<Metrics>,
    shutdown_timeout: Duration,
}

impl RunningCollector {
    /// Where the gRPC server listens.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// Where `/metrics` is served.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_addr
    }

    /// Where OTLP/HTTP is served, if it is (`--otlp-http-listen`).
    pub fn otlp_http_addr(&self) -> Option<SocketAddr> {
        self.otlp_http_addr
    }

    /// The collector's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Stops accepting requests, answers every request already taken once
    /// its rows are stored, ends open streams, and flushes the sink.
    pub async fn shutdown(self) -> Result<(), ShutdownError> {
        let _ = self.stop.send(true);
        match tokio::time::timeout(self.shutdown_timeout, self.done).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(error))) => Err(ShutdownError::Server(error)),
            Ok(Err(join)) => Err(ShutdownError::Server(join.to_string())),
            Err(_) => Err(ShutdownError::Timeout(self.shutdown_timeout)),
        }
    }
}

/// Starts a collector with `config`, storing rows through `sink`.
pub async fn start(
    config: CollectorConfig,
    sink: Arc<dyn Sink>,
) -> Result<RunningCollector, StartError> {
    let metrics = Arc::new(Metrics::default());
    let journal = match &config.data_dir {
        Some(dir) => Some(
            pipeline::journal::Journal::open(dir, config.journal()).map_err(|source| {
                StartError::Log {
                    dir: dir.clone(),
                    source,
                }
            })?,
        ),
        None => None,
    };
    let (pipeline, tasks) =
        Pipeline::start_with_journal(config.pipeline(), sink, metrics.clone(), journal);
    let bind = |addr: SocketAddr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })
    };
    let grpc_listener = bind(config.listen).await?;
    let metrics_listener = bind(config.metrics_listen).await?;
    let otlp_http_listener = match config.otlp_http_listen {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let otlp_http_addr = match &otlp_http_listener {
        Some(listener) => Some(listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.otlp_http_listen.expect("set when listening"),
            source,
        })?),
        None => None,
    };
    let grpc_addr = grpc_listener
        .local_addr()
        .map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
    let metrics_addr = metrics_listener
        .local_addr()
        .map_err(|source| StartError::Bind {
            addr: config.metrics_listen,
            source,
        })?;

    let (stop, stopping) = watch::channel(false);
    let service = CollectorService::new(
        pipeline.clone(),
        metrics.clone(),
        stopping.clone(),
        config.max_message_bytes,
        config.max_stream_pending_batches,
        Duration::from_secs(config.stream_idle_timeout_secs),
    );
    let collector = CollectorServer::new(service)
        .max_decoding_message_size(config.max_message_bytes)
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .send_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Zstd);
    let keys = ApiKeys::new(config.api_keys.clone());
    let grpc_keys = keys.clone();
    let collector = InterceptedService::new(collector, move |request| grpc_keys.check(request));
    // The call limit wraps the ingest services alone: health checks are
    // never held behind it. OTLP calls share it with Aires calls.
    let limits = CallLimitLayer::new(
        config.max_concurrent_requests,
        config.max_open_streams,
        config.request_read_timeout(),
    );
    let collector = tower::Layer::layer(&limits, collector);
    // Refusals are counted for the ingest services (not health checks).
    let refusals = RefusalLayer::new(config.max_message_bytes, metrics.clone());
    let collector = tower::Layer::layer(&refusals, collector);

    // OpenTelemetry logs, behind the same keys, limits and counting.
    let logs = otlp::LogsIngest::new(
        pipeline.clone(),
        metrics.clone(),
        stopping.clone(),
        config.max_message_bytes,
    );
    let otlp_grpc = otlp::grpc::LogsServiceServer::new(otlp::grpc::OtlpLogsService(logs.clone()))
        .max_decoding_message_size(config.max_message_bytes)
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .send_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Zstd);
    let otlp_keys = keys.clone();
    let otlp_grpc = InterceptedService::new(otlp_grpc, move |request| otlp_keys.check(request));
    let otlp_grpc = tower::Layer::layer(&refusals, tower::Layer::layer(&limits, otlp_grpc));
    if otlp_http_listener.is_some() && config.tls_cert.is_some() {
        tracing::warn!(
            "--otlp-http-listen serves plain HTTP although --tls-cert is set: API keys sent to it \
             travel in clear; terminate TLS in front of it, or use OTLP/gRPC on --listen"
        );
    }
    let otlp_http = otlp_http_listener.map(|listener| {
        let router = otlp::http::OtlpHttp::new(
            logs,
            keys.clone(),
            config.max_message_bytes,
            config.request_read_timeout(),
            metrics.clone(),
        )
        .router(config.max_concurrent_requests);
        (listener, router)
    });
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<CollectorServer<CollectorService>>()
        .await;

    let mut builder = Server::builder()
        .tcp_nodelay(true)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .max_concurrent_streams(Some(256));
    if let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) {
        let read = |path: &std::path::PathBuf| {
            std::fs::read(path)
                .map_err(|e| StartError::Tls(format!("cannot read {}: {e}", path.display())))
        };
        let identity = Identity::from_pem(read(cert)?, read(key)?);
        builder = builder
            .tls_config(ServerTlsConfig::new().identity(identity))
            .map_err(|e| StartError::Tls(e.to_string()))?;
    }
    let router = builder
        .add_service(health_service)
        .add_service(collector)
        .add_service(otlp_grpc);

    let stopped = |mut stopping: watch::Receiver<bool>| async move {
        let _ = stopping.wait_for(|stop| *stop).await;
    };
    let depth_metrics = metrics.clone();
    let depth = pipeline.depth_probe();
    let pending_bytes = pipeline.bytes_probe();
    let log_bytes = pipeline.log_bytes_probe();
    let render_metrics = Arc::new(move || {
        depth_metrics.queue_depth.set(depth() as i64);
        depth_metrics.pending_bytes.set(pending_bytes() as i64);
        depth_metrics.wal_bytes.set(log_bytes() as i64);
        depth_metrics.render()
    });
    let grpc = router.serve_with_incoming_shutdown(
        server::accept_limited(grpc_listener, config.max_connections),
        stopped(stopping.clone()),
    );
    let metrics_server =
        telemetry::serve(metrics_listener, render_metrics, stopped(stopping.clone()));
    let otlp_http_server = {
        let stopping = stopping.clone();
        async move {
            match otlp_http {
                Some((listener, router)) => {
                    otlp::http::serve(listener, router, stopped(stopping)).await
                }
                None => Ok(()),
            }
        }
    };
    // Load balancers see NOT_SERVING as soon as shutdown starts.
    let stopping_health = health.clone();
    tokio::spawn({
        let stopping = stopping.clone();
        async move {
            stopped(stopping).await;
            stopping_health
                .set_not_serving::<CollectorServer<CollectorService>>()
                .await;
            // The whole server too: checks that name no service ask for it.
            stopping_health
                .set_service_status("", tonic_health::ServingStatus::NotServing)
                .await;
        }
    });
    let done = tokio::spawn(async move {
        let (grpc, metrics_server, otlp_http_server) =
            tokio::join!(grpc, metrics_server, otlp_http_server);
        // The server has answered every request it took; let the pipeline
        // run dry and flush.
        drop(pipeline);
        tasks.drain().await;
        grpc.map_err(|e| e.to_string())?;
        metrics_server.map_err(|e| e.to_string())?;
        otlp_http_server.map_err(|e| e.to_string())?;
        Ok(())
    });
    Ok(RunningCollector {
        grpc_addr,
        metrics_addr,
        otlp_http_addr,
        stop,
        done,
        metrics,
        shutdown_timeout: config.shutdown_timeout(),
    })
}
