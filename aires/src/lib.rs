//! # Aires
//!
//! Structured events from Rust services, batched in the background and
//! shipped to the Aires collector (and from there to ClickHouse), at a cost
//! on the calling thread of tens of nanoseconds.
//!
//! ```
//! use std::time::Duration;
//!
//! let memory = aires::transport::MemoryTransport::new();
//! let guard = aires::init(aires::Config::new("checkout").transport(memory.clone()))?;
//!
//! aires::info!("order placed", order_id = 123, amount = 9.99, currency = "EUR");
//! let user = "ada";
//! aires::warn!("slow query for {user}", table = "orders", ms = 812);
//!
//! aires::flush(Duration::from_secs(2))?;
//! assert_eq!(memory.events().len(), 2);
//! guard.shutdown(Duration::from_secs(5))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## The macros
//!
//! `trace!`, `debug!`, `info!`, `warn!`, `error!` and `fatal!` take a string
//! literal message, optional format arguments, then `key = value` fields:
//!
//! - `key = value`: integers, floats, bools and strings keep their type.
//!   String literals are stored without copying.
//! - `key = %value` stores the `Display` text, `key = ?value` the `Debug` text.
//! - Keys are identifiers, dotted paths (`user.id = 7`) or string literals.
//! - A `{name}` placeholder in the message may name a field.
//! - Reserved keys: `trace_id`, `span_id` (a [`TraceId`] / [`SpanId`], or an
//!   `Option` of one), `session_id`, `tags` (anything iterable of strings),
//!   `http` (an [`HttpInfo`]) and `error` (a reference to any
//!   `std::error::Error`, recorded with its `source()` chain). Use a string
//!   key, `"error" = "..."`, for a plain attribute with one of these names.
//!
//! The level is checked first (a compile-time ceiling set by the
//! `max_level_*` features, then one relaxed atomic load); a filtered-out call
//! evaluates none of its arguments. `fatal!` records an event; it does not
//! stop the program.
//!
//! ## Lifecycle
//!
//! [`init`] starts the pipeline and returns a [`Guard`]; dropping the guard
//! (or calling [`shutdown`]) sends everything still queued. Events emitted
//! before `init` or after shutdown are counted in [`metrics`] and discarded.
//!
//! ## What this crate exports
//!
//! The surface is small on purpose, and each item has one path:
//!
//! | concern | items |
//! |---|---|
//! | record | the macros; [`Event::builder`] for events built at run time |
//! | start and stop | [`init`], [`Guard`], [`flush`], [`shutdown`], [`InitError`], [`FlushError`], [`ShutdownError`] |
//! | configure | [`Config`], [`ConfigError`], [`Limits`], [`OverflowPolicy`], [`RetryPolicy`], [`SpoolConfig`] |
//! | levels | [`Level`], [`LevelFilter`], [`ParseLevelError`], [`level`], [`set_level`] |
//! | what an event holds | [`Event`], [`EventBuilder`], [`Value`], [`Attribute`], [`TraceId`], [`SpanId`], [`IdError`], [`HttpInfo`], [`ErrorInfo`], [`CallSite`], [`Uuid7`] |
//! | observe the pipeline | [`metrics`], [`Metrics`] |
//! | where batches go | the [`transport`] module: the [`Transport`](transport::Transport) trait and the built-in transports; [`grpc`] (the default, feature `grpc`) |
//! | other logging libraries | the `tracing` module (feature `tracing`): `tracing::layer()`, a `tracing-subscriber` layer; the `log` module (feature `log`): `log::init()`, a logger for the `log` crate |
//!
//! Everything else is `aires_core`'s: a [`Pipeline`](aires_core::Pipeline)
//! of your own (not the global one), for example. Items hidden from these
//! docs (`__private`) serve the macros and the language bindings, and may
//! change in any release.

// Every public item is documented (checked by clippy with -D warnings).
#![warn(missing_docs)]

pub use aires_core::{
    flush, level, metrics, set_level, shutdown, transport, Attribute, CallSite, Config,
    ConfigError, ErrorInfo, Event, EventBuilder, FlushError, Guard, HttpInfo, IdError, InitError,
    Level, LevelFilter, Limits, Metrics, OverflowPolicy, ParseLevelError, RetryPolicy,
    ShutdownError, SpanId, SpoolConfig, TraceId, Uuid7, Value,
};

