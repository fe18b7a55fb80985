//! Severity levels and the two-stage level check that runs before an event is
//! built: a compile-time ceiling, then one relaxed atomic load.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, Ordering};

/// How severe an event is. Ordered from least to most severe, so
/// `Level::Warn > Level::Info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Level {
    /// Very detailed diagnostics, usually off.
    Trace = 1,
    /// Diagnostics useful while developing.
    Debug = 2,
    /// Normal operation worth recording.
    Info = 3,
    /// Something unexpected that the application handled.
    Warn = 4,
    /// An operation failed.
    Error = 5,
    /// The application cannot continue. Recording it does not abort.
    Fatal = 6,
}

impl Level {
    /// All levels, least severe first.
    pub const ALL: [Level; 6] = [
        Level::Trace,
        Level::Debug,
        Level::Info,
        Level::Warn,
        Level::Error,
        Level::Fatal,
    ];

    /// Lower-case name, as stored in ClickHouse and printed by the stdout
    /// transport.
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }

    /// The `aires.v1.Severity` number of this level.
    pub const fn as_proto(self) -> i32 {
        self as i32
    }

    const fn from_u8(value: u8) -> Option<Level> {
        match value {
            1 => Some(Level::Trace),
            2 => Some(Level::Debug),
            3 => Some(Level::Info),
            4 => Some(Level::Warn),
            5 => Some(Level::Error),
            6 => Some(Level::Fatal),
            _ => None,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error returned when a level name does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown level {0:?}: expected one of trace, debug, info, warn, error, fatal, off")]
pub struct ParseLevelError(String);

impl FromStr for Level {
    type Err = ParseLevelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match LevelFilter::from_str(s)? {
            LevelFilter(0) | LevelFilter(OFF) => Err(ParseLevelError(s.to_owned())),
            LevelFilter(n) => Ok(Level::from_u8(n).expect("filter holds a level")),
        }
    }
}

const OFF: u8 = 7;

/// The least severe level that is let through, or nothing at all ([`LevelFilter::OFF`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LevelFilter(u8);

impl LevelFilter {
    /// Lets every event through.
    pub const TRACE: LevelFilter = LevelFilter(Level::Trace as u8);
    /// Debug and more severe.
    pub const DEBUG: LevelFilter = LevelFilter(Level::Debug as u8);
    /// Info and more severe.
    pub const INFO: LevelFilter = LevelFilter(Level::Info as u8);
    /// Warn and more severe.
    pub const WARN: LevelFilter = LevelFilter(Level::Warn as u8);
    /// Error and fatal.
    pub const ERROR: LevelFilter = LevelFilter(Level::Error as u8);
    /// Fatal only.
    pub const FATAL: LevelFilter = LevelFilter(Level::Fatal as u8);
    /// Lets nothing through.
    pub const OFF: LevelFilter = LevelFilter(OFF);

    /// Whether an event at `level` passes this filter.
    #[inline(always)]
    pub const fn allows(self, level: Level) -> bool {
        level as u8 >= self.0
    }

    /// The least severe level let through, or `None` for [`LevelFilter::OFF`].
    pub const fn min_level(self) -> Option<Level> {
        Level::from_u8(self.0)
    }
}

impl From<Level> for LevelFilter {
    fn from(level: Level) -> Self {
        LevelFilter(level as u8)
    }
}

impl FromStr for LevelFilter {
    type Err = ParseLevelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let level = match s.trim().to_ascii_lowercase().as_str() {
            "trace" => Level::Trace,
            "debug" => Level::Debug,
            "info" => Level::Info,
            "warn" | "warning" => Level::Warn,
            "error" => Level::Error,
            "fatal" | "critical" => Level::Fatal,
            "off" | "none" => return Ok(LevelFilter::OFF),
            _ => return Err(ParseLevelError(s.to_owned())),
        };
        Ok(level.into())
    }
}

impl fmt::Display for LevelFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.min_level() {
            Some(level) => level.fmt(f),
            None => f.write_str("off"),
        }
    }
}

/// The most verbose level compiled into call sites, chosen with the crate's
/// `max_level_*` / `release_max_level_*` features (default: everything).
/// Call sites below it are removed by the compiler.
pub const STATIC_MAX_LEVEL: LevelFilter = static_max_level();

const fn static_max_level() -> LevelFilter {
    if cfg!(not(debug_assertions)) {
        if cfg!(feature = "release_max_level_trace") {
            return LevelFilter::TRACE;
        } else if cfg!(feature = "release_max_level_debug") {
            return LevelFilter::DEBUG;
        } else if cfg!(feature = "release_max_level_info") {
            return LevelFilter::INFO;
        } else if cfg!(feature = "release_max_level_warn") {
            return LevelFilter::WARN;
        } else if cfg!(feature = "release_max_level_error") {
            return LevelFilter::ERROR;
        } else if cfg!(feature = "release_max_level_off") {
            return LevelFilter::OFF;
        }
    }
    if cfg!(feature = "max_level_trace") {
        LevelFilter::TRACE
    } else if cfg!(feature = "max_level_debug") {
        LevelFilter::DEBUG
    } else if cfg!(feature = "max_level_info") {
        LevelFilter::INFO
    } else if cfg!(feature = "max_level_warn") {
        LevelFilter::WARN
    } else if cfg!(feature = "max_level_error") {
        LevelFilter::ERROR
    } else if cfg!(feature = "max_level_off") {
        LevelFilter::OFF
    } else {
        LevelFilter::TRACE
    }
}

