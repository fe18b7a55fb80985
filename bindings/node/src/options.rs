//! `init` options: the JavaScript object and its translation to a
//! [`aires_core::Config`].

use std::time::Duration;

use aires_core::sdk::TransportChoice;
use aires_core::{Config, LevelFilter, OverflowPolicy};
use napi::{Error, Result, Status};
use napi_derive::napi;

/// Options of `init`. Every field is optional; `AIRES_*` environment
/// variables override them (see the README's configuration table).
#[napi(object)]
#[derive(Debug, Default)]
pub struct InitOptions {
    /// The emitting service. Default `unknown_service`.
    pub service: Option<String>,
    /// The deployment environment. Default `development`.
    pub environment: Option<String>,
    /// The collector's gRPC endpoint, `http://host:port`. Without one,
    /// events are printed to stdout as JSON lines.
    pub endpoint: Option<String>,
    /// The least severe level recorded: trace, debug, info (default), warn,
    /// error, fatal or off.
    pub level: Option<String>,
    /// Events per batch. Default 256.
    pub batch_size: Option<u32>,
    /// Longest wait before a partial batch is sent, in ms. Default 500.
    pub batch_timeout_ms: Option<u32>,
    /// A batch is cut before its encoded size passes this. Default 1 MiB.
    pub max_batch_bytes: Option<u32>,
    /// Events the queue holds before new ones are dropped. Default 4096.
    pub queue_capacity: Option<u32>,
    /// Batches sent concurrently. Default 64.
    pub max_in_flight: Option<u32>,
    /// A send taking longer fails and is retried, in ms. Default 10000.
    pub send_timeout_ms: Option<u32>,
    /// How long a failed batch is retried, in ms. Default 120000.
    pub retry_max_elapsed_ms: Option<u32>,
    /// When the queue is full: `drop` (default) drops the event and never
    /// blocks; `block` waits for room.
    pub overflow: Option<String>,
    /// With `block`: the longest wait in ms, after which the event is
    /// dropped. Default none: wait as long as it takes.
    pub block_timeout_ms: Option<u32>,
    /// A directory where batches are kept until settled, and sent on the
    /// next start if the process dies first. Default none.
    pub spool_dir: Option<String>,
    /// Bytes the spool keeps at most. Default 64 MiB.
    pub spool_max_bytes: Option<u32>,
    /// Whether `AIRES_*` variables override these options. Default true.
    pub env_overrides: Option<bool>,
    /// `grpc` (default with an endpoint), `stdout` (default without one),
    /// `null` (discards, for benchmarks) or `memory` (kept in process, for
    /// tests).
    pub transport: Option<String>,
}

impl InitOptions {
    /// The core configuration these options describe (before `AIRES_*`
    /// overrides, which the core applies when it starts), and the transport.
    pub(crate) fn to_config(&self) -> Result<(Config, TransportChoice)> {
        let mut config = Config::new(self.service.as_deref().unwrap_or("unknown_service"));
        if let Some(environment) = &self.environment {
            config = config.environment(environment.clone());
        }
        if let Some(endpoint) = &self.endpoint {
            config = config.endpoint(endpoint.clone());
        }
        if let Some(level) = &self.level {
            let filter: LevelFilter = level
                .parse()
                .map_err(|e: aires_core::level::ParseLevelError| invalid(e.to_string()))?;
            config = config.level(filter);
        }
        if let Some(n) = self.batch_size {
            config = config.batch_size(n as usize);
        }
        if let Some(ms) = self.batch_timeout_ms {
            config = config.batch_timeout(Duration::from_millis(ms.into()));
        }
        if let Some(n) = self.max_batch_bytes {
            config.max_batch_bytes = n as usize;
        }
        if let Some(n) = self.queue_capacity {
            config = config.queue_capacity(n as usize);
        }
        if let Some(n) = self.max_in_flight {
            config = config.max_in_flight(n as usize);
        }
        if let Some(ms) = self.send_timeout_ms {
            config = config.send_timeout(Duration::from_millis(ms.into()));
        }
        if let Some(ms) = self.retry_max_elapsed_ms {
            config.retry.max_elapsed = Duration::from_millis(ms.into());
        }
        match (self.overflow.as_deref(), self.block_timeout_ms) {
            (None | Some("drop"), None) => {}
            (Some("block"), None) => config = config.overflow(OverflowPolicy::Block),
            (Some("block"), Some(ms)) => {
                config = config.overflow(OverflowPolicy::BlockFor(Duration::from_millis(ms.into())))
            }
            (None | Some("drop"), Some(_)) => {
                return Err(invalid("blockTimeoutMs needs overflow: 'block'".into()))
            }
            (Some(other), _) => {
                return Err(invalid(format!(
                    "overflow must be 'drop' or 'block'; got {other:?}"
                )))
            }
        }
        match (&self.spool_dir, self.spool_max_bytes) {
            (Some(dir), max_bytes) => {
                let mut spool = aires_core::SpoolConfig::new(dir);
                spool.max_bytes = max_bytes.map_or(spool.max_bytes, u64::from);
                config.spool = Some(spool);
            }
            (None, Some(_)) => return Err(invalid("spoolMaxBytes needs spoolDir".into())),
            (None, None) => {}
        }
        if let Some(on) = self.env_overrides {
            config = config.env_overrides(on);
        }
        let transport = match self.transport.as_deref() {
            None => TransportChoice::Default,
            Some(name) => TransportChoice::parse(name).map_err(invalid)?,
        };
        if self.transport.as_deref() == Some("grpc")
            && self.endpoint.is_none()
            && std::env::var_os("AIRES_ENDPOINT").is_none()
        {
            return Err(invalid("transport \"grpc\" needs an endpoint".into()));
        }
        Ok((config, transport))
    }
}

pub(crate) fn invalid(message: String) -> Error {
    Error::new(Status::InvalidArg, message)
}
