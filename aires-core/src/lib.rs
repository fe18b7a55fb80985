//! The in-process half of Aires: structured [`Event`]s, a bounded queue that
//! never blocks the caller, a batch worker that encodes batches as protobuf,
//! and the [`Transport`](transport::Transport) seam they leave the process
//! through.
//!
//! ```text
//! Event::builder(..).emit() / aires::info!(..)
//!   -> level check (compile time, then one relaxed atomic load)
//!   -> bounded lock-free queue of event slots, the event built in its slot
//!      (drop and count when full)
//!   -> batch worker thread (256 events or 500 ms) -> protobuf EventBatch
//!   -> delivery thread (Tokio, max_in_flight sends, retries with backoff)
//!   -> Transport::send
//! ```
//!
//! Applications normally depend on the `aires` facade crate and use its
//! macros. This crate is the core that the facade and the language bindings
//! share. Its surface is the facade's (every type at the root, the
//! transports in [`transport`]) plus [`Pipeline`], a pipeline of your own
//! beside or instead of the global one, and [`ParseLevelError`]. Items
//! hidden from these docs (`__private`, `sdk`, a few `#[doc(hidden)]`
//! methods) are the plumbing of the macros and of the language bindings in
//! this repository, and may change in any release.
//!
//! ```
//! use std::time::Duration;
//! use aires_core::transport::MemoryTransport;
//! use aires_core::{Config, Event, Level, Pipeline};
//!
//! let memory = MemoryTransport::new();
//! let pipeline = Pipeline::start(Config::new("checkout").transport(memory.clone()))?;
//! pipeline.emit(
//!     Event::builder(Level::Info, "order placed")
//!         .attr("order_id", 123)
//!         .attr("amount", 9.99)
//!         .build(),
//! );
//! pipeline.shutdown(Duration::from_secs(5))?;
//! assert_eq!(memory.events().len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// Every public item is documented (checked by clippy with -D warnings).
#![warn(missing_docs)]

mod batch_worker;
mod callsite;
mod clock;
mod config;
mod delivery;
mod diagnostics;
mod encode;
mod error_info;
mod event;
mod fork;
mod global;
mod http;
mod ids;
mod level;
mod metrics;
mod overflow;
mod pipeline;
mod queue;
mod retry;
#[doc(hidden)]
pub mod sdk;
mod spool;
pub mod transport;
mod uuid7;
mod value;

pub use callsite::CallSite;
pub use config::{Config, ConfigError, Limits, OverflowPolicy};
pub use error_info::ErrorInfo;
pub use event::{Event, EventBuilder};
pub use global::{flush, init, level, metrics, set_level, shutdown, Guard};
pub use http::HttpInfo;
pub use ids::{IdError, SpanId, TraceId};
pub use level::{Level, LevelFilter, ParseLevelError};
pub use metrics::Metrics;
pub use pipeline::{FlushError, InitError, Pipeline, ShutdownError};
pub use retry::RetryPolicy;
pub use spool::SpoolConfig;
pub use uuid7::Uuid7;
pub use value::{Attribute, Str, Value};

/// Not public API. The plumbing shared with the `aires` facade's macros,
/// the language bindings, the gRPC transport and the benches in this
/// repository: it may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::clock::{now_unix_nanos, system_unix_nanos};
    pub use crate::config::{validate_endpoint, ConfigParts};
    pub use crate::encode::BatchEncoder;
    pub use crate::event::{AttributeWriter, Attributes, INLINE_ATTRIBUTES};
    pub use crate::global::{
        count_filtered, dispatch, dispatch_with, forget_after_fork, init_with_encoder,
        AbandonOnUnwind,
    };
    pub use crate::level::{enabled, set_level_listener, LevelListener, STATIC_MAX_LEVEL};
}
