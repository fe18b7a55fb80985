//! API-key authentication: when keys are configured, every call must carry
//! one in `x-api-key` (or `authorization: Bearer <key>`). The key a call
//! presents is its client's [`Scope`]: retries are recognised per scope.

use std::collections::HashSet;
use std::sync::Arc;

use tonic::{Request, Status};

use crate::identity::Scope;

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

    /// A tonic interceptor enforcing the keys; it gives an accepted call
    /// the [`Scope`] of its key.
    pub fn check(&self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if !self.enabled() {
            return Ok(request);
        }
        let metadata = request.metadata();
        let presented = match metadata.get("x-api-key") {
            Some(value) => Some(value.to_str().map_err(|_| invalid())?.to_owned()),
            None => match metadata.get("authorization") {
                Some(value) => {
                    let value = value.to_str().map_err(|_| invalid())?;
                    let (scheme, key) = value.split_once(' ').unwrap_or((value, ""));
                    if !scheme.eq_ignore_ascii_case("bearer") {
                        return Err(Status::unauthenticated(format!(
                            "unsupported authorization scheme {scheme:?}: send the API key \
                             as `authorization: Bearer <key>` or as `x-api-key` metadata"
                        )));
                    }
                    Some(key.trim().to_owned())
                }
                None => None,
            },
        };
        match presented {
            None => Err(Status::unauthenticated(
                "missing API key: send it as `x-api-key` metadata (or `authorization: Bearer <key>`)",
            )),
            Some(key) if self.0.contains(&key) => {
                request.extensions_mut().insert(Scope::of_api_key(&key));
                Ok(request)
            }
            Some(_) => Err(invalid()),
        }
    }
}

fn invalid() -> Status {
    Status::unauthenticated("invalid API key")
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

    #[test]
    fn another_authorization_scheme_is_named_not_called_missing() {
        let keys = ApiKeys::new(["k1".to_string()]);
        let basic = keys.check(with("authorization", "Basic k1")).unwrap_err();
        assert_eq!(basic.code(), tonic::Code::Unauthenticated);
        assert!(basic
            .message()
            .contains("unsupported authorization scheme \"Basic\""));
        assert!(keys.check(with("authorization", "bearer k1")).is_ok());
    }

    #[test]
    fn an_accepted_call_carries_the_scope_of_its_key() {
        let keys = ApiKeys::new(["k1".to_string(), "k2".to_string()]);
        let scope = |key: &str| {
            *keys
                .check(with("x-api-key", key))
                .unwrap()
                .extensions()
                .get::<Scope>()
                .unwrap()
        };
        assert_eq!(scope("k1"), Scope::of_api_key("k1"));
        assert_ne!(scope("k1"), scope("k2"));
        assert_ne!(scope("k1"), Scope::ANONYMOUS);
    }
}
