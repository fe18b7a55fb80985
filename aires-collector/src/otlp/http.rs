//! OTLP/HTTP: `POST /v1/logs` on its own listener (`--otlp-http-listen`).
//!
//! As the OTLP specification gives it:
//! - bodies are `application/x-protobuf` or `application/json` (the OTLP
//!   JSON mapping: hex ids, camelCase names; what else the proto3 JSON
//!   mapping allows is read too, see [`super::json`]), plain or
//!   `Content-Encoding: gzip`; the answer is in the request's format;
//! - 200 with an `ExportLogsServiceResponse` (with `partialSuccess` when
//!   records were refused) once the records are stored;
//! - 400 for a body that does not decode, 401 for a missing or wrong API
//!   key, 413 for a body (or a decompressed body) over
//!   `--max-message-bytes`, 415 for another content type or encoding, 404
//!   and 405 for other paths and methods; each with a `google.rpc.Status`
//!   body saying why;
//! - 503 with `Retry-After` when the collector cannot take the request now
//!   (shutting down, its write-ahead log failing, a body not received
//!   within `--request-read-timeout-secs`), which OTLP clients retry. While the store is unreachable a request waits for its records
//!   to be stored; a retry with the same bytes joins the first attempt.
//!
//! API keys are the gRPC listener's: `x-api-key`, or
//! `Authorization: Bearer <key>`. At most `--max-concurrent-requests`
//! requests are served at once; the others wait. The listener speaks
//! plain HTTP: with `--tls-cert`, terminate TLS in front of it, or use
//! OTLP/gRPC, which shares the gRPC listener's TLS.

use std::io::Read as _;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use prost::Message as _;
use tokio::net::TcpListener;
use tonic::Code;

use super::LogsIngest;
use crate::identity::Scope;
use crate::server::ApiKeys;
use crate::telemetry::Metrics;

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// Seconds a client is asked to wait before retrying a 503.
const RETRY_AFTER_SECS: u32 = 1;

/// What the handler needs.
#[derive(Clone, Debug)]
pub struct OtlpHttp {
    ingest: LogsIngest,
    keys: ApiKeys,
    max_body_bytes: usize,
    /// How long a request may take to send its body.
    read_timeout: Duration,
    metrics: Arc<Metrics>,
}

impl OtlpHttp {
    /// Serves `ingest` behind `keys`, refusing bodies over `max_body_bytes`
    /// (before and after decompression) and bodies not received within
    /// `read_timeout`.
    pub fn new(
        ingest: LogsIngest,
        keys: ApiKeys,
        max_body_bytes: usize,
        read_timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        OtlpHttp {
            ingest,
            keys,
            max_body_bytes,
            read_timeout,
            metrics,
        }
    }

    /// The routes: `POST /v1/logs`, at most `max_concurrent` at once.
    pub fn router(self, max_concurrent: usize) -> axum::Router {
        axum::Router::new()
            .route(
                "/v1/logs",
                axum::routing::post(export).fallback(method_not_allowed),
            )
            .fallback(not_found)
            .layer(tower::limit::ConcurrencyLimitLayer::new(
                max_concurrent.max(1),
            ))
            .with_state(self)
    }
}

/// Serves `router` on `listener` until `shutdown`; requests already taken
/// are answered first.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// The body format of a request, and so of its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Protobuf,
    Json,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Format::Protobuf => PROTOBUF,
            Format::Json => JSON,
        }
    }
}

/// A refusal: the HTTP status and why.
struct Refusal {
    status: StatusCode,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Refusal {
            status,
            message: message.into(),
        }
    }

    /// The answer to a request the collector could not store.
    fn from_status(status: &tonic::Status) -> Self {
        let http = match status.code() {
            Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
                StatusCode::BAD_REQUEST
            }
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
            Code::PermissionDenied => StatusCode::FORBIDDEN,
            // A request bigger than the collector's whole memory budget
            // fails the same way every time.
            Code::ResourceExhausted if status.message().contains("too large") => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            code if super::retryable(code) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Refusal::new(http, status.message())
    }

    fn into_response(self, format: Format, metrics: &Metrics) -> Response {
        metrics.requests_rejected.inc();
        let code = match self.status {
            StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE => Code::InvalidArgument,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Code::InvalidArgument,
            StatusCode::UNAUTHORIZED => Code::Unauthenticated,
            StatusCode::FORBIDDEN => Code::PermissionDenied,
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => Code::Unimplemented,
            StatusCode::SERVICE_UNAVAILABLE => Code::Unavailable,
            _ => Code::Internal,
        };
        let body = match format {
            Format::Protobuf => RpcStatus {
                code: code as i32,
                message: self.message,
            }
            .encode_to_vec(),
            Format::Json => serde_json::json!({ "code": code as i32, "message": self.message })
                .to_string()
                .into_bytes(),
        };
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, format.content_type())],
            body,
        )
            .into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}

/// `google.rpc.Status`, the body of an OTLP/HTTP failure.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

async fn method_not_allowed(State(http): State<OtlpHttp>) -> Response {
    let mut response = Refusal::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed: OTLP/HTTP logs are sent with POST",
    )
    .into_response(Format::Json, &http.metrics);
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

async fn not_found(State(http): State<OtlpHttp>) -> Response {
    Refusal::new(
        StatusCode::NOT_FOUND,
        "not found: OTLP/HTTP logs are accepted at POST /v1/logs",
    )
    .into_response(Format::Json, &http.metrics)
}

