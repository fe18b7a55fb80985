//! The JSON API under the console, which the page and the `aires` command
//! line both use. Every answer is JSON; every refusal is a 4xx or 5xx with
//! `{"error": "..."}` saying why.
//!
//! | request | answer |
//! |---|---|
//! | `GET /api/search?q=&since=&from=&to=&limit=&before=` (or `POST` with these as JSON) | `{events, next}`: newest first; `next` is the `before` of the next page |
//! | `GET /api/histogram?q=&since=&from=&to=&buckets=` (or `POST`) | `{step_seconds, times, levels: {level: [count per bucket]}}` |
//! | `GET /api/events/{id}?ts=` | every column of one event (`ts`, its time in ns, spares a scan) |
//! | `GET /api/traces/{trace_id}` | `{events, truncated}`: the trace's events, oldest first; `truncated` when there were more than 5000 |
//! | `GET /api/tail?q=&cursor=` (or `POST`) | `{events, cursor, matched}`: events received since `cursor` and in the 5 s before it (an insert may become visible late), oldest first; `matched`: how many were received since `cursor`, when more than the 200 sent |
//! | `GET /api/dashboards/error-rate?since=&from=&to=` | `{step_seconds, times, series: {service: {total, errors, rate}}}` from the `error_rate_per_minute` view |
//! | `GET /api/dashboards/latency?since=&from=&to=&service=` | `{step_seconds, times, series: {route: {requests, p50, p95, p99}}}` from the `http_latency_per_minute` view |
//! | `GET /api/health` | `{"ok": true}` |
//!
//! `q` is a query line (see [`crate::query`]); `since` is a duration back
//! from now (`15m`), `from`/`to` are times (`now-1h`, RFC 3339, Unix ms);
//! the default range is the last hour.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Path, Query as Params, Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::query::{self, ParseError};
use crate::range::{now_ns, RangeError, TimeRange, MAX_TIME_NS};
use crate::store::{Cursor, Store, StoreError};

/// Why a request was refused, as the answer says it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Query(#[from] ParseError),
    #[error("{0}")]
    Range(#[from] RangeError),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::Query(_) | ApiError::Range(_) | ApiError::BadRequest(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Store(StoreError::Timeout(_)) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Store(StoreError::TooLarge) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Store(_) => StatusCode::BAD_GATEWAY,
        };
        (status, Json(json!({ "error": self.to_string() }))).into_response()
    }
}

type Answer<T> = Result<Json<T>, ApiError>;

/// The query line and range every listing takes: from the query string
/// of a `GET`, or from the JSON body of a `POST` (which has no length
/// limit of its own, so a long query line gets the parser's answer).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listing {
    #[serde(default)]
    pub q: String,
    pub since: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub limit: Option<u32>,
    pub before: Option<String>,
    pub buckets: Option<u32>,
    pub cursor: Option<String>,
    pub service: Option<String>,
    pub ts: Option<String>,
}

impl<S: Send + Sync> FromRequest<S> for Listing {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if request.method() == Method::POST {
            let Json(listing) = Json::<Listing>::from_request(request, state)
                .await
                .map_err(|e| ApiError::BadRequest(e.body_text()))?;
            Ok(listing)
        } else {
            let (mut parts, _) = request.into_parts();
            let Params(listing) = Params::<Listing>::from_request_parts(&mut parts, state)
                .await
                .map_err(|e| ApiError::BadRequest(e.body_text()))?;
            Ok(listing)
        }
    }
}

impl Listing {
    fn range(&self) -> Result<TimeRange, RangeError> {
        TimeRange::parse(
            self.since.as_deref(),
            self.from.as_deref(),
            self.to.as_deref(),
            now_ns(),
        )
    }
}

/// The API's routes over `store`.
pub fn router(store: Store) -> Router {
    Router::new()
        .route("/api/health", get(|| async { Json(json!({ "ok": true })) }))
        .route("/api/search", get(search).post(search))
        .route("/api/histogram", get(histogram).post(histogram))
        .route("/api/events/{id}", get(event))
        .route("/api/traces/{trace_id}", get(trace))
        .route("/api/tail", get(tail).post(tail))
        .route("/api/dashboards/error-rate", get(error_rate))
        .route("/api/dashboards/latency", get(latency))
        .fallback(|| async {
            ApiError::NotFound("no such API route; see the console's README".into())
        })
        .layer(axum::middleware::map_response(json_refusal))
        .with_state(Arc::new(store))
}

