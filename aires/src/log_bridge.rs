//! Records from the `log` crate as Aires events (the `log`
//! feature): for programs, and libraries they use, that log through `log`'s
//! macros.
//!
//! ```
//! use std::time::Duration;
//!
//! let memory = aires::transport::MemoryTransport::new();
//! let guard = aires::init(aires::Config::new("checkout").env_overrides(false).transport(memory.clone()))?;
//! aires::log::init()?; // once per process, like any `log` logger
//!
//! log::info!(order_id = 123, amount = 9.99, currency = "EUR"; "order placed");
//! let err = std::io::Error::other("card declined");
//! log::error!(order_id = 123, error:err = err; "payment failed");
//!
//! aires::flush(Duration::from_secs(5))?;
//! let events = memory.events();
//! assert_eq!(events[0].message, "order placed");
//! assert_eq!(events[1].error.as_ref().unwrap().message, "card declined");
//! guard.shutdown(Duration::from_secs(5))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`init`] installs a `'static` [`Logger`] as `log`'s logger. To send
//! records to other loggers as well, give [`Logger`] to a logger that
//! forwards to several (then that logger, not this module, sets
//! `log::set_max_level`).
//!
//! # Why here, and not in `aires-tracing`
//!
//! A program that logs through `log` should not need `tracing` and
//! `tracing-subscriber` to reach Aires: this bridge depends on `log` alone.
//! A program that uses `tracing` already gets `log`'s records through the
//! `aires::tracing` layer once `tracing-log`'s `LogTracer` forwards them;
//! it should not install this logger as well (`log` takes one logger, and
//! each record would otherwise be recorded through whichever was set).
//!
//! # What goes where
//!
//! | `log` | Aires |
//! |---|---|
//! | `Error`, `Warn`, `Info`, `Debug`, `Trace` | the same levels |
//! | the message (`info!("text {x}")`) | the message; a message without arguments is not copied |
//! | `n = 5`, `n = 5u64`, `x = 0.5`, `ok = true` (key-values, `log`'s `kv` feature) | i64, u64, f64, bool attributes |
//! | `name = "text"`, `c = 'x'` | a string attribute |
//! | `n = 5i128`, `n = 5u128` | an integer when it fits 64 bits, its decimal text otherwise |
//! | `p:? = value`, `a:% = value`, any other value | its `Debug` / `Display` text |
//! | `e:err = &err` (an error value: `log`'s `kv_std` feature) | the error columns: message, `source()` chain, backtrace with `RUST_BACKTRACE`, whatever the key; the type is left empty (`log` hands the error over as `&dyn Error`, its concrete type unknown); a second error value in one record is kept as its text |
//! | a `None` value | not stored |
//! | the record's file, line and module path | the call site: one `'static` call site per place in the source, shared by its records (no allocation per record for it) |
//! | the target | attribute `target`, only when it differs from the module path (the default target is the module path) |
//!
//! Keys are kept as given. Key-value names are not reserved here: a
//! `trace_id` key-value is an attribute named `trace_id`.
//!
//! # Levels and counting
//!
//! `log` checks its own maximum level before a record is built: [`init`]
//! keeps `log::set_max_level` in step with Aires' level (set by
//! [`crate::init`] from the config, then by [`crate::set_level`]), so a
//! record below it costs what `log`'s check costs and nothing more. Such a
//! record never reaches the logger, so it is not counted in
//! `events_dropped_filtered`, unlike the `aires` macros' filtered calls.
//!
//! While no pipeline runs (before [`crate::init`], after shutdown, a guard
//! dropped included) the maximum level is `Trace`, so every record reaches
//! the logger and is counted, as the macros' calls are, in
//! `events_dropped_before_init` or `events_dropped_after_shutdown`: logging
//! that starts before Aires is a mistake worth seeing in the metrics, and
//! costs only the check then. A record that reaches the logger below Aires'
//! level (another logger in front lowered the maximum, say) is counted in
//! `events_dropped_filtered`.

use std::borrow::Cow;
use std::cell::RefCell;
use std::error::Error;
use std::time::Duration;

use aires_core::sdk::Interner;
use aires_core::{CallSite, EventBuilder, Level, LevelFilter, Str, Value};
use log::kv::{Key, VisitSource, VisitValue};

/// Installs a `'static` [`Logger`] as `log`'s logger, and keeps
/// `log::set_max_level` in step with Aires' level from now on (see the
/// [module docs](self)). Fails when a logger is already installed.
///
/// ```no_run
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let _guard = aires::init(aires::Config::new("checkout"))?;
///     aires::log::init()?;
///     log::info!(order_id = 123; "order placed");
///     Ok(())
/// }
/// ```
pub fn init() -> Result<(), log::SetLoggerError> {
    static LOGGER: Logger = Logger::new();
    log::set_logger(&LOGGER)?;
    aires_core::__private::set_level_listener(follow_level);
    Ok(())
}

