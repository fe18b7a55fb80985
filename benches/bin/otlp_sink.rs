//! A minimal OTLP/gRPC logs receiver that counts and discards: the
//! OpenTelemetry side's counterpart of `aires-collector --sink null` in the
//! pipeline comparison. Built on the published OTLP proto crate
//! (`opentelemetry-proto`) and tonic, on a Tokio runtime with one worker per
//! core, as the collector.
//!
//! Prints `otlp=ADDR` on stdout once listening; when its stdin closes it
//! prints `received=N` (log records) and exits.
//!
//!     otlp-sink [LISTEN_ADDR]      (default 127.0.0.1:0)

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use tonic::{Request, Response, Status};

#[derive(Debug, Default)]
struct CountingSink {
    records: Arc<AtomicU64>,
}

#[tonic::async_trait]
impl LogsService for CountingSink {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let records: usize = request
            .get_ref()
            .resource_logs
            .iter()
            .flat_map(|resource| &resource.scope_logs)
            .map(|scope| scope.log_records.len())
            .sum();
        self.records.fetch_add(records as u64, Ordering::Relaxed);
        Ok(Response::new(ExportLogsServiceResponse::default()))
    }
}

fn main() {
    let listen: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into())
        .parse()
        .expect("LISTEN_ADDR: host:port");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let records = Arc::new(AtomicU64::new(0));
    let sink = CountingSink {
        records: records.clone(),
    };
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(listen))
        .expect("bind");
    println!("otlp={}", listener.local_addr().expect("local addr"));
    std::io::stdout().flush().expect("stdout");
    runtime.spawn(
        tonic::transport::Server::builder()
            .add_service(LogsServiceServer::new(sink).max_decoding_message_size(64 << 20))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    // Serve until stdin closes.
    for line in std::io::stdin().lock().lines() {
        if line.is_err() {
            break;
        }
    }
    println!("received={}", records.load(Ordering::Relaxed));
}
