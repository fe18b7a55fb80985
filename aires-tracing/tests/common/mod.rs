//! Shared pieces of the layer's tests: the lock that keeps tests of the
//! global pipeline apart (as in aires/tests/common), a capture of what a
//! body logs, and readers of decoded events.

#![allow(dead_code)]

use std::io;
use std::sync::Arc;
use std::time::Duration;

use aires::transport::MemoryTransport;
use aires_proto::v1::{self as proto, attribute::Value as V};
use parking_lot::Mutex;
use tracing_subscriber::fmt::MakeWriter;

pub const DEADLINE: Duration = Duration::from_secs(20);

/// The facade's test helpers: the lock that keeps tests of the global
/// pipeline apart comes from there.
#[path = "../../../aires/tests/common/mod.rs"]
mod facade;

#[allow(unused_imports)] // not every test binary takes the lock
pub use facade::{global_lock, global_lock_untouched};

/// A config for tests: no environment overrides, every level.
pub fn test_config(memory: &MemoryTransport) -> aires::Config {
    aires::Config::new("test-service")
        .environment("test")
        .env_overrides(false)
        .level(aires::LevelFilter::TRACE)
        .transport(memory.clone())
}

/// The attribute `key` of a decoded event.
pub fn attr<'a>(event: &'a proto::Event, key: &str) -> Option<&'a V> {
    event
        .attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref())
}

/// A string attribute's value, for comparisons.
pub fn s(value: &str) -> V {
    V::StringValue(value.into())
}

/// The keys of an event's attributes, in order.
pub fn keys(event: &proto::Event) -> Vec<&str> {
    event.attributes.iter().map(|a| a.key.as_str()).collect()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A `MakeWriter` into a shared buffer, for a fmt layer beside Aires'.
#[derive(Clone, Default)]
pub struct Buffer(pub Arc<Mutex<Vec<u8>>>);

impl Buffer {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().clone()).unwrap()
    }
}

impl io::Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Buffer;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// An error with a cause, to check that the chain is stored.
#[derive(Debug)]
pub struct Declined(pub io::Error);

impl std::fmt::Display for Declined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("payment declined")
    }
}

impl std::error::Error for Declined {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}