async fn export(State(http): State<OtlpHttp>, headers: HeaderMap, body: Body) -> Response {
    let format = match format(&headers) {
        Ok(format) => format,
        Err(refusal) => return refusal.into_response(Format::Json, &http.metrics),
    };
    match take(&http, &headers, format, body).await {
        Ok(answer) => {
            let body = match format {
                Format::Protobuf => answer.encode_to_vec(),
                Format::Json => serde_json::to_vec(&answer).unwrap_or_default(),
            };
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, format.content_type())],
                body,
            )
                .into_response()
        }
        Err(refusal) => refusal.into_response(format, &http.metrics),
    }
}

/// Checks, reads and stores one request.
async fn take(
    http: &OtlpHttp,
    headers: &HeaderMap,
    format: Format,
    body: Body,
) -> Result<opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse, Refusal> {
    let scope = authenticate(&http.keys, headers)?;
    let gzip = match headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("") | Some("identity") => false,
        Some("gzip") => true,
        Some(other) => {
            return Err(Refusal::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("unsupported Content-Encoding {other:?}: send gzip or no encoding"),
            ))
        }
    };
    let limit = http.max_body_bytes;
    let too_large = || {
        Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than the collector's limit of {limit} bytes"),
        )
    };
    // The clock starts once the request has its place among those served.
    let read_timeout = http.read_timeout;
    let bytes = tokio::time::timeout(read_timeout, axum::body::to_bytes(body, limit))
        .await
        .map_err(|_| {
            // 503, not 408: OTLP clients retry 503 (and not 408).
            Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the request body did not arrive within {}s (request_read_timeout_secs)",
                    read_timeout.as_secs()
                ),
            )
        })?
        .map_err(|_| too_large())?;
    let bytes = if gzip {
        let mut inflated = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes.as_ref())
            .take(limit as u64 + 1)
            .read_to_end(&mut inflated)
            .map_err(|e| {
                Refusal::new(
                    StatusCode::BAD_REQUEST,
                    format!("the gzip body does not decompress: {e}"),
                )
            })?;
        if inflated.len() > limit {
            return Err(too_large());
        }
        Bytes::from(inflated)
    } else {
        bytes
    };
    // JSON is read into prost's structs and encoded, then takes the
    // protobuf path: one mapping for both.
    let bytes = match format {
        Format::Protobuf => bytes,
        Format::Json => {
            let request = super::json::request(&bytes).map_err(|e| {
                Refusal::new(
                    StatusCode::BAD_REQUEST,
                    format!("malformed JSON ExportLogsServiceRequest: {e}"),
                )
            })?;
            Bytes::from(request.encode_to_vec())
        }
    };
    http.ingest
        .export(&bytes, scope)
        .await
        .map_err(|status| Refusal::from_status(&status))
}

/// The body format named by `Content-Type`.
fn format(headers: &HeaderMap) -> Result<Format, Refusal> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        PROTOBUF => Ok(Format::Protobuf),
        JSON => Ok(Format::Json),
        _ => Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported Content-Type {content_type:?}: send {PROTOBUF} or {JSON}"),
        )),
    }
}

/// The API-key check of the gRPC listener, on HTTP headers.
fn authenticate(keys: &ApiKeys, headers: &HeaderMap) -> Result<Scope, Refusal> {
    let mut request = tonic::Request::new(());
    *request.metadata_mut() = tonic::metadata::MetadataMap::from_headers(headers.clone());
    let request = keys
        .check(request)
        .map_err(|status| Refusal::new(StatusCode::UNAUTHORIZED, status.message()))?;
    Ok(crate::server::scope_of(&request))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_to_store_maps_to_the_status_otlp_clients_act_on() {
        let cases = [
            (Code::InvalidArgument, "bad", StatusCode::BAD_REQUEST),
            (Code::Unauthenticated, "no key", StatusCode::UNAUTHORIZED),
            (Code::PermissionDenied, "no", StatusCode::FORBIDDEN),
            (
                Code::ResourceExhausted,
                "batch too large: ...",
                StatusCode::PAYLOAD_TOO_LARGE,
            ),
            (
                Code::ResourceExhausted,
                "busy",
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                Code::Unavailable,
                "shutting down",
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                Code::DeadlineExceeded,
                "slow store",
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (Code::Internal, "bug", StatusCode::INTERNAL_SERVER_ERROR),
        ];
        for (code, message, expected) in cases {
            let refusal = Refusal::from_status(&tonic::Status::new(code, message));
            assert_eq!(refusal.status, expected, "{code:?} {message}");
            assert_eq!(refusal.message, message);
        }
    }

    #[test]
    fn only_a_retryable_refusal_says_when_to_retry() {
        let metrics = Metrics::default();
        let busy = Refusal::new(StatusCode::SERVICE_UNAVAILABLE, "shutting down")
            .into_response(Format::Json, &metrics);
        assert_eq!(busy.headers()[header::RETRY_AFTER], "1");
        assert_eq!(busy.headers()[header::CONTENT_TYPE], JSON);
        let bad = Refusal::new(StatusCode::BAD_REQUEST, "malformed")
            .into_response(Format::Protobuf, &metrics);
        assert!(bad.headers().get(header::RETRY_AFTER).is_none());
        assert_eq!(bad.headers()[header::CONTENT_TYPE], PROTOBUF);
        assert_eq!(metrics.requests_rejected.get(), 2);
    }
}
