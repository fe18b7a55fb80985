//! # Aires
//!
//! Structured events from Rust services, batched in the background and
//! shipped to the Aires collector (and from there to ClickHouse), at a cost
//! on the calling thread of tens of nanoseconds.
//!
//! ```
//! use std::time::Duration;
//!
//! let memory = aires::MemoryTransport::new();
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

// Every public item is documented (checked by clippy with -D warnings).
#![warn(missing_docs)]

pub use aires_core::{
    flush, level, metrics, shutdown, transport, Attribute, CallSite, Config, ConfigError,
    EncodedBatch, ErrorInfo, ErrorKind, Event, EventBuilder, FlushError, Guard, HttpInfo, IdError,
    InitError, Level, LevelFilter, Limits, MemoryTransport, Metrics, NullTransport, OverflowPolicy,
    Pipeline, Receipt, RetryPolicy, SendFuture, ShutdownError, SpanId, StdoutTransport, Str,
    TraceId, Transport, TransportError, Uuid7, Value,
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
/// `AIRES_API_KEY`, `AIRES_COMPRESSION`, `AIRES_GRPC_MODE`, `AIRES_TLS_CA`
/// (see `aires_transport_grpc`); otherwise stdout, as JSON lines.
pub fn init(config: Config) -> Result<Guard, InitError> {
    aires_core::init(with_default_transport(config)?)
}

/// Like [`init`], naming another SDK (a language binding) and its version
/// in every batch, so the collector and ClickHouse can tell them apart.
pub fn init_as_sdk(config: Config, sdk_name: &str, sdk_version: &str) -> Result<Guard, InitError> {
    aires_core::init_with_encoder(with_default_transport(config)?, |encoder| {
        encoder.with_sdk(sdk_name, sdk_version)
    })
}

/// Resolves `config` (applying `AIRES_*` overrides) and fills in the
/// transport [`init`] would use, for bindings that start the global pipeline
/// themselves (with `aires_core::init_with_encoder`).
#[cfg(feature = "grpc")]
pub fn with_default_transport(config: Config) -> Result<Config, InitError> {
    use aires_transport_grpc::{GrpcConfig, GrpcTransport};
    let config = config.resolve()?;
    if config.transport.is_some() {
        return Ok(config);
    }
    let Some(endpoint) = config.endpoint.clone() else {
        return Ok(config);
    };
    let mut grpc = GrpcConfig::new(endpoint);
    if config.env_overrides {
        // The endpoint came through the config, which read AIRES_ENDPOINT.
        grpc = grpc
            .apply_transport_env(|name| std::env::var(name).ok())
            .map_err(|e| InitError::Transport(Box::new(e)))?;
    }
    let transport = GrpcTransport::new(grpc).map_err(|e| InitError::Transport(Box::new(e)))?;
    Ok(config.transport(transport))
}

/// Resolves `config`; without the `grpc` feature there is no transport to
/// fill in.
#[cfg(not(feature = "grpc"))]
pub fn with_default_transport(config: Config) -> Result<Config, InitError> {
    Ok(config.resolve()?)
}

/// The gRPC transport (the `grpc` feature).
#[cfg(feature = "grpc")]
pub use aires_transport_grpc as grpc;

#[doc(hidden)]
pub mod __private {
    pub use aires_core::level::{enabled, STATIC_MAX_LEVEL};
    pub use aires_core::{
        count_filtered, dispatch_with, AbandonOnUnwind, EventBuilder, Str, Value,
    };
    pub use aires_macros::event;
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
/// # let _g = aires::init(aires::Config::new("docs").transport(aires::MemoryTransport::new()));
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
