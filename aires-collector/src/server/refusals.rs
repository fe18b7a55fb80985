//! Unary answers that are a failure status: refusals before a handler runs
//! (a missing or wrong API key, a malformed or oversized message) and a
//! handler's error. They are answered "trailers-only", with the status in
//! the response headers; this layer counts them in
//! `aires_collector_requests_rejected_total`, except those that say the
//! client went away or gave up (`CANCELLED`, `UNKNOWN` from a reset
//! stream, `DEADLINE_EXCEEDED`), which count in
//! `aires_collector_requests_cancelled_total`.
//!
//! It also restates tonic's size error: tonic enforces
//! `max_decoding_message_size` but reports it as `OUT_OF_RANGE`; this layer
//! rewrites it to `RESOURCE_EXHAUSTED` naming the limit. Streaming handlers
//! see a later message's size error themselves and use [`explain`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use std::sync::Arc;

use http::HeaderValue;
use tonic::{Code, Status};
use tower::{Layer, Service};

use crate::telemetry::Metrics;

const TONIC_TOO_LARGE: &str = "message length too large";

/// Counts refused requests and restates tonic's "too large" status.
#[derive(Clone, Debug)]
pub struct RefusalLayer {
    limit: usize,
    metrics: Arc<Metrics>,
}

impl RefusalLayer {
    /// For a server whose message size limit is `limit` bytes.
    pub fn new(limit: usize, metrics: Arc<Metrics>) -> Self {
        RefusalLayer { limit, metrics }
    }
}

impl<S> Layer<S> for RefusalLayer {
    type Service = Refusals<S>;

    fn layer(&self, inner: S) -> Refusals<S> {
        Refusals {
            inner,
            limit: self.limit,
            metrics: self.metrics.clone(),
        }
    }
}

/// See [`RefusalLayer`].
#[derive(Clone, Debug)]
pub struct Refusals<S> {
    inner: S,
    limit: usize,
    metrics: Arc<Metrics>,
}

impl<S: tonic::server::NamedService> tonic::server::NamedService for Refusals<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for Refusals<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let limit = self.limit;
        let metrics = self.metrics.clone();
        let response = self.inner.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            let headers = response.headers_mut();
            match headers.get("grpc-status").map(|v| v.as_bytes()) {
                None | Some(b"0") => {}
                Some(b"1" | b"2" | b"4") => {
                    metrics.requests_cancelled.inc();
                }
                Some(_) => {
                    metrics.requests_rejected.inc();
                }
            }
            let too_large = headers.get("grpc-status").is_some_and(|v| v == "11")
                && headers
                    .get("grpc-message")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|m| {
                        m.contains("message%20length%20too%20large") || m.contains(TONIC_TOO_LARGE)
                    });
            if too_large {
                headers.insert("grpc-status", HeaderValue::from_static("8"));
                if let Ok(message) = HeaderValue::from_str(&limit_message(limit)) {
                    headers.insert("grpc-message", message);
                }
            }
            Ok(response)
        })
    }
}

fn limit_message(limit: usize) -> String {
    format!(
        "batch too large: the collector accepts messages up to {limit} bytes (max_message_bytes); send smaller batches"
    )
}

/// The status a streaming handler reports for a failed read: tonic's
/// "too large" becomes `RESOURCE_EXHAUSTED` naming the limit.
pub(crate) fn explain(status: Status, limit: usize) -> Status {
    if status.code() == Code::OutOfRange && status.message().contains(TONIC_TOO_LARGE) {
        Status::resource_exhausted(limit_message(limit))
    } else {
        status
    }
}
