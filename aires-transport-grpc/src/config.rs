//! Options of the gRPC transport, with `AIRES_*` environment overrides.

use std::time::Duration;

/// How batches travel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// One `Ingest` call per batch, several in flight on one connection.
    #[default]
    Unary,
    /// One long-lived `IngestStream` call; each batch is acknowledged by id.
    Streaming,
}

/// Compression of request bodies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compression {
    /// None: the cheapest on CPU, the right choice on loopback or a LAN.
    #[default]
    None,
    /// gzip, understood by every gRPC server.
    Gzip,
    /// zstd: smaller and cheaper than gzip.
    Zstd,
}

/// Everything the transport needs: start from [`GrpcConfig::new`] and
/// chain the setters. The fields are private, so options can be added
/// without breaking callers. [`GrpcConfig::apply_env`] applies the
/// `AIRES_*` variables (the `aires` facade's `init` does, for the transport
/// it builds from `Config::endpoint`):
///
/// | option | default | environment |
/// |---|---|---|
/// | `endpoint` | (required) | `AIRES_ENDPOINT` |
/// | `mode` | unary | `AIRES_GRPC_MODE` (`unary`, `stream`) |
/// | `api_key` | none | `AIRES_API_KEY` |
/// | `compression` | none | `AIRES_COMPRESSION` (`none`, `gzip`, `zstd`) |
/// | `timeout` | 10 s | `AIRES_GRPC_TIMEOUT_MS` |
/// | `connect_timeout` | 5 s | |
/// | `tls_ca_pem` | system roots for `https://` | `AIRES_TLS_CA` (a PEM file) |
/// | `tls_domain` | the endpoint's host | `AIRES_TLS_DOMAIN` |
///
/// ```
/// use std::time::Duration;
/// use aires_transport_grpc::{Compression, GrpcConfig, Mode};
///
/// let config = GrpcConfig::new("https://collector.internal:4317")
///     .mode(Mode::Streaming)
///     .compression(Compression::Zstd)
///     .api_key("secret")
///     .timeout(Duration::from_secs(5));
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone, Debug)]
pub struct GrpcConfig {
    pub(crate) endpoint: String,
    pub(crate) mode: Mode,
    pub(crate) api_key: Option<String>,
    pub(crate) compression: Compression,
    pub(crate) timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) tls_ca_pem: Option<Vec<u8>>,
    pub(crate) tls_domain: Option<String>,
}

