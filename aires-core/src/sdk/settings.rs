//! The shared `init` options as one struct, and their translation into a
//! [`Config`]: each binding collects them in its language's way (Python
//! keyword arguments in seconds, a JavaScript object in milliseconds),
//! converts durations, and hands them here, so the rules (which options
//! need which, what a name means) are written once.

use std::path::PathBuf;
use std::time::Duration;

use super::TransportChoice;
use crate::config::{Config, OverflowPolicy};
use crate::level::LevelFilter;
use crate::spool::SpoolConfig;

/// The options of [`super::OPTIONS`], each `None` when not given (the
/// core's default then holds, and `AIRES_*` variables may override it).
#[derive(Clone, Debug, Default)]
#[allow(missing_docs)] // each field is the option of the same name in OPTIONS
pub struct Settings {
    pub service: Option<String>,
    pub environment: Option<String>,
    pub endpoint: Option<String>,
    pub level: Option<String>,
    pub batch_size: Option<usize>,
    pub batch_timeout: Option<Duration>,
    pub max_batch_bytes: Option<usize>,
    pub queue_capacity: Option<usize>,
    pub overflow: Option<String>,
    pub block_timeout: Option<Duration>,
    pub overflow_max_bytes: Option<usize>,
    pub retry_max_elapsed: Option<Duration>,
    pub max_in_flight: Option<usize>,
    pub send_timeout: Option<Duration>,
    pub shutdown_timeout: Option<Duration>,
    pub spool_dir: Option<PathBuf>,
    pub spool_max_bytes: Option<u64>,
    pub env_overrides: Option<bool>,
    pub transport: Option<String>,
}

/// How a binding's users write an option, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spelling {
    /// `block_timeout`, `overflow="block"`.
    Python,
    /// `blockTimeoutMs`, `overflow: 'block'`.
    JavaScript,
}

impl Spelling {
    /// The option's name.
    pub fn name(self, option: &str) -> String {
        match self {
            Spelling::Python => option.to_owned(),
            Spelling::JavaScript => super::OPTIONS
                .iter()
                .find(|o| o.name == option)
                .map_or_else(|| super::camel_case(option), |o| o.js_name()),
        }
    }

    /// The option set to a text value.
    pub fn setting(self, option: &str, value: &str) -> String {
        match self {
            Spelling::Python => format!("{option}=\"{value}\""),
            Spelling::JavaScript => format!("{}: '{value}'", self.name(option)),
        }
    }
}

