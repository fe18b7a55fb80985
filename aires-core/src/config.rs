//! Pipeline configuration: one struct with private fields and chained
//! setters, documented defaults, `AIRES_*` environment overrides applied
//! once ([`Config::resolve`]), validated when the pipeline starts.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::diagnostics::DiagnosticSink;
use crate::level::LevelFilter;
use crate::retry::RetryPolicy;
use crate::spool::SpoolConfig;
use crate::transport::Transport;

/// What the caller's thread does when the queue is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OverflowPolicy {
    /// Drop the new event and count it. Never blocks. The default: a
    /// logging call never stalls the application, and what it loses is
    /// counted in `events_dropped_queue_full`.
    DropNewest,
    /// Wait for room as long as it takes: nothing is dropped for a full
    /// queue, and a slow or unreachable collector slows the application
    /// down instead (until the retry budget settles the batches ahead).
    /// Only a shutdown ends the wait (the event is counted as emitted after
    /// shutdown), or a caller logging from inside one of its own event's
    /// fields (a `Debug` impl that logs) while the queue is full, which
    /// could otherwise wait for itself: once that outer event is the oldest
    /// in the queue and has not been written for 5 s, the inner one is
    /// dropped and counted as queue-full, and other callers waiting for
    /// room wait those 5 s too. The event takes its
    /// timestamp and id when it gets its queue slot, so after a wait they
    /// are the end of the wait's, which keeps ids in queue order.
    Block,
    /// Wait up to the given time for room, then drop and count in
    /// `events_dropped_queue_full`. Bounds the stall, and so can lose
    /// events: use `Block` where nothing may be lost.
    BlockFor(Duration),
    /// Never block, and spend memory before dropping: while the queue is
    /// full, events are built on the heap and listed behind it, up to
    /// `max_bytes` (an event with five fields takes about 600 bytes), and
    /// only then dropped and counted. For bursts that outrun the worker
    /// (a batch job's start, a retry storm) when memory is cheaper than
    /// losing events; [`OverflowPolicy::grow`] gives 64 MiB. Order per
    /// thread is kept.
    Grow {
        /// The most the listed events may hold, in bytes.
        max_bytes: usize,
    },
}

impl OverflowPolicy {
    /// The budget of [`OverflowPolicy::grow`]: 64 MiB, about 110K events
    /// of five fields beside the default queue's 4096.
    pub const DEFAULT_GROW_BYTES: usize = 64 << 20;

    /// [`OverflowPolicy::Grow`] with [`OverflowPolicy::DEFAULT_GROW_BYTES`].
    pub const fn grow() -> Self {
        OverflowPolicy::Grow {
            max_bytes: Self::DEFAULT_GROW_BYTES,
        }
    }
}

/// Size limits applied when a batch is encoded. A longer value is cut at a
/// UTF-8 boundary and ends with [`Limits::TRUNCATION_MARKER`]; every cut is
/// counted in `values_truncated`.
///
/// ```
/// let limits = aires_core::Limits::default().max_attributes(32);
/// let config = aires_core::Config::new("checkout").limits(limits);
/// # assert!(config.validate().is_ok());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Longest message (and error message or backtrace), in bytes. Default 32 KiB.
    pub max_message_bytes: usize,
    /// Longest attribute key or string value, tag or id, in bytes. Default 8 KiB.
    pub max_value_bytes: usize,
    /// Most attributes kept per event; the rest are dropped, counted, and
    /// noted in an `aires.dropped_attributes` attribute. Default 128.
    pub max_attributes: usize,
}

impl Limits {
    /// Appended to every value cut at a size limit.
    pub const TRUNCATION_MARKER: &'static str = TRUNCATION_MARKER;

    /// Sets [`Limits::max_message_bytes`](#structfield.max_message_bytes).
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = bytes;
        self
    }

    /// Sets [`Limits::max_value_bytes`](#structfield.max_value_bytes).
    pub fn max_value_bytes(mut self, bytes: usize) -> Self {
        self.max_value_bytes = bytes;
        self
    }

    /// Sets [`Limits::max_attributes`](#structfield.max_attributes).
    pub fn max_attributes(mut self, count: usize) -> Self {
        self.max_attributes = count;
        self
    }
}

