//! `init` options: the JavaScript object and its translation to a
//! [`aires_core::Config`].

use std::time::Duration;

use aires_core::sdk::{Settings, Spelling, TransportChoice};
use aires_core::Config;
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
    /// blocks; `block` waits for room; `grow` lists the event on the heap,
    /// up to `overflow_max_bytes`, then drops.
    pub overflow: Option<String>,
    /// With `grow`: the bytes listed at most. Default 64 MiB.
    pub overflow_max_bytes: Option<u32>,
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
    /// The shared settings these options describe (milliseconds made
    /// durations), turned into the core configuration by
    /// `aires_core::sdk::Settings::to_config`, which writes the rules once
    /// for every binding. `AIRES_*` overrides apply when the core starts.
    pub(crate) fn to_config(&self) -> Result<(Config, TransportChoice)> {
        let ms = |v: Option<u32>| v.map(|ms| Duration::from_millis(ms.into()));
        let settings = Settings {
            service: self.service.clone(),
            environment: self.environment.clone(),
            endpoint: self.endpoint.clone(),
            level: self.level.clone(),
            batch_size: self.batch_size.map(|n| n as usize),
            batch_timeout: ms(self.batch_timeout_ms),
            max_batch_bytes: self.max_batch_bytes.map(|n| n as usize),
            queue_capacity: self.queue_capacity.map(|n| n as usize),
            overflow: self.overflow.clone(),
            block_timeout: ms(self.block_timeout_ms),
            overflow_max_bytes: self.overflow_max_bytes.map(|n| n as usize),
            retry_max_elapsed: ms(self.retry_max_elapsed_ms),
            max_in_flight: self.max_in_flight.map(|n| n as usize),
            send_timeout: ms(self.send_timeout_ms),
            shutdown_timeout: None, // the exit handler's own (shutdownTimeoutMs, in JavaScript)
            spool_dir: self.spool_dir.clone().map(Into::into),
            spool_max_bytes: self.spool_max_bytes.map(u64::from),
            env_overrides: self.env_overrides,
            transport: self.transport.clone(),
        };
        settings.to_config(Spelling::JavaScript).map_err(invalid)
    }
}

pub(crate) fn invalid(message: String) -> Error {
    Error::new(Status::InvalidArg, message)
}