/// Starts the global pipeline from `config` (with `AIRES_*` environment
/// overrides applied) and returns the guard that shuts it down on drop.
///
/// ```no_run
/// fn main() -> Result<(), aires::InitError> {
///     // Keep the guard for the life of the program: dropping it at the end
///     // of `main` sends what is still queued.
///     let _guard = aires::init(aires::Config::new("checkout").endpoint("http://127.0.0.1:4317"))?;
///     aires::info!("started", version = "1.4.2");
///     Ok(())
/// }
/// ```
///
/// The transport is, in order: the one set in `config`; with the `grpc`
/// feature (on by default) and an endpoint (`Config::endpoint` or
/// `AIRES_ENDPOINT`), gRPC to that collector, configured further by
/// `AIRES_GRPC_MODE`, `AIRES_API_KEY`, `AIRES_COMPRESSION`,
/// `AIRES_GRPC_TIMEOUT_MS`, `AIRES_TLS_CA` and `AIRES_TLS_DOMAIN` (see
/// [`grpc::GrpcConfig`]); otherwise stdout, as JSON lines.
pub fn init(config: Config) -> Result<Guard, InitError> {
    aires_core::init(__private::with_default_transport(config)?)
}

/// The gRPC transport (the `grpc` feature).
#[cfg(feature = "grpc")]
pub use aires_transport_grpc as grpc;

/// The `tracing` layer (the `tracing` feature): `tracing`'s events, and
/// `log`'s through `tracing-log`, as Aires events. See the
/// [`aires-tracing`](aires_tracing) crate's docs.
#[cfg(feature = "tracing")]
pub use aires_tracing as tracing;

#[cfg(feature = "log")]
#[path = "log_bridge.rs"]
pub mod log;

/// Not public API: what the macros expand to, and what the language
/// bindings in this repository start the pipeline with. May change in any
/// release.
#[doc(hidden)]
pub mod __private {
    pub use aires_core::__private::{
        count_filtered, dispatch_with, enabled, AbandonOnUnwind, STATIC_MAX_LEVEL,
    };
    pub use aires_core::{CallSite, EventBuilder, Str, Value};
    pub use aires_macros::event;

    use aires_core::{Config, Guard, InitError};

    /// Like [`crate::init`], naming another SDK (a language binding) and
    /// its version in every batch, so the collector and ClickHouse can tell
    /// them apart.
    pub fn init_as_sdk(
        config: Config,
        sdk_name: &str,
        sdk_version: &str,
    ) -> Result<Guard, InitError> {
        aires_core::__private::init_with_encoder(with_default_transport(config)?, |encoder| {
            encoder.with_sdk(sdk_name, sdk_version)
        })
    }

    /// Resolves `config` (applying `AIRES_*` overrides) and fills in the
    /// transport [`crate::init`] would use.
    #[cfg(feature = "grpc")]
    pub fn with_default_transport(config: Config) -> Result<Config, InitError> {
        use aires_transport_grpc::{GrpcConfig, GrpcTransport};
        let config = config.resolve()?;
        let parts = config.parts();
        let Some(endpoint) = parts.endpoint.filter(|_| !parts.has_transport) else {
            return Ok(config);
        };
        let mut grpc = GrpcConfig::new(endpoint);
        if parts.env_overrides {
            // The endpoint came through the config, which read AIRES_ENDPOINT.
            grpc = grpc
                .apply_transport_env(|name| std::env::var(name).ok())
                .map_err(|e| InitError::Transport(Box::new(e)))?;
        }
        let transport = GrpcTransport::new(grpc).map_err(|e| InitError::Transport(Box::new(e)))?;
        Ok(config.transport(transport))
    }

    /// Resolves `config`; without the `grpc` feature there is no transport
    /// to fill in.
    #[cfg(not(feature = "grpc"))]
    pub fn with_default_transport(config: Config) -> Result<Config, InitError> {
        Ok(config.resolve()?)
    }
}

/// Records an event at [`Level::Trace`]. See the [crate docs](crate) for the syntax.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)*) => { $crate::__private::event!($crate, Trace, $($arg)*) };
}

/// Records an event at [`Level::Debug`]. See the [crate docs](crate) for the syntax.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::__private::event!($crate, Debug, $($arg)*) };
}

/// Records an event at [`Level::Info`]. See the [crate docs](crate) for the syntax.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::__private::event!($crate, Info, $($arg)*) };
}

/// Records an event at [`Level::Warn`]. See the [crate docs](crate) for the syntax.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::__private::event!($crate, Warn, $($arg)*) };
}

/// Records an event at [`Level::Error`]. See the [crate docs](crate) for the syntax.
///
/// ```
/// # let _g = aires::init(aires::Config::new("docs").transport(aires::transport::MemoryTransport::new()));
/// let err = std::io::Error::other("card declined");
/// aires::error!("payment failed", error = &err, order_id = 42);
/// ```
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::__private::event!($crate, Error, $($arg)*) };
}

/// Records an event at [`Level::Fatal`]. It does not stop the program.
#[macro_export]
macro_rules! fatal {
    ($($arg:tt)*) => { $crate::__private::event!($crate, Fatal, $($arg)*) };
}