pub(crate) const TRUNCATION_MARKER: &str = "…[truncated]";

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 32 * 1024,
            max_value_bytes: 8 * 1024,
            max_attributes: 128,
        }
    }
}

/// Everything a [`crate::Pipeline`] needs. Start from [`Config::new`] and
/// chain the setters. Each option has an `AIRES_*` variable, which wins
/// over the value set in code when the pipeline starts, so operators can
/// change a deployed service without rebuilding it (`env_overrides(false)`
/// turns that off):
///
/// | option | default | environment |
/// |---|---|---|
/// | `service` | `"unknown_service"` | `AIRES_SERVICE` |
/// | `environment` | `"development"` | `AIRES_ENVIRONMENT` |
/// | `endpoint` | none | `AIRES_ENDPOINT` |
/// | `level` | `info` | `AIRES_LEVEL` |
/// | `batch_size` | 256 (grows up to `max_batch_bytes` while the in-flight window is full) | `AIRES_BATCH_SIZE` |
/// | `batch_timeout` | 500 ms | `AIRES_BATCH_TIMEOUT_MS` |
/// | `max_batch_bytes` | 1 MiB | `AIRES_MAX_BATCH_BYTES` |
/// | `queue_capacity` | 4096 | `AIRES_QUEUE_CAPACITY` |
/// | `overflow` | drop | `AIRES_OVERFLOW` (`drop`, `block`, `block:<ms>`, `grow` or `grow:<MiB>`) |
/// | `retry.max_elapsed` | 120 s | `AIRES_RETRY_MAX_ELAPSED_MS` |
/// | `max_in_flight` | 64 | `AIRES_MAX_IN_FLIGHT` |
/// | `send_timeout` | 10 s | `AIRES_SEND_TIMEOUT_MS` |
/// | `spool` | none | `AIRES_SPOOL_DIR`, `AIRES_SPOOL_MAX_BYTES` |
///
/// The fields are private, so new options can be added without breaking
/// callers; [`Config::validate`] checks a config without starting anything,
/// and `Debug` shows what it holds.
///
/// ```
/// use std::time::Duration;
/// use aires_core::{Config, LevelFilter, OverflowPolicy};
///
/// let config = Config::new("checkout")
///     .environment("prod")
///     .endpoint("http://127.0.0.1:4317")
///     .level(LevelFilter::DEBUG)
///     .batch_timeout(Duration::from_millis(200))
///     .overflow(OverflowPolicy::Block);
/// assert!(config.validate().is_ok());
/// assert!(Config::new("x").batch_size(0).validate().is_err());
/// ```
#[derive(Clone)]
pub struct Config {
    pub(crate) service: String,
    pub(crate) environment: String,
    pub(crate) endpoint: Option<String>,
    pub(crate) level: LevelFilter,
    pub(crate) batch_size: usize,
    pub(crate) batch_timeout: Duration,
    pub(crate) max_batch_bytes: usize,
    pub(crate) queue_capacity: usize,
    pub(crate) overflow: OverflowPolicy,
    pub(crate) retry: RetryPolicy,
    pub(crate) max_in_flight: usize,
    pub(crate) send_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) spool: Option<SpoolConfig>,
    pub(crate) limits: Limits,
    pub(crate) drop_report_interval: Duration,
    pub(crate) env_overrides: bool,
    /// Whether [`Config::resolve`] has applied the environment already: it
    /// is applied once, wherever the config goes next.
    pub(crate) resolved: bool,
    pub(crate) diagnostics: Option<DiagnosticSink>,
    pub(crate) transport: Option<Arc<dyn Transport>>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("service", &self.service)
            .field("environment", &self.environment)
            .field("endpoint", &self.endpoint)
            .field("level", &self.level)
            .field("batch_size", &self.batch_size)
            .field("batch_timeout", &self.batch_timeout)
            .field("max_batch_bytes", &self.max_batch_bytes)
            .field("queue_capacity", &self.queue_capacity)
            .field("overflow", &self.overflow)
            .field("retry", &self.retry)
            .field("max_in_flight", &self.max_in_flight)
            .field("send_timeout", &self.send_timeout)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("limits", &self.limits)
            .field("spool", &self.spool)
            .field("drop_report_interval", &self.drop_report_interval)
            .field("env_overrides", &self.env_overrides)
            .field("diagnostics", &self.diagnostics.as_ref().map(|_| "custom"))
            .field("transport", &self.transport.as_ref().map(|_| "custom"))
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            service: "unknown_service".into(),
            environment: "development".into(),
            endpoint: None,
            level: LevelFilter::INFO,
            batch_size: 256,
            batch_timeout: Duration::from_millis(500),
            max_batch_bytes: 1 << 20,
            queue_capacity: 4_096,
            overflow: OverflowPolicy::DropNewest,
            retry: RetryPolicy::default(),
            max_in_flight: 64,
            send_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(5),
            spool: None,
            limits: Limits::default(),
            drop_report_interval: Duration::from_secs(10),
            env_overrides: true,
            resolved: false,
            diagnostics: None,
            transport: None,
        }
    }
}