/// `log`'s maximum level for Aires' level: `filter` while a pipeline runs,
/// `None` while none does.
fn follow_level(filter: Option<LevelFilter>) {
    log::set_max_level(max_level_for(filter));
}

fn max_level_for(filter: Option<LevelFilter>) -> log::LevelFilter {
    let Some(filter) = filter else {
        // Let every record reach the logger, to be counted.
        return log::LevelFilter::Trace;
    };
    // The stricter of the run-time level and the compile-time ceiling.
    match filter
        .max(aires_core::__private::STATIC_MAX_LEVEL)
        .min_level()
    {
        Some(Level::Trace) => log::LevelFilter::Trace,
        Some(Level::Debug) => log::LevelFilter::Debug,
        Some(Level::Info) => log::LevelFilter::Info,
        Some(Level::Warn) => log::LevelFilter::Warn,
        Some(Level::Error) => log::LevelFilter::Error,
        // `log` has no level above Error.
        Some(Level::Fatal) | None => log::LevelFilter::Off,
    }
}

/// The logger: records `log` records as Aires events in the global
/// pipeline. [`init`] installs one; use this type to compose it with other
/// loggers.
///
/// ```
/// use log::Log;
///
/// let logger = aires::log::Logger::new();
/// // No pipeline runs here: nothing is enabled, and a record is counted.
/// assert!(!logger.enabled(&log::Metadata::builder().level(log::Level::Error).build()));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Logger {
    _private: (),
}

impl Logger {
    /// A logger.
    pub const fn new() -> Self {
        Logger { _private: () }
    }
}

fn level_of(level: log::Level) -> Level {
    match level {
        log::Level::Error => Level::Error,
        log::Level::Warn => Level::Warn,
        log::Level::Info => Level::Info,
        log::Level::Debug => Level::Debug,
        log::Level::Trace => Level::Trace,
    }
}

impl log::Log for Logger {
    /// Whether Aires' level lets `metadata`'s level through (false while
    /// no pipeline runs).
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        aires_core::__private::enabled(level_of(metadata.level()))
    }

    fn log(&self, record: &log::Record<'_>) {
        let level = level_of(record.level());
        if !aires_core::__private::enabled(level) {
            aires_core::__private::count_filtered();
            return;
        }
        let args = record.args();
        // Formatting runs the application's code: a panic there reaches
        // the caller, and the record is counted as abandoned, as the
        // macros' are.
        let abandon_on_unwind = aires_core::__private::AbandonOnUnwind::arm();
        let message: Str = match args.as_str() {
            Some(text) => Cow::Borrowed(text),
            None => Cow::Owned(args.to_string()),
        };
        abandon_on_unwind.disarm();
        aires_core::__private::dispatch_with(level, message, |builder| {
            set_call_site(builder, record);
            let target = record.target();
            if record.module_path() != Some(target) {
                builder.push_attr("target", Value::Str(Cow::Owned(target.to_owned())));
            }
            let mut pairs = Pairs {
                builder,
                has_error: false,
                position: 0,
            };
            let _ = record.key_values().visit(&mut pairs);
        });
    }

    /// Waits up to 5 seconds for everything emitted so far to be sent.
    fn flush(&self) {
        let _ = aires_core::flush(Duration::from_secs(5));
    }
}

/// The record's place in the source, as a shared `'static` call site.
fn set_call_site(builder: &mut EventBuilder, record: &log::Record<'_>) {
    let line = record.line().unwrap_or(0);
    let site = match (record.file_static(), record.module_path_static()) {
        (Some(file), Some(module)) => CallSite::cached_static(file, line, module),
        (Some(file), None) if record.module_path().is_none() => {
            CallSite::cached_static(file, line, "")
        }
        _ => {
            let Some(file) = record.file() else {
                return;
            };
            CallSite::cached_copy(file, line, record.module_path().unwrap_or(""))
        }
    };
    match site {
        Some(site) => builder.set_call_site(site),
        None => {
            if let Some(file) = record.file() {
                builder.set_call_site_owned(CallSite::new(
                    file.to_owned(),
                    line,
                    record.module_path().unwrap_or("").to_owned(),
                    "",
                ));
            }
        }
    }
}

thread_local! {
    /// Key-value keys, each distinct one copied once per process.
    static KEYS: RefCell<Interner> = RefCell::new(Interner::keys());
}

