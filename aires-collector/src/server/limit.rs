//! The limits on calls in progress, each of which may hold a message being
//! read (up to `--max-message-bytes`) outside the pipeline's budget:
//! - unary calls (`--max-concurrent-requests`) until their answer is sent;
//!   a call over the limit waits, unread, until one ends, and HTTP/2 flow
//!   control holds its client back meanwhile;
//! - open streams (`--max-open-streams`) for as long as they are open; a
//!   stream over the limit is refused at once with UNAVAILABLE, so that a
//!   client retries (perhaps on another instance) rather than waiting on
//!   streams that may stay open for hours. Idle streams are ended (see
//!   `stream.rs`), so they do not keep their slots.
//!
//! The limits wrap the Collector service alone, inside the router, so the
//! health service and calls on the same connection are never held behind
//! them: a load balancer sees the collector alive, and answering, however
//! busy it is.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::server::NamedService;
use tower::{Layer, Service};

/// Wraps a service in [`CallLimit`], sharing its limits.
#[derive(Clone, Debug)]
pub struct CallLimitLayer {
    calls: Arc<Semaphore>,
    streams: Arc<Semaphore>,
}

impl CallLimitLayer {
    /// At most `calls` unary calls and `streams` open streams (at least one
    /// of each).
    pub fn new(calls: usize, streams: usize) -> Self {
        CallLimitLayer {
            calls: Arc::new(Semaphore::new(calls.max(1))),
            streams: Arc::new(Semaphore::new(streams.max(1))),
        }
    }
}

impl<S> Layer<S> for CallLimitLayer {
    type Service = CallLimit<S>;

    fn layer(&self, inner: S) -> CallLimit<S> {
        CallLimit {
            inner,
            calls: self.calls.clone(),
            streams: self.streams.clone(),
        }
    }
}

/// See [`CallLimitLayer`].
#[derive(Clone, Debug)]
pub struct CallLimit<S> {
    inner: S,
    calls: Arc<Semaphore>,
    streams: Arc<Semaphore>,
}

impl<S: NamedService> NamedService for CallLimit<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for CallLimit<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Body<Data = bytes::Bytes> + Send + 'static,
    ResBody::Error: Into<tonic::codegen::StdError>,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        // The ready service goes to this call; a clone stays for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let stream = request.uri().path().ends_with("/IngestStream");
        let (calls, streams) = (self.calls.clone(), self.streams.clone());
        Box::pin(async move {
            let permit = if stream {
                match streams.try_acquire_owned() {
                    Ok(permit) => permit,
                    Err(_) => {
                        let status = tonic::Status::unavailable(
                            "too many open streams on this collector; retry later or elsewhere",
                        );
                        return Ok(status.into_http());
                    }
                }
            } else {
                calls
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed")
            };
            let response = inner.call(request).await?;
            Ok(response.map(|body| {
                tonic::body::Body::new(Holding {
                    body: Box::pin(body),
                    _permit: permit,
                })
            }))
        })
    }
}

/// A response body that holds its call's permit until it is finished or
/// dropped.
struct Holding<B> {
    body: Pin<Box<B>>,
    _permit: OwnedSemaphorePermit,
}

impl<B: Body> Body for Holding<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.body.as_mut().poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
