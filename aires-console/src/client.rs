//! The JSON API as the command line reaches it: in process (the same
//! router the console serves, over a direct ClickHouse connection) or over
//! HTTP from a running console.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// Where API requests go.
#[derive(Debug, Clone)]
pub enum Client {
    /// The API's router, called without a network hop.
    InProcess(axum::Router),
    /// A console at this base URL, with an optional API key.
    Remote {
        http: reqwest::Client,
        base: String,
        api_key: Option<String>,
    },
}

/// Why an API request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The API refused the request and said why.
    #[error("{message}")]
    Refused { status: u16, message: String },
    /// The console could not be reached or answered nonsense.
    #[error("{0}")]
    Transport(String),
}

impl ClientError {
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Refused { status, .. } => Some(*status),
            ClientError::Transport(_) => None,
        }
    }
}

impl Client {
    /// `GET path` with `params` (empty values left out); the answer's JSON.
    pub async fn get(&self, path: &str, params: &[(&str, String)]) -> Result<Value, ClientError> {
        let query: Vec<(&str, &str)> = params
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        let query = serde_urlencoded::to_string(&query)
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        let uri = if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{query}")
        };
        self.call(&uri, None).await
    }

    /// `POST path` with `body` as JSON (the listings take their parameters
    /// so, with no limit on the query line's length but the API's own).
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.call(path, Some(body)).await
    }

    async fn call(&self, uri: &str, body: Option<&Value>) -> Result<Value, ClientError> {
        let transport = |e: &dyn std::fmt::Display| ClientError::Transport(e.to_string());
        let (status, bytes) = match self {
            Client::InProcess(router) => {
                let request = match body {
                    None => Request::get(uri).body(Body::empty()),
                    Some(json) => Request::post(uri)
                        .header("content-type", "application/json")
                        .body(Body::from(json.to_string())),
                }
                .map_err(|e| transport(&e))?;
                let response = router
                    .clone()
                    .oneshot(request)
                    .await
                    .map_err(|e| transport(&e))?;
                let status = response.status();
                let bytes = response
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| transport(&e))?
                    .to_bytes();
                (status, bytes)
            }
            Client::Remote {
                http,
                base,
                api_key,
            } => {
                let url = format!("{}{uri}", base.trim_end_matches('/'));
                let mut request = match body {
                    None => http.get(url),
                    Some(json) => http
                        .post(url)
                        .header("content-type", "application/json")
                        .body(json.to_string()),
                };
                if let Some(key) = api_key {
                    request = request.bearer_auth(key);
                }
                let response = request
                    .send()
                    .await
                    .map_err(|e| ClientError::Transport(format!("the console at {base}: {e}")))?;
                let status = StatusCode::from_u16(response.status().as_u16())
                    .unwrap_or(StatusCode::BAD_GATEWAY);
                let bytes = response.bytes().await.map_err(|e| transport(&e))?;
                (status, bytes)
            }
        };
        let json: Value = serde_json::from_slice(&bytes).map_err(|_| {
            ClientError::Transport(format!(
                "{status}: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
            ))
        })?;
        if status.is_success() {
            Ok(json)
        } else {
            Err(ClientError::Refused {
                status: status.as_u16(),
                message: json["error"].as_str().unwrap_or("refused").to_owned(),
            })
        }
    }
}