/// An invalid configuration, found when the pipeline starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A numeric option is out of range.
    #[error("{option} must be {requirement}, got {value}")]
    OutOfRange {
        /// The option's name.
        option: &'static str,
        /// What it must be.
        requirement: &'static str,
        /// What it was.
        value: String,
    },
    /// The endpoint is not an `http://` or `https://` URL with a host.
    #[error("endpoint {endpoint:?} is invalid: {reason}")]
    InvalidEndpoint {
        /// The rejected endpoint.
        endpoint: String,
        /// Why.
        reason: String,
    },
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
    /// An endpoint is set but nothing knows how to send to it.
    #[error("endpoint {0:?} is set but no transport was given; the `aires` crate's `grpc` feature provides one")]
    NoTransportForEndpoint(String),
}

macro_rules! setter {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {$(
        $(#[$doc])*
        pub fn $name(mut self, $name: $ty) -> Self {
            self.$name = $name;
            self
        }
    )*};
}

impl Config {
    /// Defaults, with the given service name.
    pub fn new(service: impl Into<String>) -> Self {
        Config {
            service: service.into(),
            ..Config::default()
        }
    }

    setter! {
        /// The least severe level recorded. Default `info`.
        level: LevelFilter,
        /// Events per batch: a batch is cut as soon as this many are
        /// waiting and the in-flight window has room; while it is full,
        /// the batch keeps growing up to `max_batch_bytes`. Default 256.
        batch_size: usize,
        /// A batch is cut at the latest this long after its first event.
        /// Default 500 ms.
        batch_timeout: Duration,
        /// A batch is also cut before its encoded size passes this, so it
        /// stays under the collector's message limit (4 MiB by default).
        /// Default 1 MiB.
        max_batch_bytes: usize,
        /// Events the queue holds before the overflow policy applies.
        /// Default 4096.
        queue_capacity: usize,
        /// What the caller's thread does when the queue is full. Default
        /// [`OverflowPolicy::DropNewest`].
        overflow: OverflowPolicy,
        /// Retries of a batch that failed with a retryable error.
        retry: RetryPolicy,
        /// Batches sent concurrently. Default 64. A batch is acknowledged
        /// once the collector has stored it, so this window bounds one
        /// process's throughput to a slow store; while it is full, batches
        /// grow (up to `max_batch_bytes`) so the events in flight follow
        /// the store's pace. It only fills under load.
        max_in_flight: usize,
        /// A send that takes longer fails as retryable. Default 10 s.
        send_timeout: Duration,
        /// How long the guard returned by `init` (and the exit hook) waits
        /// for the final flush. Default 5 s.
        shutdown_timeout: Duration,
        /// Size limits.
        limits: Limits,
        /// How often dropped events are reported on stderr (at most once
        /// per interval, and only when something was dropped). Default 10 s.
        drop_report_interval: Duration,
        /// Whether `AIRES_*` variables override the values set in code.
        /// Default true.
        env_overrides: bool,
    }

    /// The emitting service.
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.service = service.into();
        self
    }

    /// The deployment environment. Default `"development"`.
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = environment.into();
        self
    }

    /// Where to send events. Used by transports that need an address (the
    /// `aires` facade builds the gRPC transport from it).
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Sends the pipeline's own warnings (the drop report) to `sink`
    /// instead of stderr, where they are prefixed with `aires:`.
    pub fn diagnostics(mut self, sink: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.diagnostics = Some(Arc::new(sink));
        self
    }

    /// Keeps a copy of every batch on disk until it is settled, and sends
    /// what is left on the next start: a directory (up to 64 MiB), or a
    /// [`SpoolConfig`]. Default none.
    pub fn spool(mut self, spool: impl Into<SpoolConfig>) -> Self {
        self.spool = Some(spool.into());
        self
    }

    /// The transport. When none is set: with an endpoint, the facade's
    /// gRPC transport (an error in `aires-core` alone); without, stdout.
    pub fn transport(mut self, transport: impl Transport) -> Self {
        self.transport = Some(Arc::new(transport));
        self
    }

    /// The transport, already shared (bindings that keep a handle on it).
    #[doc(hidden)]
    pub fn shared_transport(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// What a caller building the default transport needs to know, after
    /// [`Config::resolve`]. Not public API.
    #[doc(hidden)]
    pub fn parts(&self) -> ConfigParts<'_> {
        ConfigParts {
            has_transport: self.transport.is_some(),
            endpoint: self.endpoint.as_deref(),
            env_overrides: self.env_overrides,
            may_block: matches!(
                self.overflow,
                OverflowPolicy::Block | OverflowPolicy::BlockFor(_)
            ),
        }
    }

    /// Applies `AIRES_*` overrides read through `lookup` (the process
    /// environment in production, a map in tests). [`Config::resolve`] is
    /// the one caller outside tests.
    #[doc(hidden)]
    pub fn apply_env(
        mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        if let Some(v) = lookup("AIRES_SERVICE") {
            self.service = v;
        }
        if let Some(v) = lookup("AIRES_ENVIRONMENT") {
            self.environment = v;
        }
        if let Some(v) = lookup("AIRES_ENDPOINT") {
            self.endpoint = Some(v);
        }
        if let Some(v) = lookup("AIRES_LEVEL") {
            self.level = v.parse().map_err(|e: crate::level::ParseLevelError| {
                env_error("AIRES_LEVEL", &v, e.to_string())
            })?;
        }
        if let Some(v) = lookup("AIRES_BATCH_SIZE") {
            self.batch_size = parse_env("AIRES_BATCH_SIZE", &v)?;
        }
        if let Some(v) = lookup("AIRES_BATCH_TIMEOUT_MS") {
            self.batch_timeout = Duration::from_millis(parse_env("AIRES_BATCH_TIMEOUT_MS", &v)?);
        }
        if let Some(v) = lookup("AIRES_MAX_BATCH_BYTES") {
            self.max_batch_bytes = parse_env("AIRES_MAX_BATCH_BYTES", &v)?;
        }
        if let Some(v) = lookup("AIRES_QUEUE_CAPACITY") {
            self.queue_capacity = parse_env("AIRES_QUEUE_CAPACITY", &v)?;
        }
        if let Some(v) = lookup("AIRES_OVERFLOW") {
            self.overflow = parse_overflow(&v)?;
        }
        if let Some(v) = lookup("AIRES_RETRY_MAX_ELAPSED_MS") {
            self.retry.max_elapsed =
                Duration::from_millis(parse_env("AIRES_RETRY_MAX_ELAPSED_MS", &v)?);
        }
        if let Some(v) = lookup("AIRES_MAX_IN_FLIGHT") {
            self.max_in_flight = parse_env("AIRES_MAX_IN_FLIGHT", &v)?;
        }
        if let Some(v) = lookup("AIRES_SEND_TIMEOUT_MS") {
            self.send_timeout = Duration::from_millis(parse_env("AIRES_SEND_TIMEOUT_MS", &v)?);
        }
        if let Some(v) = lookup("AIRES_SPOOL_DIR") {
            let mut spool = SpoolConfig::new(v);
            if let Some(old) = &self.spool {
                spool = spool.max_bytes(old.max_bytes);
            }
            self.spool = Some(spool);
        }
        if let Some(v) = lookup("AIRES_SPOOL_MAX_BYTES") {
            let max_bytes = parse_env("AIRES_SPOOL_MAX_BYTES", &v)?;
            match self.spool.as_mut() {
                Some(spool) => spool.max_bytes = max_bytes,
                None => {
                    return Err(env_error(
                        "AIRES_SPOOL_MAX_BYTES",
                        &v,
                        "needs a spool directory (AIRES_SPOOL_DIR)",
                    ))
                }
            }
        }
        Ok(self)
    }

    /// Applies the process environment if `env_overrides` is set, then
    /// checks every option. The pipeline does this when it starts; the
    /// environment is read once, so resolving a resolved config only checks
    /// it again.
    #[doc(hidden)]
    pub fn resolve(self) -> Result<Self, ConfigError> {
        let mut config = if self.env_overrides && !self.resolved {
            self.apply_env(|name| std::env::var(name).ok())?
        } else {
            self
        };
        config.resolved = true;
        config.validate()?;
        Ok(config)
    }

    /// Checks every option, without reading the environment.
    pub fn validate(&self) -> Result<(), ConfigError> {
        positive("batch_size", self.batch_size as u128)?;
        positive("queue_capacity", self.queue_capacity as u128)?;
        if self.max_batch_bytes < 64 * 1024 {
            return Err(ConfigError::OutOfRange {
                option: "max_batch_bytes",
                requirement: "at least 65536",
                value: self.max_batch_bytes.to_string(),
            });
        }
        positive("max_in_flight", self.max_in_flight as u128)?;
        positive("batch_timeout (ms)", self.batch_timeout.as_millis())?;
        positive("send_timeout (ms)", self.send_timeout.as_millis())?;
        positive(
            "drop_report_interval (ms)",
            self.drop_report_interval.as_millis(),
        )?;
        if let OverflowPolicy::BlockFor(timeout) = self.overflow {
            positive("overflow block timeout (ms)", timeout.as_millis())?;
        }
        if let OverflowPolicy::Grow { max_bytes } = self.overflow {
            positive("overflow grow budget (bytes)", max_bytes as u128)?;
        }
        for (option, value, max, requirement) in [
            (
                "batch_size",
                self.batch_size as u128,
                1_000_000,
                "at most 1000000",
            ),
            (
                "max_batch_bytes",
                self.max_batch_bytes as u128,
                64 << 20,
                "at most 64 MiB",
            ),
            (
                "queue_capacity",
                self.queue_capacity as u128,
                1 << 20,
                "at most 1048576",
            ),
            (
                "max_in_flight",
                self.max_in_flight as u128,
                1024,
                "at most 1024",
            ),
            (
                "batch_timeout (ms)",
                self.batch_timeout.as_millis(),
                3_600_000,
                "at most one hour",
            ),
            (
                "send_timeout (ms)",
                self.send_timeout.as_millis(),
                3_600_000,
                "at most one hour",
            ),
        ] {
            if value > max {
                return Err(ConfigError::OutOfRange {
                    option,
                    requirement,
                    value: value.to_string(),
                });
            }
        }
        let marker = TRUNCATION_MARKER.len() as u128;
        for (option, value) in [
            ("limits.max_message_bytes", self.limits.max_message_bytes),
            ("limits.max_value_bytes", self.limits.max_value_bytes),
        ] {
            if (value as u128) <= marker {
                return Err(ConfigError::OutOfRange {
                    option,
                    requirement: "longer than the truncation marker (14 bytes)",
                    value: value.to_string(),
                });
            }
        }
        if let Some(endpoint) = &self.endpoint {
            validate_endpoint(endpoint)?;
        }
        Ok(())
    }
}