/// An invalid transport configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GrpcConfigError {
    /// The endpoint does not parse as an `http(s)://` URL.
    #[error(transparent)]
    Endpoint(#[from] aires_core::ConfigError),
    /// An `AIRES_*` variable does not parse.
    #[error("environment variable {var}={value:?} is invalid: {reason}")]
    InvalidEnv {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// Why.
        reason: String,
    },
    /// The CA file cannot be read.
    #[error("cannot read the TLS CA file {path}: {source}")]
    CaFile {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The API key cannot be sent as gRPC metadata.
    #[error("the API key must be visible ASCII")]
    ApiKey,
    /// The timeout is zero.
    #[error("{0} must be greater than 0")]
    ZeroTimeout(&'static str),
    /// TLS settings were given for a plain `http://` endpoint.
    #[error("TLS settings were given but the endpoint {0:?} is http://; use https://")]
    TlsWithoutHttps(String),
    /// The endpoint or TLS settings were rejected by the gRPC library.
    #[error("invalid gRPC endpoint settings: {0}")]
    Tonic(String),
}

impl GrpcConfig {
    /// Defaults for `endpoint`: `http://host:port` or `https://host:port`
    /// of the collector.
    pub fn new(endpoint: impl Into<String>) -> Self {
        GrpcConfig {
            endpoint: endpoint.into(),
            mode: Mode::Unary,
            api_key: None,
            compression: Compression::None,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            tls_ca_pem: None,
            tls_domain: None,
        }
    }

    /// Unary calls (the default) or one long-lived stream.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Sent as `x-api-key` metadata on every call.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Request compression. Default none.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Deadline of one call (sent as `grpc-timeout`, enforced locally
    /// too). Default 10 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long to wait for the TCP/TLS connection. Default 5 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// PEM certificate(s) of a custom CA that signed the collector's
    /// certificate. `https://` endpoints without one use the bundled web
    /// PKI roots.
    pub fn tls_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_ca_pem = Some(pem.into());
        self
    }

    /// The name to check the collector's certificate against, when it
    /// differs from the endpoint's host.
    pub fn tls_domain(mut self, domain: impl Into<String>) -> Self {
        self.tls_domain = Some(domain.into());
        self
    }

    /// Applies `AIRES_*` overrides read through `lookup`: `AIRES_ENDPOINT`,
    /// then the transport's own (see [`GrpcConfig::apply_transport_env`]).
    pub fn apply_env(
        mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, GrpcConfigError> {
        if let Some(v) = lookup("AIRES_ENDPOINT") {
            self.endpoint = v;
        }
        self.apply_transport_env(lookup)
    }

    /// Applies the transport's own `AIRES_*` overrides (mode, API key,
    /// compression, timeout, TLS), not `AIRES_ENDPOINT`: for an endpoint
    /// taken from a `Config` that read it already (the facade's `init`).
    #[doc(hidden)]
    pub fn apply_transport_env(
        mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, GrpcConfigError> {
        let invalid = |var: &'static str, value: &str, reason: &str| GrpcConfigError::InvalidEnv {
            var,
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        if let Some(v) = lookup("AIRES_GRPC_MODE") {
            self.mode = match v.trim().to_ascii_lowercase().as_str() {
                "unary" => Mode::Unary,
                "stream" | "streaming" => Mode::Streaming,
                _ => {
                    return Err(invalid(
                        "AIRES_GRPC_MODE",
                        &v,
                        "expected `unary` or `stream`",
                    ))
                }
            };
        }
        if let Some(v) = lookup("AIRES_API_KEY") {
            self.api_key = Some(v);
        }
        if let Some(v) = lookup("AIRES_COMPRESSION") {
            self.compression = match v.trim().to_ascii_lowercase().as_str() {
                "none" | "" => Compression::None,
                "gzip" => Compression::Gzip,
                "zstd" => Compression::Zstd,
                _ => {
                    return Err(invalid(
                        "AIRES_COMPRESSION",
                        &v,
                        "expected `none`, `gzip` or `zstd`",
                    ))
                }
            };
        }
        if let Some(v) = lookup("AIRES_GRPC_TIMEOUT_MS") {
            let ms: u64 = v
                .trim()
                .parse()
                .map_err(|_| invalid("AIRES_GRPC_TIMEOUT_MS", &v, "expected milliseconds"))?;
            self.timeout = Duration::from_millis(ms);
        }
        if let Some(path) = lookup("AIRES_TLS_CA") {
            let pem = std::fs::read(&path).map_err(|source| GrpcConfigError::CaFile {
                path: path.clone(),
                source,
            })?;
            self.tls_ca_pem = Some(pem);
        }
        if let Some(v) = lookup("AIRES_TLS_DOMAIN") {
            self.tls_domain = Some(v);
        }
        Ok(self)
    }

    /// Checks the options.
    pub fn validate(&self) -> Result<(), GrpcConfigError> {
        let url = aires_core::__private::validate_endpoint(&self.endpoint)?;
        if self.timeout.is_zero() {
            return Err(GrpcConfigError::ZeroTimeout("timeout"));
        }
        if self.connect_timeout.is_zero() {
            return Err(GrpcConfigError::ZeroTimeout("connect_timeout"));
        }
        if let Some(key) = &self.api_key {
            if key.is_empty() || !key.bytes().all(|b| (0x21..0x7f).contains(&b)) {
                return Err(GrpcConfigError::ApiKey);
            }
        }
        let tls_given = self.tls_ca_pem.is_some() || self.tls_domain.is_some();
        if tls_given && url.scheme() != "https" {
            return Err(GrpcConfigError::TlsWithoutHttps(self.endpoint.clone()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_apply() {
        let config = GrpcConfig::new("http://a:1")
            .apply_env(|k| match k {
                "AIRES_ENDPOINT" => Some("http://b:2".into()),
                "AIRES_GRPC_MODE" => Some("stream".into()),
                "AIRES_COMPRESSION" => Some("zstd".into()),
                "AIRES_API_KEY" => Some("k-1".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(config.endpoint, "http://b:2");
        assert_eq!(config.mode, Mode::Streaming);
        assert_eq!(config.compression, Compression::Zstd);
        assert_eq!(config.api_key.as_deref(), Some("k-1"));
    }

    #[test]
    fn rejects_bad_settings_with_reasons() {
        assert!(GrpcConfig::new("collector:4317").validate().is_err());
        assert!(matches!(
            GrpcConfig::new("http://a:1")
                .api_key("bad key\n")
                .validate(),
            Err(GrpcConfigError::ApiKey)
        ));
        assert!(matches!(
            GrpcConfig::new("http://a:1").tls_domain("x").validate(),
            Err(GrpcConfigError::TlsWithoutHttps(_))
        ));
        assert!(GrpcConfig::new("http://a:1")
            .timeout(Duration::ZERO)
            .validate()
            .is_err());
        let err = GrpcConfig::new("http://a:1")
            .apply_env(|k| (k == "AIRES_COMPRESSION").then(|| "brotli".into()))
            .unwrap_err();
        assert!(err.to_string().contains("AIRES_COMPRESSION"), "{err}");
    }
}
