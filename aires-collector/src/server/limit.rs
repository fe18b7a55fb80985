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
//! A unary call has `--request-read-timeout-secs` from taking its place to
//! send its whole message; past that it is answered `DEADLINE_EXCEEDED`
//! and gives its place back, so that clients that stall mid-message cannot
//! hold every place (and every other client's calls behind them).
//!
//! The limits wrap the Collector service alone, inside the router, so the
//! health service and calls on the same connection are never held behind
//! them: a load balancer sees the collector alive, and answering, however
//! busy it is.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::server::NamedService;
use tower::{Layer, Service};

/// Wraps a service in [`CallLimit`], sharing its limits.
#[derive(Clone, Debug)]
pub struct CallLimitLayer {
    calls: Arc<Semaphore>,
    streams: Arc<Semaphore>,
    read_timeout: Duration,
}

impl CallLimitLayer {
    /// At most `calls` unary calls and `streams` open streams (at least one
    /// of each); a unary call's message must arrive within `read_timeout`.
    pub fn new(calls: usize, streams: usize, read_timeout: Duration) -> Self {
        CallLimitLayer {
            calls: Arc::new(Semaphore::new(calls.max(1))),
            streams: Arc::new(Semaphore::new(streams.max(1))),
            read_timeout,
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
            read_timeout: self.read_timeout,
        }
    }
}

/// See [`CallLimitLayer`].
#[derive(Clone, Debug)]
pub struct CallLimit<S> {
    inner: S,
    calls: Arc<Semaphore>,
    streams: Arc<Semaphore>,
    read_timeout: Duration,
}

impl<S: NamedService> NamedService for CallLimit<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for CallLimit<S>
where
    S: Service<http::Request<ReadDeadline<ReqBody>>, Response = http::Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    ReqBody: Body + Send + 'static,
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
        let read_timeout = self.read_timeout;
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
            // The clock starts once the call has its place. Streams have
            // their idle timeout instead.
            let deadline = (!stream).then(|| Box::pin(tokio::time::sleep(read_timeout)));
            let request = request.map(|body| ReadDeadline {
                body: Box::pin(body),
                deadline,
                read_timeout,
            });
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

/// A request body that fails with `DEADLINE_EXCEEDED` if it has not ended
/// by its deadline (none: never).
pub struct ReadDeadline<B> {
    body: Pin<Box<B>>,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    read_timeout: Duration,
}

impl<B> std::fmt::Debug for ReadDeadline<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadDeadline")
            .field("read_timeout", &self.read_timeout)
            .field("armed", &self.deadline.is_some())
            .finish_non_exhaustive()
    }
}

impl<B> Body for ReadDeadline<B>
where
    B: Body,
    B::Error: Into<tonic::codegen::StdError>,
{
    type Data = B::Data;
    type Error = tonic::codegen::StdError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.body.as_mut().poll_frame(cx) {
            Poll::Ready(None) => {
                self.deadline = None;
                Poll::Ready(None)
            }
            Poll::Ready(Some(frame)) => Poll::Ready(Some(frame.map_err(Into::into))),
            Poll::Pending => {
                let late = self
                    .deadline
                    .as_mut()
                    .is_some_and(|deadline| deadline.as_mut().poll(cx).is_ready());
                if !late {
                    return Poll::Pending;
                }
                self.deadline = None;
                let status = tonic::Status::deadline_exceeded(format!(
                    "the request's message did not arrive within {}s \
                     (request_read_timeout_secs); the call gives its place back",
                    self.read_timeout.as_secs()
                ));
                Poll::Ready(Some(Err(Box::new(status))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