/// Refusals made before a handler runs (a path that does not decode, a
/// method the route does not take, a body too large) come as plain text
/// or empty: said as JSON too, so every refusal reads the same.
async fn json_refusal(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body).trim().to_owned();
    let error = if text.is_empty() {
        status.canonical_reason().unwrap_or("refused").to_owned()
    } else {
        text
    };
    (status, Json(json!({ "error": error }))).into_response()
}

async fn search(State(store): State<Arc<Store>>, p: Listing) -> Answer<crate::store::SearchPage> {
    let query = query::parse(&p.q)?;
    let range = p.range()?;
    let before = match p.before.as_deref() {
        Some(text) if !text.is_empty() => Some(
            Cursor::decode(text)
                .ok_or_else(|| ApiError::BadRequest(format!("`{text}` is not a page cursor")))?,
        ),
        _ => None,
    };
    let limit = p.limit.unwrap_or(100);
    Ok(Json(
        store.search(&query, &range, limit, before.as_ref()).await?,
    ))
}

async fn histogram(State(store): State<Arc<Store>>, p: Listing) -> Answer<crate::store::Histogram> {
    let query = query::parse(&p.q)?;
    let range = p.range()?;
    Ok(Json(
        store
            .histogram(&query, &range, p.buckets.unwrap_or(100))
            .await?,
    ))
}

async fn event(
    State(store): State<Arc<Store>>,
    Path(id): Path<String>,
    p: Listing,
) -> Answer<serde_json::Value> {
    let uuid: uuid::Uuid = id
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("`{id}` is not an event id (a UUID)")))?;
    let ts = match p.ts.as_deref() {
        Some(ts) if !ts.is_empty() => Some(
            ts.parse::<i64>()
                .ok()
                .filter(|ns| (0..=MAX_TIME_NS).contains(ns))
                .ok_or_else(|| ApiError::BadRequest(format!("`{ts}` is not a time in ns")))?,
        ),
        _ => None,
    };
    store
        .event(uuid, ts)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no event {id}")))
}

/// A W3C trace id: 32 hex digits.
fn check_trace_id(id: &str) -> Result<(), ApiError> {
    if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "`{id}` is not a trace id (32 hex digits)"
        )))
    }
}

async fn trace(
    State(store): State<Arc<Store>>,
    Path(trace_id): Path<String>,
) -> Answer<serde_json::Value> {
    check_trace_id(&trace_id)?;
    let events = store.trace(&trace_id).await?;
    if events.is_empty() {
        return Err(ApiError::NotFound(format!("no events of trace {trace_id}")));
    }
    let truncated = events.len() >= crate::store::MAX_TRACE_EVENTS as usize;
    Ok(Json(json!({ "events": events, "truncated": truncated })))
}

async fn tail(State(store): State<Arc<Store>>, p: Listing) -> Answer<crate::store::TailPage> {
    let query = query::parse(&p.q)?;
    let cursor = match p.cursor.as_deref() {
        Some(c) if !c.is_empty() => Some(
            c.parse::<i64>()
                .ok()
                .filter(|ns| (0..=MAX_TIME_NS).contains(ns))
                .ok_or_else(|| ApiError::BadRequest(format!("`{c}` is not a tail cursor")))?,
        ),
        _ => None,
    };
    Ok(Json(store.tail(&query, cursor).await?))
}

async fn error_rate(State(store): State<Arc<Store>>, p: Listing) -> Answer<crate::store::Series> {
    let range = p.range()?;
    Ok(Json(
        store.error_rate(&range, p.buckets.unwrap_or(60)).await?,
    ))
}

async fn latency(State(store): State<Arc<Store>>, p: Listing) -> Answer<crate::store::Series> {
    let range = p.range()?;
    let service = p.service.as_deref().filter(|s| !s.is_empty());
    Ok(Json(
        store
            .latency(&range, p.buckets.unwrap_or(60), service)
            .await?,
    ))
}
