//! The in-process half of Aires: structured [`Event`]s, a bounded queue that
//! never blocks the caller, a batch worker that encodes batches as protobuf,
//! and the [`Transport`] seam they leave the process through.
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
//! macros. This crate is the stable core that the facade and the language
//! bindings share.
//!
//! ```
//! use std::time::Duration;
//! use aires_core::{Config, Event, Level, MemoryTransport, Pipeline};
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
pub mod clock;
mod config;
mod delivery;
mod diagnostics;
pub mod encode;
mod error_info;
mod event;
mod global;
mod http;
mod ids;
pub mod level;
mod metrics;
mod pipeline;
mod queue;
mod retry;
pub mod sdk;
mod spool;
pub mod transport;
mod uuid7;
mod value;

pub use callsite::{CallSite, CallSiteRef};
pub use config::{
    validate_endpoint, Config, ConfigError, Limits, OverflowPolicy, TRUNCATION_MARKER,
};
pub use diagnostics::DiagnosticSink;
pub use error_info::ErrorInfo;
pub use event::{Attributes, Event, EventBuilder, INLINE_ATTRIBUTES};
pub use global::{
    count_filtered, dispatch, dispatch_with, flush, forget_after_fork, init, init_with_encoder,
    metrics, shutdown, AbandonOnUnwind, Guard,
};
pub use http::HttpInfo;
pub use ids::{IdError, SpanId, TraceId};
pub use level::{Level, LevelFilter};
pub use metrics::Metrics;
pub use pipeline::{FlushError, InitError, Pipeline, ShutdownError};
pub use retry::RetryPolicy;
pub use spool::SpoolConfig;
pub use transport::{
    EncodedBatch, ErrorKind, MemoryTransport, NullTransport, Receipt, SendFuture, StdoutTransport,
    Transport, TransportError,
};
pub use uuid7::Uuid7;
pub use value::{Attribute, Str, Value};
