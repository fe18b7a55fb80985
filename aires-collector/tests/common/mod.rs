//! Shared pieces of the collector tests: a real collector on an ephemeral
//! loopback port, a sink that keeps rows in memory (optionally slow or
//! failing), and helpers to wait on conditions with a deadline.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aires_collector::row::Row;
use aires_collector::{CollectorConfig, RowBatch, RunningCollector, Sink, SinkError, SinkFuture};
use parking_lot::Mutex;

pub const DEADLINE: Duration = Duration::from_secs(30);

/// Keeps every stored batch. `delay` slows each write; `failures` makes the
/// next writes fail.
#[derive(Debug, Default)]
pub struct MemorySink {
    pub batches: Mutex<Vec<RowBatch>>,
    pub delay: Mutex<Duration>,
    pub failures: Mutex<VecDeque<SinkError>>,
    pub attempts: Mutex<usize>,
}

impl MemorySink {
    pub fn rows(&self) -> Vec<Row> {
        self.batches
            .lock()
            .iter()
            .flat_map(|b| b.rows().cloned().collect::<Vec<_>>())
            .collect()
    }

    pub fn row_count(&self) -> usize {
        self.batches.lock().iter().map(|b| b.len()).sum()
    }

    pub fn fail_next(&self, error: SinkError) {
        self.failures.lock().push_back(error);
    }
}

impl Sink for MemorySink {
    fn write<'a>(&'a self, batch: &'a RowBatch) -> SinkFuture<'a> {
        Box::pin(async move {
            *self.attempts.lock() += 1;
            let delay = *self.delay.lock();
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if let Some(error) = self.failures.lock().pop_front() {
                return Err(error);
            }
            self.batches.lock().push(batch.clone());
            Ok(())
        })
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}

/// A collector on loopback with `configure` applied to test defaults.
pub async fn collector(
    sink: Arc<MemorySink>,
    configure: impl FnOnce(&mut CollectorConfig),
) -> RunningCollector {
    let mut config = CollectorConfig::for_tests();
    config.batch_timeout_ms = 20;
    configure(&mut config);
    aires_collector::start(config, sink)
        .await
        .expect("collector starts")
}

pub fn endpoint(collector: &RunningCollector) -> String {
    format!("http://{}", collector.grpc_addr())
}

/// Polls `condition` until it holds or `timeout` passes.
pub async fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// An SDK pipeline sending to `endpoint` through the real gRPC transport.
pub fn sdk(
    grpc: aires_transport_grpc::GrpcConfig,
    configure: impl FnOnce(aires_core::Config) -> aires_core::Config,
) -> aires_core::Pipeline {
    let transport = aires_transport_grpc::GrpcTransport::new(grpc).expect("valid transport config");
    let config = aires_core::Config::new("test-service")
        .environment("test")
        .env_overrides(false)
        .batch_timeout(Duration::from_millis(20))
        .transport(transport);
    aires_core::Pipeline::start(configure(config)).expect("sdk starts")
}

/// `count` events numbered by an `i` attribute.
pub fn emit(pipeline: &aires_core::Pipeline, count: usize) {
    for i in 0..count {
        pipeline.emit(
            aires_core::Event::builder(aires_core::Level::Info, "hello")
                .attr("i", i as i64)
                .build(),
        );
    }
}

/// The sorted `i` attributes of stored rows.
pub fn indexes(rows: &[Row]) -> Vec<i64> {
    let mut out: Vec<i64> = rows
        .iter()
        .filter_map(|r| {
            r.attributes_int
                .iter()
                .find(|(k, _)| &**k == "i")
                .map(|(_, v)| *v)
        })
        .collect();
    out.sort_unstable();
    out
}

/// Flushes an SDK pipeline without blocking the async runtime.
pub async fn flush(pipeline: &aires_core::Pipeline) {
    let pipeline = pipeline.clone();
    tokio::task::spawn_blocking(move || pipeline.flush(DEADLINE))
        .await
        .expect("flush task")
        .expect("flush completes");
}

/// Shuts an SDK pipeline down without blocking the async runtime.
pub async fn shutdown_sdk(pipeline: aires_core::Pipeline) {
    tokio::task::spawn_blocking(move || pipeline.shutdown(DEADLINE))
        .await
        .expect("shutdown task")
        .expect("sdk shutdown completes");
}

/// A raw client of the generated Collector service.
pub async fn client(
    collector: &RunningCollector,
) -> aires_proto::v1::collector_client::CollectorClient<tonic::transport::Channel> {
    aires_proto::v1::collector_client::CollectorClient::connect(endpoint(collector))
        .await
        .expect("connects")
}

/// A batch of `count` valid events with a fresh batch id.
pub fn batch(count: usize) -> aires_proto::v1::EventBatch {
    use aires_proto::v1 as proto;
    let batch_id = aires_core::Uuid7::now().to_bytes().to_vec();
    proto::EventBatch {
        attempt: 0,
        batch_id: batch_id.into(),
        sdk_name: "test".into(),
        sdk_version: "0".into(),
        service: "raw".into(),
        environment: "test".into(),
        events: (0..count)
            .map(|i| proto::Event {
                id: aires_core::Uuid7::now().to_bytes().to_vec().into(),
                timestamp_unix_nano: aires_core::__private::system_unix_nanos(),
                severity: proto::Severity::Info as i32,
                message: format!("event {i}"),
                attributes: vec![proto::Attribute {
                    key: "i".into(),
                    value: Some(proto::attribute::Value::IntValue(i as i64)),
                }],
                ..Default::default()
            })
            .collect(),
    }
}

/// Counts kept by [`counting_proxy`].
#[derive(Debug, Default)]
pub struct ProxyCounts {
    /// Bytes clients sent, counted when their connection closes.
    pub sent: std::sync::atomic::AtomicU64,
    /// Set once a proxied connection has closed.
    pub closed: std::sync::atomic::AtomicBool,
    /// Connections accepted.
    pub connections: std::sync::atomic::AtomicU64,
}

/// A TCP proxy to `target` that counts connections and the bytes clients
/// send.
pub async fn counting_proxy(
    target: std::net::SocketAddr,
) -> (std::net::SocketAddr, Arc<ProxyCounts>) {
    use std::sync::atomic::Ordering;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counts = Arc::new(ProxyCounts::default());
    let shared = counts.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            shared.connections.fetch_add(1, Ordering::SeqCst);
            let shared = shared.clone();
            tokio::spawn(async move {
                let mut server = tokio::net::TcpStream::connect(target).await.unwrap();
                if let Ok((up, _down)) =
                    tokio::io::copy_bidirectional(&mut client, &mut server).await
                {
                    shared.sent.fetch_add(up, Ordering::SeqCst);
                }
                shared.closed.store(true, Ordering::SeqCst);
            });
        }
    });
    (addr, counts)
}

