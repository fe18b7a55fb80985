//! HTTP request information attached to an event.

use std::time::Duration;

use crate::value::Str;

/// The fields a request log usually carries. Build one with
/// [`HttpInfo::new`] and the chained setters.
///
/// ```
/// use std::time::Duration;
/// let http = aires_core::HttpInfo::new("GET", "/users/:id")
///     .path("/users/42")
///     .status(200)
///     .duration(Duration::from_micros(1830));
/// assert_eq!(http.status, 200);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpInfo {
    /// Request method, for example `"GET"`.
    pub method: Str,
    /// The matched route template, for example `"/users/:id"` (low cardinality).
    pub route: Str,
    /// The concrete path, for example `"/users/42"`.
    pub path: Str,
    /// Response status code; 0 when no response was sent.
    pub status: u16,
    /// Time from request start to response end.
    pub duration: Duration,
    /// The `User-Agent` header.
    pub user_agent: Str,
    /// The client's address.
    pub client_ip: Str,
    /// Request body size in bytes.
    pub request_bytes: u64,
    /// Response body size in bytes.
    pub response_bytes: u64,
    /// The `Host` header or authority.
    pub host: Str,
    /// `"http"` or `"https"`.
    pub scheme: Str,
}

impl HttpInfo {
    /// Starts a request record with its method and route template.
    pub fn new(method: impl Into<Str>, route: impl Into<Str>) -> Self {
        HttpInfo {
            method: method.into(),
            route: route.into(),
            ..HttpInfo::default()
        }
    }

    /// Sets the concrete request path.
    pub fn path(mut self, path: impl Into<Str>) -> Self {
        self.path = path.into();
        self
    }

    /// Sets the response status code.
    pub fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// Sets the request duration.
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = duration;
        self
    }

    /// Sets the `User-Agent`.
    pub fn user_agent(mut self, user_agent: impl Into<Str>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Sets the client address.
    pub fn client_ip(mut self, client_ip: impl Into<Str>) -> Self {
        self.client_ip = client_ip.into();
        self
    }

    /// Sets the request and response body sizes.
    pub fn sizes(mut self, request_bytes: u64, response_bytes: u64) -> Self {
        self.request_bytes = request_bytes;
        self.response_bytes = response_bytes;
        self
    }

    /// Sets the host.
    pub fn host(mut self, host: impl Into<Str>) -> Self {
        self.host = host.into();
        self
    }

    /// Sets the scheme.
    pub fn scheme(mut self, scheme: impl Into<Str>) -> Self {
        self.scheme = scheme.into();
        self
    }
}
