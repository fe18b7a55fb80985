//! The gRPC transport: sends encoded batches to `aires-collector`.
//!
//! - One HTTP/2 connection (a tonic `Channel`), shared by every send, so
//!   several batches are in flight at once without more sockets.
//! - Unary (`Ingest`, the default) or streaming (`IngestStream`) mode.
//! - Optional TLS through rustls, with a custom CA; an API key in the
//!   `x-api-key` metadata; gzip or zstd compression; a per-call deadline.
//! - Status codes are mapped for the pipeline's retry policy: `UNAVAILABLE`
//!   and `RESOURCE_EXHAUSTED` say the collector did not take the batch
//!   (retryable); `DEADLINE_EXCEEDED`, `ABORTED`, `CANCELLED`, `UNKNOWN`,
//!   `INTERNAL`, and a connection lost after the request went out, leave
//!   the outcome unknown (retried, and counted as unknown if never
//!   settled); every other code refuses the batch (permanent), as does a
//!   message too large. A connection never made is "not delivered".
//! - A retry says so: its message carries `EventBatch.attempt`, so the
//!   collector looks it up among the batches it already stored.
//! - Events the collector refuses one by one come back in the `Receipt`
//!   and are counted by the pipeline.
//!
//! The batch bytes encoded by the SDK's worker are sent as they are, never
//! decoded and re-encoded.
//!
//! ```no_run
//! use aires_transport_grpc::{GrpcConfig, GrpcTransport};
//! let transport = GrpcTransport::new(GrpcConfig::new("http://127.0.0.1:4317"))?;
//! let _guard = aires_core::init(aires_core::Config::new("checkout").transport(transport))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// Every public item is documented (checked by clippy with -D warnings).
#![warn(missing_docs)]

mod codec;
mod config;
mod status;
mod stream;

use std::sync::Arc;

use aires_core::transport::{EncodedBatch, Receipt, SendFuture, Transport, TransportError};
use aires_proto::v1 as proto;
use http::uri::PathAndQuery;
use tokio::sync::OnceCell;
use tonic::codec::CompressionEncoding;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

pub use config::{Compression, GrpcConfig, GrpcConfigError, Mode};

use codec::PreEncodedCodec;
use status::call_error;

const INGEST_PATH: &str = "/aires.v1.Collector/Ingest";
const INGEST_STREAM_PATH: &str = "/aires.v1.Collector/IngestStream";

/// A [`Transport`] to `aires-collector` over gRPC.
#[derive(Clone, Debug)]
pub struct GrpcTransport {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: GrpcConfig,
    endpoint: Endpoint,
    /// Made on first use, inside the pipeline's runtime (a tonic channel
    /// spawns its connection task on the runtime that creates it).
    channel: OnceCell<Channel>,
    api_key: Option<MetadataValue<tonic::metadata::Ascii>>,
    stream: stream::AckStream,
}

impl GrpcTransport {
    /// Validates `config` and prepares the connection (made lazily, on the
    /// first send).
    pub fn new(config: GrpcConfig) -> Result<Self, GrpcConfigError> {
        config.validate()?;
        let tonic_error = |e: tonic::transport::Error| GrpcConfigError::Tonic(e.to_string());
        let mut endpoint = Endpoint::from_shared(config.endpoint.clone())
            .map_err(tonic_error)?
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(std::time::Duration::from_secs(30))
            .keep_alive_while_idle(true);
        if config.endpoint.starts_with("https://") {
            let mut tls = ClientTlsConfig::new().with_webpki_roots();
            if let Some(pem) = &config.tls_ca_pem {
                tls = tls.ca_certificate(Certificate::from_pem(pem));
            }
            if let Some(domain) = &config.tls_domain {
                tls = tls.domain_name(domain.clone());
            }
            endpoint = endpoint.tls_config(tls).map_err(tonic_error)?;
        }
        let api_key = match &config.api_key {
            Some(key) => Some(key.parse().map_err(|_| GrpcConfigError::ApiKey)?),
            None => None,
        };
        Ok(GrpcTransport {
            inner: Arc::new(Inner {
                config,
                endpoint,
                channel: OnceCell::new(),
                api_key,
                stream: stream::AckStream::default(),
            }),
        })
    }