/// The key as the event's key: interned (shared, not copied per record)
/// when it is short and the table has room.
fn key_of(position: usize, key: &Key<'_>) -> Str {
    let text = key.as_str();
    KEYS.try_with(|keys| match keys.try_borrow_mut() {
        Ok(mut keys) => keys.at(position, text),
        Err(_) => Cow::Owned(text.to_owned()),
    })
    .unwrap_or_else(|_| Cow::Owned(text.to_owned()))
}

/// Writes a record's key-values into its event.
struct Pairs<'b> {
    builder: &'b mut EventBuilder,
    has_error: bool,
    position: usize,
}

impl<'kvs> VisitSource<'kvs> for Pairs<'_> {
    fn visit_pair(
        &mut self,
        key: Key<'kvs>,
        value: log::kv::Value<'kvs>,
    ) -> Result<(), log::kv::Error> {
        let mut typed = Typed {
            builder: self.builder,
            has_error: &mut self.has_error,
            value: None,
        };
        // A value that fails to visit is kept as its text.
        if value.visit(&mut typed).is_err() {
            typed.value = Some(Value::Str(Cow::Owned(value.to_string())));
        }
        if let Some(value) = typed.value {
            self.builder.push_attr(key_of(self.position, &key), value);
            self.position += 1;
        }
        Ok(())
    }
}

/// One key-value's Aires value; an error value fills the error columns.
struct Typed<'a> {
    builder: &'a mut EventBuilder,
    has_error: &'a mut bool,
    value: Option<Value>,
}

impl Typed<'_> {
    fn set(&mut self, value: impl Into<Value>) -> Result<(), log::kv::Error> {
        self.value = Some(value.into());
        Ok(())
    }

    /// The first error of a record fills the error columns, with its
    /// `source()` chain; a later one is kept as its text.
    fn error(&mut self, err: &(dyn Error + 'static)) -> Result<(), log::kv::Error> {
        if *self.has_error {
            return self.set(err.to_string());
        }
        self.builder.set_error(err);
        *self.has_error = true;
        Ok(())
    }
}

impl<'v> VisitValue<'v> for Typed<'_> {
    fn visit_any(&mut self, value: log::kv::Value<'_>) -> Result<(), log::kv::Error> {
        self.set(value.to_string())
    }

    fn visit_null(&mut self) -> Result<(), log::kv::Error> {
        Ok(())
    }

    fn visit_u64(&mut self, value: u64) -> Result<(), log::kv::Error> {
        self.set(value)
    }

    fn visit_i64(&mut self, value: i64) -> Result<(), log::kv::Error> {
        self.set(value)
    }

    fn visit_u128(&mut self, value: u128) -> Result<(), log::kv::Error> {
        match u64::try_from(value) {
            Ok(value) => self.set(value),
            Err(_) => self.set(value.to_string()),
        }
    }

    fn visit_i128(&mut self, value: i128) -> Result<(), log::kv::Error> {
        match (i64::try_from(value), u64::try_from(value)) {
            (Ok(value), _) => self.set(value),
            (_, Ok(value)) => self.set(value),
            _ => self.set(value.to_string()),
        }
    }

    fn visit_f64(&mut self, value: f64) -> Result<(), log::kv::Error> {
        self.set(value)
    }

    fn visit_bool(&mut self, value: bool) -> Result<(), log::kv::Error> {
        self.set(value)
    }

    fn visit_str(&mut self, value: &str) -> Result<(), log::kv::Error> {
        self.set(value)
    }

    fn visit_char(&mut self, value: char) -> Result<(), log::kv::Error> {
        self.set(value)
    }

    fn visit_error(&mut self, err: &(dyn Error + 'static)) -> Result<(), log::kv::Error> {
        self.error(err)
    }

    fn visit_borrowed_error(
        &mut self,
        err: &'v (dyn Error + 'static),
    ) -> Result<(), log::kv::Error> {
        self.error(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_follows_aires_level_and_lets_everything_through_without_a_pipeline() {
        assert_eq!(max_level_for(None), log::LevelFilter::Trace);
        assert_eq!(
            max_level_for(Some(LevelFilter::INFO)),
            log::LevelFilter::Info
        );
        assert_eq!(
            max_level_for(Some(LevelFilter::TRACE)),
            log::LevelFilter::Trace
        );
        assert_eq!(
            max_level_for(Some(LevelFilter::FATAL)),
            log::LevelFilter::Off
        );
        assert_eq!(max_level_for(Some(LevelFilter::OFF)), log::LevelFilter::Off);
    }
}
