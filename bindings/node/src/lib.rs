//! The Node.js binding of Aires, published to npm as `aires`.
//!
//! This crate only converts: JavaScript arguments become an
//! [`aires_core::Event`], which goes through the core's global pipeline
//! (queue, batch worker, transport) exactly like an event from the Rust
//! macros. The ergonomic API (levels, child loggers, `withContext`, error
//! and call-site capture, exit flush) is the TypeScript layer in `src/*.ts`;
//! the level check happens there, before anything crosses into Rust.
//!
//! The fields of an event cross the boundary as bytes the TypeScript layer
//! writes into a reused buffer when they are flat ([`encoded`]), and as one
//! JSON string otherwise ([`fields`]): measured against passing the object
//! property by property and against flat key/value arrays, these are the
//! cheapest ways across (figures in BENCHMARKS.md).

mod crossing;
mod emit;
mod encoded;
mod fields;
mod keys;
mod lifecycle;
mod options;
mod testing;
mod text;

pub use crossing::*;
pub use emit::*;
pub use lifecycle::*;
pub use options::InitOptions;
pub use testing::*;
