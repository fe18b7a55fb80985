//! Generated Rust types for the Aires wire format, package `aires.v1`.
//!
//! The `.proto` files under `proto/` are the source of truth; this crate only
//! compiles them. SDK internals encode batches without these types (see
//! `aires_core::encode`), nor does the collector decode them with these
//! types (see `aires_collector::decode`); they are used by the development
//! transports, the collector's answers, and tests. With the `grpc` feature
//! the crate also holds the tonic client of `aires.v1.Collector`.

#![allow(missing_docs, missing_debug_implementations)]

#[cfg(feature = "grpc")]
pub mod codec;

/// Version 1 of the wire format.
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/aires.v1.rs"));
}
