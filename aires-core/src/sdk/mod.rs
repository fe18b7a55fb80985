//! What the language bindings (Python, Node) share, so that they behave
//! alike: the table of `init` options with their defaults and environment
//! variables, the choice of transport by name, the metrics by name, the
//! interned field keys and messages, the number that changes in a forked
//! child (for id generators of their own to reseed), and the
//! canonical read-back of events held by the memory transport, on which the
//! cross-language conformance suite (`conformance/cases.json`) compares
//! rows. Each binding adapts these to its language's conventions (Python
//! names and seconds, JavaScript camelCase and milliseconds), as the
//! bindings of a Rust library adapt its one implementation.

pub mod intern;
mod options;
mod rows;
mod settings;

pub use crate::fork::generation as fork_generation;
pub use intern::Interner;
pub use options::{OptionSpec, Unit, OPTIONS};
pub use rows::{record, records, row, rows};
pub use settings::{Settings, Spelling};

use crate::config::Config;
use crate::transport::{MemoryTransport, NullTransport, StdoutTransport, Transport};
use std::sync::Arc;

/// `snake_case` as `camelCase`: option and metric names in JavaScript.
pub fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The `transport` option, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportChoice {
    /// gRPC to the endpoint, or stdout without one (`"default"` or `"grpc"`).
    Default,
    /// JSON lines on standard output (`"stdout"`).
    Stdout,
    /// Discards every batch, for benchmarks (`"null"`).
    Null,
    /// Kept in the process, for tests (`"memory"`).
    Memory,
}

impl TransportChoice {
    /// The names every binding accepts.
    pub const NAMES: [&'static str; 5] = ["default", "grpc", "stdout", "null", "memory"];

    /// Parses a `transport` option.
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "default" | "grpc" => Ok(TransportChoice::Default),
            "stdout" => Ok(TransportChoice::Stdout),
            "null" => Ok(TransportChoice::Null),
            "memory" => Ok(TransportChoice::Memory),
            other => Err(format!(
                "transport must be one of {}; got {other:?}",
                Self::NAMES.join(", ")
            )),
        }
    }

    /// A new transport of this kind (`transport` is `None` for the
    /// facade's default), with handles on the memory and null ones for
    /// reading back what they were given.
    pub fn build(self) -> BuiltTransport {
        let mut built = BuiltTransport::default();
        match self {
            TransportChoice::Default => {}
            TransportChoice::Stdout => built.transport = Some(Arc::new(StdoutTransport::new())),
            TransportChoice::Null => {
                let null = NullTransport::new();
                built.transport = Some(Arc::new(null.clone()));
                built.null = Some(null);
            }
            TransportChoice::Memory => {
                let memory = MemoryTransport::new();
                built.transport = Some(Arc::new(memory.clone()));
                built.memory = Some(memory);
            }
        }
        built
    }
}

/// What [`TransportChoice::build`] made.
#[derive(Default)]
#[allow(missing_debug_implementations)] // holds a `dyn Transport`
pub struct BuiltTransport {
    /// The transport for the config; `None` leaves the facade's default.
    pub transport: Option<Arc<dyn Transport>>,
    /// The memory transport, to read back (`transport: "memory"`).
    pub memory: Option<MemoryTransport>,
    /// The null transport, to count what it discarded (`transport: "null"`).
    pub null: Option<NullTransport>,
}

impl BuiltTransport {
    /// `config` with this transport, if one was built; otherwise unchanged
    /// (the facade fills in its default).
    pub fn configure(&self, mut config: Config) -> Config {
        if let Some(transport) = &self.transport {
            config.transport = Some(transport.clone());
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_names_parse_and_others_are_refused_with_the_list() {
        for name in TransportChoice::NAMES {
            assert!(TransportChoice::parse(name).is_ok(), "{name}");
        }
        let error = TransportChoice::parse("kafka").unwrap_err();
        assert!(
            error.contains("default, grpc, stdout, null, memory"),
            "{error}"
        );
        let built = TransportChoice::Memory.build();
        assert!(built.transport.is_some() && built.memory.is_some());
        assert!(TransportChoice::Default.build().transport.is_none());
    }
}
