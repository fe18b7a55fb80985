//! API-key authentication: when keys are configured, every call must carry
//! one in `x-api-key` (or `authorization: Bearer <key>`).

use std::collections::HashSet;
use std::sync::Arc;

use tonic::{Request, Status};

/// The accepted API keys. Empty means authentication is off.
#[derive(Clone, Debug, Default)]
pub struct ApiKeys(Arc<HashSet<String>>);

impl ApiKeys {
    /// Accepts exactly `keys`.
    pub fn new(keys: impl IntoIterator<Item = String>) -> Self {
        ApiKeys(Arc::new(
            keys.into_iter().filter(|k| !k.is_empty()).collect(),
        ))
    }

    /// Whether any key is configured.
    pub fn enabled(&self) -> bool {
        !self.0.is_empty()
    }

    /// A tonic interceptor enforcing the keys.
    pub fn check(&self, request: Request<()>) -> Result<Request<()>, Status> {
        if !self.enabled() {
            return Ok(request);
        }
        let metadata = request.metadata();
        let presented = metadata
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| {
                metadata
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .map(str::to_owned)
            });
        match presented {
            None => Err(Status::unauthenticated(
                "missing API key: send it as `x-api-key` metadata",
            )),
            Some(key) if self.0.contains(&key) => Ok(request),
            Some(_) => Err(Status::unauthenticated("invalid API key")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(key: &str, value: &str) -> Request<()> {
        let mut request = Request::new(());
        request.metadata_mut().insert(
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
        request
    }

    #[test]
    fn checks_keys_only_when_configured() {
        assert!(ApiKeys::default().check(Request::new(())).is_ok());
        let keys = ApiKeys::new(["k1".to_string(), "k2".to_string()]);
        assert!(keys.check(with("x-api-key", "k2")).is_ok());
        assert!(keys.check(with("authorization", "Bearer k1")).is_ok());
        let missing = keys.check(Request::new(())).unwrap_err();
        assert_eq!(missing.code(), tonic::Code::Unauthenticated);
        assert!(missing.message().contains("missing"));
        let wrong = keys.check(with("x-api-key", "nope")).unwrap_err();
        assert_eq!(wrong.message(), "invalid API key");
    }
}