impl Settings {
    /// The config and the transport these settings ask for (before the
    /// `AIRES_*` overrides, which apply when the pipeline starts), or what
    /// is wrong with them, with the options spelled as the binding's users
    /// write them.
    pub fn to_config(&self, spelling: Spelling) -> Result<(Config, TransportChoice), String> {
        let name = |option: &str| spelling.name(option);
        let mut config = Config::default();
        if let Some(v) = &self.service {
            config.service = v.clone();
        }
        if let Some(v) = &self.environment {
            config.environment = v.clone();
        }
        if let Some(v) = &self.endpoint {
            config.endpoint = Some(v.clone());
        }
        if let Some(v) = &self.level {
            config.level = v
                .parse::<LevelFilter>()
                .map_err(|e| format!("{}: {e}", name("level")))?;
        }
        if let Some(v) = self.batch_size {
            config.batch_size = v;
        }
        if let Some(v) = self.batch_timeout {
            config.batch_timeout = v;
        }
        if let Some(v) = self.max_batch_bytes {
            config.max_batch_bytes = v;
        }
        if let Some(v) = self.queue_capacity {
            config.queue_capacity = v;
        }
        let overflow = self.overflow.as_deref();
        // An option of one policy given with another is a mistake.
        for (option, given, policy) in [
            ("block_timeout", self.block_timeout.is_some(), "block"),
            (
                "overflow_max_bytes",
                self.overflow_max_bytes.is_some(),
                "grow",
            ),
        ] {
            if given && overflow != Some(policy) {
                return Err(format!(
                    "{} needs {}",
                    name(option),
                    spelling.setting("overflow", policy)
                ));
            }
        }
        config.overflow = match overflow {
            None | Some("drop") => OverflowPolicy::DropNewest,
            // No timeout unless one is asked for: `block` loses nothing.
            Some("block") => match self.block_timeout {
                None => OverflowPolicy::Block,
                Some(timeout) => OverflowPolicy::BlockFor(timeout),
            },
            Some("grow") => match self.overflow_max_bytes {
                Some(0) => return Err(format!("{} must be positive", name("overflow_max_bytes"))),
                given => OverflowPolicy::Grow {
                    max_bytes: given.unwrap_or(OverflowPolicy::DEFAULT_GROW_BYTES),
                },
            },
            Some(other) => {
                return Err(match spelling {
                    Spelling::Python => {
                        format!("overflow must be \"drop\", \"block\" or \"grow\", got {other:?}")
                    }
                    Spelling::JavaScript => {
                        format!("overflow must be 'drop', 'block' or 'grow'; got {other:?}")
                    }
                });
            }
        };
        if let Some(v) = self.retry_max_elapsed {
            config.retry.max_elapsed = v;
        }
        if let Some(v) = self.max_in_flight {
            config.max_in_flight = v;
        }
        if let Some(v) = self.send_timeout {
            config.send_timeout = v;
        }
        if let Some(v) = self.shutdown_timeout {
            config.shutdown_timeout = v;
        }
        config.spool = match (&self.spool_dir, self.spool_max_bytes) {
            (Some(dir), max_bytes) => {
                let mut spool = SpoolConfig::new(dir);
                spool.max_bytes = max_bytes.unwrap_or(spool.max_bytes);
                Some(spool)
            }
            (None, Some(_)) => {
                return Err(format!(
                    "{} needs {}",
                    name("spool_max_bytes"),
                    name("spool_dir")
                ));
            }
            (None, None) => None,
        };
        if let Some(v) = self.env_overrides {
            config.env_overrides = v;
        }
        let transport = match self.transport.as_deref() {
            None => TransportChoice::Default,
            Some(choice) => {
                TransportChoice::parse(choice).map_err(|e| format!("{}: {e}", name("transport")))?
            }
        };
        // Asking for gRPC by name without anywhere to send it is a mistake;
        // the default quietly prints to stdout instead. (The endpoint may
        // come from AIRES_ENDPOINT: the config reads it, once.)
        let no_endpoint = || {
            config
                .clone()
                .resolve()
                // A bad variable is reported by the start itself.
                .is_ok_and(|resolved| resolved.endpoint.is_none())
        };
        if self.transport.as_deref() == Some("grpc") && config.endpoint.is_none() && no_endpoint() {
            return Err(format!(
                "{} needs an {}",
                spelling.setting("transport", "grpc"),
                name("endpoint")
            ));
        }
        Ok((config, transport))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_become_the_config_and_the_rules_name_the_options_as_given() {
        let settings = Settings {
            service: Some("api".into()),
            overflow: Some("block".into()),
            block_timeout: Some(Duration::from_millis(250)),
            spool_dir: Some("/tmp/spool".into()),
            transport: Some("memory".into()),
            ..Settings::default()
        };
        let (config, transport) = settings.to_config(Spelling::Python).unwrap();
        assert_eq!(config.service, "api");
        assert_eq!(
            config.overflow,
            OverflowPolicy::BlockFor(Duration::from_millis(250))
        );
        assert_eq!(config.spool.unwrap().max_bytes, 64 << 20);
        assert_eq!(transport, TransportChoice::Memory);

        let lonely = Settings {
            block_timeout: Some(Duration::from_secs(1)),
            ..Settings::default()
        };
        assert_eq!(
            lonely.to_config(Spelling::JavaScript).unwrap_err(),
            "blockTimeoutMs needs overflow: 'block'"
        );
        let grow = Settings {
            overflow: Some("grow".into()),
            ..Settings::default()
        };
        assert_eq!(
            grow.to_config(Spelling::Python).unwrap().0.overflow,
            OverflowPolicy::grow()
        );
        let budget = Settings {
            overflow: Some("grow".into()),
            overflow_max_bytes: Some(1 << 20),
            ..Settings::default()
        };
        assert_eq!(
            budget.to_config(Spelling::Python).unwrap().0.overflow,
            OverflowPolicy::Grow { max_bytes: 1 << 20 }
        );
        for (settings, python, javascript) in [
            (
                Settings {
                    overflow_max_bytes: Some(1 << 20),
                    ..Settings::default()
                },
                "overflow_max_bytes needs overflow=\"grow\"",
                "overflowMaxBytes needs overflow: 'grow'",
            ),
            (
                Settings {
                    overflow: Some("grow".into()),
                    overflow_max_bytes: Some(0),
                    ..Settings::default()
                },
                "overflow_max_bytes must be positive",
                "overflowMaxBytes must be positive",
            ),
            (
                Settings {
                    overflow: Some("grow".into()),
                    block_timeout: Some(Duration::from_secs(1)),
                    ..Settings::default()
                },
                "block_timeout needs overflow=\"block\"",
                "blockTimeoutMs needs overflow: 'block'",
            ),
        ] {
            assert_eq!(settings.to_config(Spelling::Python).unwrap_err(), python);
            assert_eq!(
                settings.to_config(Spelling::JavaScript).unwrap_err(),
                javascript
            );
        }
        let bad = Settings {
            level: Some("loud".into()),
            ..Settings::default()
        };
        assert!(bad
            .to_config(Spelling::Python)
            .unwrap_err()
            .starts_with("level: "));
        let grpc = Settings {
            transport: Some("grpc".into()),
            env_overrides: Some(false),
            ..Settings::default()
        };
        assert_eq!(
            grpc.to_config(Spelling::Python).unwrap_err(),
            "transport=\"grpc\" needs an endpoint"
        );
    }
}
