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

    /// The field numbers of the event messages, generated from
    /// `event.proto`: what the hand-written encoder (`aires_core::encode`)
    /// and decoder (`aires_collector::decode`) use instead of literals.
    pub mod fields {
        include!(concat!(env!("OUT_DIR"), "/aires.v1.fields.rs"));
    }

    /// The event messages of `aires.v1` with every `uint32` and enum field
    /// as a `uint64`, and a batch's events left encoded: what a reference
    /// decoder needs to see a value that does not fit its field, and to
    /// refuse one event alone (feature `wide`; tests only).
    #[cfg(feature = "wide")]
    pub mod wide {
        include!(concat!(env!("OUT_DIR"), "/aires.v1.wide.rs"));
    }
}