    async fn send_batch(&self, batch: EncodedBatch) -> Result<Receipt, TransportError> {
        let inner = &*self.inner;
        let channel = inner
            .channel
            .get_or_init(|| async { inner.endpoint.connect_lazy() })
            .await
            .clone();
        let mut grpc = tonic::client::Grpc::new(channel);
        if let Some(encoding) = compression(inner.config.compression) {
            grpc = grpc.send_compressed(encoding).accept_compressed(encoding);
        }
        match inner.config.mode {
            Mode::Unary => self.unary(grpc, batch).await,
            Mode::Streaming => {
                let request = |stream| self.request(stream);
                inner
                    .stream
                    .send(grpc, batch, inner.config.timeout, request)
                    .await
            }
        }
    }

    async fn unary(
        &self,
        mut grpc: tonic::client::Grpc<Channel>,
        batch: EncodedBatch,
    ) -> Result<Receipt, TransportError> {
        grpc.ready()
            .await
            .map_err(|e| TransportError::retryable("collector unreachable").with_source(e))?;
        let response = grpc
            .unary(
                self.request(with_attempt(&batch)),
                PathAndQuery::from_static(INGEST_PATH),
                PreEncodedCodec::<proto::IngestResponse>::default(),
            )
            .await
            .map_err(|status| call_error(&status))?
            .into_inner();
        Ok(receipt(response.rejected, &response.rejections))
    }

    /// A request with the API key and deadline attached.
    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Some(key) = &self.inner.api_key {
            request.metadata_mut().insert("x-api-key", key.clone());
        }
        if self.inner.config.mode == Mode::Unary {
            request.set_timeout(self.inner.config.timeout);
        }
        request
    }
}

impl Transport for GrpcTransport {
    fn send(&self, batch: EncodedBatch) -> SendFuture<'_> {
        Box::pin(self.send_batch(batch))
    }
}

fn compression(compression: Compression) -> Option<CompressionEncoding> {
    match compression {
        Compression::None => None,
        Compression::Gzip => Some(CompressionEncoding::Gzip),
        Compression::Zstd => Some(CompressionEncoding::Zstd),
    }
}

/// Field 7 of `EventBatch` (`attempt`), varint: the key byte.
const ATTEMPT_KEY: u8 = (proto::fields::event_batch::ATTEMPT << 3) as u8;
const _: () = assert!(
    proto::fields::event_batch::ATTEMPT < 16,
    "the attempt's key is one byte"
);

/// The batch's bytes, with `attempt` appended for a retry (a protobuf
/// message may repeat a field; the last value counts). A first attempt is
/// sent as encoded.
pub(crate) fn with_attempt(batch: &EncodedBatch) -> bytes::Bytes {
    if batch.attempt <= 1 {
        return batch.payload.clone();
    }
    let mut bytes = Vec::with_capacity(batch.payload.len() + 6);
    bytes.extend_from_slice(&batch.payload);
    bytes.push(ATTEMPT_KEY);
    let mut value = batch.attempt;
    while value >= 0x80 {
        bytes.push((value as u8) | 0x80);
        value >>= 7;
    }
    bytes.push(value as u8);
    bytes.into()
}

/// The receipt for a stored batch, naming one rejection reason.
fn receipt(rejected: u32, rejections: &[proto::Rejection]) -> Receipt {
    Receipt::with_rejections(
        u64::from(rejected),
        rejections
            .first()
            .map(|r| format!("event {}: {}", r.index, r.reason)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn a_retry_carries_its_attempt_and_the_same_batch() {
        let original = proto::EventBatch {
            batch_id: vec![7; 16].into(),
            service: "checkout".into(),
            ..Default::default()
        };
        let mut batch = EncodedBatch::new(aires_core::Uuid7::now(), original.encode_to_vec(), 0);
        assert_eq!(
            with_attempt(&batch),
            batch.payload,
            "a first attempt is as encoded"
        );
        batch.attempt = 300;
        let sent = proto::EventBatch::decode(with_attempt(&batch)).unwrap();
        assert_eq!(sent.attempt, 300);
        assert_eq!(proto::EventBatch { attempt: 0, ..sent }, original);
    }
}