/// The process-wide runtime filter used by the macros.
///
/// While no global pipeline runs (before `init`, after `shutdown`) it holds
/// [`NO_PIPELINE`], above every level: macro calls then take their cheap
/// disabled branch, evaluate nothing, and [`crate::count_filtered`] counts
/// them as emitted before init or after shutdown.
static GLOBAL_FILTER: AtomicU8 = AtomicU8::new(NO_PIPELINE);

/// The filter value meaning "no global pipeline is running".
const NO_PIPELINE: u8 = OFF + 1;

/// Whether an event at `level` would be recorded by the global pipeline: the
/// compile-time ceiling, then one relaxed atomic load. Macros call this before
/// evaluating any field.
#[inline(always)]
pub fn enabled(level: Level) -> bool {
    STATIC_MAX_LEVEL.allows(level) && level as u8 >= GLOBAL_FILTER.load(Ordering::Relaxed)
}

/// The global runtime filter (`OFF` while no pipeline runs).
pub(crate) fn global_filter() -> LevelFilter {
    LevelFilter(GLOBAL_FILTER.load(Ordering::Relaxed).min(OFF))
}

/// Whether a global pipeline is running, as far as the filter knows.
#[inline]
pub(crate) fn global_pipeline_running() -> bool {
    GLOBAL_FILTER.load(Ordering::Relaxed) != NO_PIPELINE
}

/// Marks that no global pipeline runs (see [`GLOBAL_FILTER`]).
pub(crate) fn clear_global_filter() {
    GLOBAL_FILTER.store(NO_PIPELINE, Ordering::Relaxed);
    notify_listener();
}

/// Changes the global runtime filter, for example from an admin endpoint.
pub(crate) fn set_global_filter(filter: LevelFilter) {
    GLOBAL_FILTER.store(filter.0, Ordering::Relaxed);
    notify_listener();
}

/// Told of every change of the global filter: the filter while a global
/// pipeline runs, `None` while none does.
pub type LevelListener = fn(Option<LevelFilter>);

/// The one listener (a bridge from another logging library that keeps
/// that library's own level check in step). Calls to it are serialized and
/// each reads the filter under this lock, so the last call it gets holds
/// the current state.
static LISTENER: parking_lot::Mutex<Option<LevelListener>> = parking_lot::Mutex::new(None);

/// Sets the listener told of every change of the global filter (`init`,
/// `set_level`, `shutdown`, a guard dropped), replacing any earlier one,
/// and tells it the current state at once.
pub fn set_level_listener(listener: LevelListener) {
    let mut slot = LISTENER.lock();
    *slot = Some(listener);
    listener(global_filter_state());
}

fn notify_listener() {
    let slot = LISTENER.lock();
    if let Some(listener) = *slot {
        listener(global_filter_state());
    }
}

/// In a forked child: the thread that held the listener's lock at the
/// fork does not exist there.
pub(crate) fn repair_after_fork() {
    if LISTENER.is_locked() {
        // SAFETY: only the forking thread survives a fork; no thread of
        // the child holds this lock.
        unsafe { LISTENER.force_unlock() };
    }
}

/// The global filter, or `None` while no global pipeline runs.
fn global_filter_state() -> Option<LevelFilter> {
    global_pipeline_running().then(global_filter)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The numbers are the wire format's: checked against the enum prost
    /// generates from `event.proto`, by name.
    #[test]
    fn each_level_is_its_severity_of_the_proto() {
        use aires_proto::v1::Severity;
        for level in Level::ALL {
            let expected = Severity::from_str_name(&format!(
                "SEVERITY_{}",
                level.as_str().to_ascii_uppercase()
            ))
            .unwrap_or_else(|| panic!("{level} is in event.proto"));
            assert_eq!(level.as_proto(), expected as i32, "{level}");
        }
    }

    #[test]
    fn levels_order_by_severity() {
        assert!(Level::Trace < Level::Debug);
        assert!(Level::Error < Level::Fatal);
        assert_eq!(Level::Warn.as_proto(), 4);
    }

    #[test]
    fn filter_allows_its_level_and_above() {
        assert!(LevelFilter::WARN.allows(Level::Warn));
        assert!(LevelFilter::WARN.allows(Level::Fatal));
        assert!(!LevelFilter::WARN.allows(Level::Info));
        assert!(!LevelFilter::OFF.allows(Level::Fatal));
        assert!(LevelFilter::TRACE.allows(Level::Trace));
    }

    #[test]
    fn parses_names_case_insensitively() {
        assert_eq!("WARN".parse::<LevelFilter>(), Ok(LevelFilter::WARN));
        assert_eq!(" off ".parse::<LevelFilter>(), Ok(LevelFilter::OFF));
        assert_eq!("debug".parse::<Level>(), Ok(Level::Debug));
        assert!("off".parse::<Level>().is_err());
        let err = "verbose".parse::<LevelFilter>().unwrap_err();
        assert!(err.to_string().contains("verbose"), "{err}");
    }

    #[test]
    fn display_round_trips() {
        for level in Level::ALL {
            assert_eq!(level.to_string().parse::<Level>(), Ok(level));
        }
        assert_eq!(LevelFilter::OFF.to_string(), "off");
    }
}