fn positive(option: &'static str, value: u128) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(ConfigError::OutOfRange {
            option,
            requirement: "greater than 0",
            value: "0".into(),
        });
    }
    Ok(())
}

fn env_error(var: &'static str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::InvalidEnv {
        var,
        value: value.to_owned(),
        reason: reason.into(),
    }
}

fn parse_env<T: std::str::FromStr>(var: &'static str, value: &str) -> Result<T, ConfigError>
where
    T::Err: fmt::Display,
{
    value
        .trim()
        .parse()
        .map_err(|e: T::Err| env_error(var, value, e.to_string()))
}

fn parse_overflow(value: &str) -> Result<OverflowPolicy, ConfigError> {
    let trimmed = value.trim();
    if trimmed.eq_ignore_ascii_case("drop") {
        return Ok(OverflowPolicy::DropNewest);
    }
    if trimmed.eq_ignore_ascii_case("block") {
        return Ok(OverflowPolicy::Block);
    }
    if let Some(ms) = trimmed.strip_prefix("block:") {
        let ms: u64 = parse_env("AIRES_OVERFLOW", ms)?;
        return Ok(OverflowPolicy::BlockFor(Duration::from_millis(ms)));
    }
    if trimmed.eq_ignore_ascii_case("grow") {
        return Ok(OverflowPolicy::grow());
    }
    if let Some(mib) = trimmed.strip_prefix("grow:") {
        let mib: usize = parse_env("AIRES_OVERFLOW", mib)?;
        return Ok(OverflowPolicy::Grow {
            max_bytes: mib.saturating_mul(1 << 20),
        });
    }
    Err(env_error(
        "AIRES_OVERFLOW",
        value,
        "expected `drop`, `block`, `block:<milliseconds>`, `grow` or `grow:<MiB>`",
    ))
}

/// What [`Config::parts`] reads out.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct ConfigParts<'a> {
    /// A transport was set in code.
    pub has_transport: bool,
    /// The endpoint, from code or `AIRES_ENDPOINT`.
    pub endpoint: Option<&'a str>,
    /// Whether `AIRES_*` variables apply.
    pub env_overrides: bool,
    /// Whether the overflow policy can make a caller wait.
    pub may_block: bool,
}

