//! The console's HTTP server: the page's embedded assets, the JSON API,
//! and the optional API key or basic auth in front of both.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine as _;

use crate::assets;
use crate::store::Store;

/// Who may use the console.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Auth {
    /// Anyone who can reach the address (the default binds to loopback).
    #[default]
    Open,
    /// The API (not the page's assets, which hold no data) needs one of
    /// these keys, as `Authorization: Bearer <key>` or `X-Api-Key`.
    ApiKeys(Vec<String>),
    /// Everything needs HTTP basic auth with this user and password.
    Basic { user: String, password: String },
}

/// The console's address by default: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8480";

/// Which `Host` headers the console answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hosts {
    /// Any (the console listens beyond loopback, where the names it is
    /// reached by are the operator's to know).
    Any,
    /// `localhost`, `127.0.0.1` and `[::1]` only, on any port (an SSH
    /// tunnel may change it): a web page the browser is on cannot reach a
    /// console on loopback by rebinding its own name to 127.0.0.1.
    Loopback,
}

impl Hosts {
    /// What a console listening on `addr` answers.
    pub fn for_listener(addr: SocketAddr) -> Hosts {
        if addr.ip().is_loopback() {
            Hosts::Loopback
        } else {
            Hosts::Any
        }
    }

    fn allows(self, host: Option<&str>) -> bool {
        match self {
            Hosts::Any => true,
            Hosts::Loopback => {
                let Some(host) = host else { return false };
                let name = match host.strip_prefix('[') {
                    Some(v6) => v6.split(']').next().unwrap_or(""),
                    None => host.split(':').next().unwrap_or(""),
                };
                matches!(
                    name.to_ascii_lowercase().as_str(),
                    "localhost" | "127.0.0.1" | "::1"
                )
            }
        }
    }
}

/// The whole console: page, assets and API.
pub fn app(store: Store, auth: Auth, hosts: Hosts) -> Router {
    let auth = Arc::new(auth);
    Router::new()
        .route("/", get(assets::index))
        .route("/assets/{name}", get(assets::file))
        .merge(crate::api::router(store))
        .layer(middleware::from_fn_with_state(auth, check_auth))
        .layer(middleware::from_fn_with_state(hosts, check_host))
        .layer(middleware::from_fn(security_headers))
}

async fn check_host(State(hosts): State<Hosts>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok());
    if hosts.allows(host) {
        return next.run(request).await;
    }
    (
        StatusCode::MISDIRECTED_REQUEST,
        axum::Json(serde_json::json!({
            "error": "this console answers only requests for localhost; to reach it by another name, listen on that address (--listen)"
        })),
    )
        .into_response()
}

/// Serves `app` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    // Without TCP_NODELAY, a response written in two segments waits out
    // the client's delayed ACK: about 40 ms on every request.
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds `addr` (so a taken port is reported before anything starts).
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

/// Compares without an early exit, so timing does not reveal a prefix.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(key) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(key);
    }
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

fn basic_matches(headers: &HeaderMap, user: &str, password: &str) -> bool {
    let Some(encoded) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    same(&decoded, format!("{user}:{password}").as_bytes())
}

async fn check_auth(State(auth): State<Arc<Auth>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let refused = |status: StatusCode, why: &str, challenge: Option<&'static str>| {
        let mut response =
            (status, axum::Json(serde_json::json!({ "error": why }))).into_response();
        if let Some(challenge) = challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    };
    match auth.as_ref() {
        Auth::Open => {}
        Auth::ApiKeys(keys) => {
            if request.uri().path().starts_with("/api/") {
                match presented_key(headers) {
                    None => {
                        return refused(
                            StatusCode::UNAUTHORIZED,
                            "an API key is needed (Authorization: Bearer <key>)",
                            Some("Bearer"),
                        )
                    }
                    Some(key) if !keys.iter().any(|k| same(k.as_bytes(), key.as_bytes())) => {
                        return refused(StatusCode::FORBIDDEN, "the API key is not valid", None)
                    }
                    Some(_) => {}
                }
            }
        }
        Auth::Basic { user, password } => {
            if !basic_matches(headers, user, password) {
                return refused(
                    StatusCode::UNAUTHORIZED,
                    "a user and password are needed",
                    Some("Basic realm=\"aires console\", charset=\"UTF-8\""),
                );
            }
        }
    }
    next.run(request).await
}

async fn security_headers(request: Request<Body>, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_console_on_loopback_answers_only_loopback_names() {
        let hosts = Hosts::for_listener("127.0.0.1:8480".parse().unwrap());
        for ok in [
            "localhost:8480",
            "127.0.0.1:9000",
            "[::1]:8480",
            "LOCALHOST",
            "127.0.0.1",
        ] {
            assert!(hosts.allows(Some(ok)), "{ok}");
        }
        for refused in [
            "evil.example:8480",
            "127.0.0.1.evil.example",
            "localhost.evil",
            "[::2]:1",
            "",
        ] {
            assert!(!hosts.allows(Some(refused)), "{refused}");
        }
        assert!(!hosts.allows(None));
        let open = Hosts::for_listener("0.0.0.0:8480".parse().unwrap());
        assert!(open.allows(Some("console.internal:8480")));
    }

    #[test]
    fn keys_compare_whole() {
        assert!(same(b"secret", b"secret"));
        assert!(!same(b"secret", b"secreT"));
        assert!(!same(b"secret", b"secret2"));
        assert!(!same(b"", b"x"));
    }

    #[test]
    fn basic_auth_needs_the_exact_pair() {
        let mut headers = HeaderMap::new();
        assert!(!basic_matches(&headers, "u", "p"));
        let good = base64::engine::general_purpose::STANDARD.encode("u:p");
        headers.insert(
            header::AUTHORIZATION,
            format!("Basic {good}").parse().unwrap(),
        );
        assert!(basic_matches(&headers, "u", "p"));
        assert!(!basic_matches(&headers, "u", "q"));
        headers.insert(header::AUTHORIZATION, "Basic %%%".parse().unwrap());
        assert!(!basic_matches(&headers, "u", "p"));
    }
}