/// A TCP proxy that can be cut: while cut, it drops every open connection
/// and closes new ones at once, so whatever is behind it is unreachable
/// without being stopped (and without giving up its port).
pub struct CuttableProxy {
    pub addr: std::net::SocketAddr,
    cut: Arc<std::sync::atomic::AtomicBool>,
    connections: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl CuttableProxy {
    pub async fn to(target: std::net::SocketAddr) -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let connections: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (is_cut, open) = (cut.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if is_cut.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                open.lock().push(task.abort_handle());
            }
        });
        CuttableProxy {
            addr,
            cut,
            connections,
        }
    }

    /// Makes the target unreachable.
    pub fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        for connection in self.connections.lock().drain(..) {
            connection.abort();
        }
    }

    /// Makes it reachable again.
    pub fn restore(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A TCP proxy that can swallow answers: while swallowing, what the client
/// sends still reaches the target, but nothing the target sends back
/// reaches the client. An insert made through it is stored, and its writer
/// never learns so: the moment a collector dies at its worst.
pub struct AnswerSwallowingProxy {
    pub addr: std::net::SocketAddr,
    swallow: Arc<std::sync::atomic::AtomicBool>,
}

impl AnswerSwallowingProxy {
    pub async fn to(target: std::net::SocketAddr) -> Self {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let swallow = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let swallowing = swallow.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let swallowing = swallowing.clone();
                tokio::spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut server_read, mut server_write) = server.into_split();
                    let upstream = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                    });
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        match server_read.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(_) if swallowing.load(Ordering::SeqCst) => {}
                            Ok(n) => {
                                if client_write.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    upstream.abort();
                });
            }
        });
        AnswerSwallowingProxy { addr, swallow }
    }

    /// From now on, answers are swallowed.
    pub fn swallow(&self) {
        self.swallow
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The body (with its status line and headers) of an HTTP GET that must answer 200.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}