/// Checks that an endpoint is an `http://` or `https://` URL with a host.
pub fn validate_endpoint(endpoint: &str) -> Result<url::Url, ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidEndpoint {
        endpoint: endpoint.to_owned(),
        reason,
    };
    let url = url::Url::parse(endpoint).map_err(|e| invalid(e.to_string()))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(invalid(format!(
            "scheme must be http or https, got {:?}",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host".into()));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_is_applied_once_however_often_a_config_is_resolved() {
        // One process per test (nextest), so the variable is this test's.
        std::env::set_var("AIRES_SERVICE", "from-env");
        let resolved = Config::new("from-code").resolve().unwrap();
        assert_eq!(resolved.service, "from-env");
        // Set again in code after the first resolve: a second resolve (the
        // facade resolves, then the pipeline) does not undo it.
        let mut changed = resolved;
        changed.service = "changed-after".into();
        let again = changed.resolve().unwrap();
        assert_eq!(again.service, "changed-after");
        std::env::remove_var("AIRES_SERVICE");
    }
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_are_valid() {
        let config = Config::default();
        config.validate().unwrap();
        assert_eq!(config.batch_size, 256);
        assert_eq!(config.batch_timeout, Duration::from_millis(500));
        assert_eq!(config.retry.max_elapsed, Duration::from_secs(120));
    }

    #[test]
    fn environment_overrides_code() {
        let config = Config::new("from-code")
            .batch_size(10)
            .apply_env(env(&[
                ("AIRES_SERVICE", "from-env"),
                ("AIRES_LEVEL", "warn"),
                ("AIRES_BATCH_SIZE", "64"),
                ("AIRES_BATCH_TIMEOUT_MS", "250"),
                ("AIRES_OVERFLOW", "block:20"),
                ("AIRES_ENDPOINT", "http://127.0.0.1:4317"),
                ("AIRES_RETRY_MAX_ELAPSED_MS", "90000"),
            ]))
            .unwrap();
        assert_eq!(config.service, "from-env");
        assert_eq!(config.level, LevelFilter::WARN);
        assert_eq!(config.batch_size, 64);
        assert_eq!(config.batch_timeout, Duration::from_millis(250));
        assert_eq!(
            config.overflow,
            OverflowPolicy::BlockFor(Duration::from_millis(20))
        );
        assert_eq!(config.endpoint.as_deref(), Some("http://127.0.0.1:4317"));
        assert_eq!(config.retry.max_elapsed, Duration::from_secs(90));
        let blocking = Config::default()
            .apply_env(env(&[("AIRES_OVERFLOW", "block")]))
            .unwrap();
        assert_eq!(blocking.overflow, OverflowPolicy::Block);
        let growing = |v| {
            Config::default()
                .apply_env(env(&[("AIRES_OVERFLOW", v)]))
                .unwrap()
                .overflow
        };
        assert_eq!(growing("grow"), OverflowPolicy::grow());
        assert_eq!(
            growing("grow:8"),
            OverflowPolicy::Grow { max_bytes: 8 << 20 }
        );
    }

    #[test]
    fn bad_environment_values_name_the_variable() {
        let err = Config::default()
            .apply_env(env(&[("AIRES_BATCH_SIZE", "lots")]))
            .unwrap_err();
        assert!(matches!(
            err,
            ConfigError::InvalidEnv {
                var: "AIRES_BATCH_SIZE",
                ..
            }
        ));
        assert!(
            err.to_string().contains("AIRES_BATCH_SIZE=\"lots\""),
            "{err}"
        );
        let err = Config::default()
            .apply_env(env(&[("AIRES_LEVEL", "loud")]))
            .unwrap_err();
        assert!(err.to_string().contains("loud"), "{err}");
        assert!(Config::default()
            .apply_env(env(&[("AIRES_OVERFLOW", "sometimes")]))
            .is_err());
    }

    #[test]
    fn zero_sizes_and_timeouts_are_rejected() {
        let err = Config::default().batch_size(0).validate().unwrap_err();
        assert_eq!(err.to_string(), "batch_size must be greater than 0, got 0");
        assert!(Config::default().queue_capacity(0).validate().is_err());
        assert!(Config::default()
            .batch_timeout(Duration::ZERO)
            .validate()
            .is_err());
        assert!(Config::default()
            .send_timeout(Duration::ZERO)
            .validate()
            .is_err());
        assert!(Config::default().max_in_flight(0).validate().is_err());
        let err = Config::default()
            .batch_timeout(Duration::MAX)
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("at most one hour"), "{err}");
        assert!(Config::default()
            .queue_capacity(usize::MAX)
            .validate()
            .is_err());
        assert!(Config::default()
            .overflow(OverflowPolicy::BlockFor(Duration::ZERO))
            .validate()
            .is_err());
    }

    #[test]
    fn endpoints_must_be_http_urls_with_a_host() {
        validate_endpoint("http://127.0.0.1:4317").unwrap();
        validate_endpoint("https://collector.example.com").unwrap();
        for bad in ["127.0.0.1:4317", "ftp://host", "http://", "not a url", ""] {
            let err = Config::default().endpoint(bad).validate().unwrap_err();
            assert!(
                matches!(err, ConfigError::InvalidEndpoint { .. }),
                "{bad}: {err}"
            );
        }
    }
}
