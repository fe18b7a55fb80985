//! The `init` options every binding offers, with their defaults (taken
//! from [`Config::default`], so the table cannot drift from the core) and
//! the `AIRES_*` variables that override them.

use std::time::Duration;

use crate::config::Config;

/// How a binding shows an option's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Text (service, level, a path...).
    Text,
    /// A whole number.
    Count,
    /// Bytes, a whole number.
    Bytes,
    /// A duration: seconds in Python (`batch_timeout`), milliseconds in
    /// JavaScript (`batchTimeoutMs`).
    Duration,
    /// true or false.
    Flag,
}

/// One `init` option.
#[derive(Clone, Copy, Debug)]
pub struct OptionSpec {
    /// The name in snake case, without a unit (`batch_timeout`).
    pub name: &'static str,
    /// Its kind of value.
    pub unit: Unit,
    /// The default, as text: durations in milliseconds, `""` for none.
    pub default: fn() -> String,
    /// The environment variable that overrides it, if any.
    pub env: Option<&'static str>,
}

impl OptionSpec {
    /// The JavaScript name: camelCase, durations ending in `Ms`.
    pub fn js_name(&self) -> String {
        let mut out = super::camel_case(self.name);
        if self.unit == Unit::Duration {
            out.push_str("Ms");
        }
        out
    }
}

fn ms(d: Duration) -> String {
    d.as_millis().to_string()
}

fn none() -> String {
    String::new()
}

/// Every option the bindings share. A binding may add its own (Node's
/// `exitTimeoutMs`, Python's `opentelemetry`), listed in its README.
pub const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        name: "service",
        unit: Unit::Text,
        default: || Config::default().service,
        env: Some("AIRES_SERVICE"),
    },
    OptionSpec {
        name: "environment",
        unit: Unit::Text,
        default: || Config::default().environment,
        env: Some("AIRES_ENVIRONMENT"),
    },
    OptionSpec {
        name: "endpoint",
        unit: Unit::Text,
        default: none,
        env: Some("AIRES_ENDPOINT"),
    },
    OptionSpec {
        name: "level",
        unit: Unit::Text,
        default: || Config::default().level.to_string(),
        env: Some("AIRES_LEVEL"),
    },
    OptionSpec {
        name: "batch_size",
        unit: Unit::Count,
        default: || Config::default().batch_size.to_string(),
        env: Some("AIRES_BATCH_SIZE"),
    },
    OptionSpec {
        name: "batch_timeout",
        unit: Unit::Duration,
        default: || ms(Config::default().batch_timeout),
        env: Some("AIRES_BATCH_TIMEOUT_MS"),
    },
    OptionSpec {
        name: "max_batch_bytes",
        unit: Unit::Bytes,
        default: || Config::default().max_batch_bytes.to_string(),
        env: Some("AIRES_MAX_BATCH_BYTES"),
    },
    OptionSpec {
        name: "queue_capacity",
        unit: Unit::Count,
        default: || Config::default().queue_capacity.to_string(),
        env: Some("AIRES_QUEUE_CAPACITY"),
    },
    OptionSpec {
        name: "overflow",
        unit: Unit::Text,
        default: || "drop".into(),
        env: Some("AIRES_OVERFLOW"),
    },
    OptionSpec {
        name: "block_timeout",
        unit: Unit::Duration,
        default: none,
        env: None, // part of AIRES_OVERFLOW (`block:<ms>`)
    },
    OptionSpec {
        name: "overflow_max_bytes",
        unit: Unit::Bytes,
        default: || crate::config::OverflowPolicy::DEFAULT_GROW_BYTES.to_string(),
        env: None, // part of AIRES_OVERFLOW (`grow:<MiB>`)
    },
    OptionSpec {
        name: "retry_max_elapsed",
        unit: Unit::Duration,
        default: || ms(Config::default().retry.max_elapsed),
        env: Some("AIRES_RETRY_MAX_ELAPSED_MS"),
    },
    OptionSpec {
        name: "max_in_flight",
        unit: Unit::Count,
        default: || Config::default().max_in_flight.to_string(),
        env: Some("AIRES_MAX_IN_FLIGHT"),
    },
    OptionSpec {
        name: "send_timeout",
        unit: Unit::Duration,
        default: || ms(Config::default().send_timeout),
        env: Some("AIRES_SEND_TIMEOUT_MS"),
    },
    OptionSpec {
        name: "shutdown_timeout",
        unit: Unit::Duration,
        default: || ms(Config::default().shutdown_timeout),
        env: None,
    },
    OptionSpec {
        name: "spool_dir",
        unit: Unit::Text,
        default: none,
        env: Some("AIRES_SPOOL_DIR"),
    },
    OptionSpec {
        name: "spool_max_bytes",
        unit: Unit::Bytes,
        default: || crate::SpoolConfig::new("").max_bytes.to_string(),
        env: Some("AIRES_SPOOL_MAX_BYTES"),
    },
    OptionSpec {
        name: "env_overrides",
        unit: Unit::Flag,
        default: || Config::default().env_overrides.to_string(),
        env: None,
    },
    OptionSpec {
        name: "transport",
        unit: Unit::Text,
        default: || "default".into(),
        env: None,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_defaults() {
        let find = |name: &str| OPTIONS.iter().find(|o| o.name == name).unwrap();
        assert_eq!((find("max_in_flight").default)(), "64");
        assert_eq!((find("batch_timeout").default)(), "500");
        assert_eq!((find("level").default)(), "info");
        assert_eq!(find("batch_timeout").js_name(), "batchTimeoutMs");
        assert_eq!(find("spool_max_bytes").js_name(), "spoolMaxBytes");
        assert_eq!(
            (find("spool_max_bytes").default)(),
            (64u64 << 20).to_string()
        );
    }

    #[test]
    fn every_environment_variable_named_is_one_the_core_reads() {
        for option in OPTIONS {
            let Some(env) = option.env else { continue };
            // A value the variable's parser refuses: the error names it.
            let error = Config::new("x")
                .apply_env(|name| (name == env).then(|| "\u{0}not a value".to_string()))
                .map(|_| ());
            let accepts_any_text = matches!(option.unit, Unit::Text)
                && env != "AIRES_LEVEL"
                && env != "AIRES_OVERFLOW";
            if !accepts_any_text {
                let error = error.expect_err(env).to_string();
                assert!(error.contains(env), "{env}: {error}");
            }
        }
    }
}
