//! The message size limit, reported as `RESOURCE_EXHAUSTED` naming the
//! limit.
//!
//! tonic enforces `max_decoding_message_size` before a handler runs, but
//! reports it as `OUT_OF_RANGE`. For unary calls this layer rewrites that
//! answer (a trailers-only response, so the status is in the headers);
//! streaming handlers see the error themselves and use [`explain`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::HeaderValue;
use tonic::{Code, Status};
use tower::{Layer, Service};

const TONIC_TOO_LARGE: &str = "message length too large";

/// Rewrites tonic's "too large" status into `RESOURCE_EXHAUSTED`.
#[derive(Clone, Copy, Debug)]
pub struct SizeLimitLayer {
    limit: usize,
}

impl SizeLimitLayer {
    /// For a server whose limit is `limit` bytes.
    pub fn new(limit: usize) -> Self {
        SizeLimitLayer { limit }
    }
}

impl<S> Layer<S> for SizeLimitLayer {
    type Service = SizeLimit<S>;

    fn layer(&self, inner: S) -> SizeLimit<S> {
        SizeLimit {
            inner,
            limit: self.limit,
        }
    }
}

/// See [`SizeLimitLayer`].
#[derive(Clone, Debug)]
pub struct SizeLimit<S> {
    inner: S,
    limit: usize,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for SizeLimit<S>
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
        let response = self.inner.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            let headers = response.headers_mut();
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
