//! The `log` bridge (`aires::log`): key-values with their types, the
//! message, the target, the call site, error values, the levels, `log`'s
//! maximum level following Aires', and the counting of records no pipeline
//! hears.

mod common;

use std::time::Duration;

use aires::transport::MemoryTransport;
use aires::LevelFilter;
use aires_proto::v1::{self as proto, attribute::Value as V};
use common::{attr, global_lock, test_config};
use log::Log;

const DEADLINE: Duration = Duration::from_secs(20);

/// Installs the bridge (once per process: `log` takes one logger).
fn install() {
    let _ = aires::log::init();
}

/// Runs `body` with a fresh global pipeline at `level` and the bridge
/// installed, and returns what it sent.
fn capture(level: LevelFilter, body: impl FnOnce()) -> Vec<proto::Event> {
    let _lock = global_lock();
    install();
    let memory = MemoryTransport::new();
    let guard = aires::init(test_config(memory.clone()).level(level)).unwrap();
    body();
    guard.shutdown(DEADLINE).unwrap();
    memory.events()
}

fn s(text: &str) -> V {
    V::StringValue(text.into())
}

#[derive(Debug)]
#[allow(dead_code)]
struct Point {
    x: i32,
}

#[test]
fn key_values_keep_their_types() {
    let owned = String::from("owned text");
    let events = capture(LevelFilter::TRACE, || {
        log::info!(
            int = -5,
            uint = u64::MAX,
            float = 9.99,
            yes = true,
            literal = "EUR",
            borrowed = owned.as_str(),
            letter = 'x',
            i128_small = -3i128,
            i128_wide = i128::MIN,
            u128_small = 12u128,
            u128_wide = u128::MAX,
            point:? = Point { x: 1 },
            addr:% = std::net::Ipv4Addr::LOCALHOST,
            missing = None::<i32>;
            "kv"
        );
    });
    let e = &events[0];
    assert_eq!(e.message, "kv");
    assert_eq!(attr(e, "int"), Some(&V::IntValue(-5)));
    assert_eq!(attr(e, "uint"), Some(&V::UintValue(u64::MAX)));
    assert_eq!(attr(e, "float"), Some(&V::DoubleValue(9.99)));
    assert_eq!(attr(e, "yes"), Some(&V::BoolValue(true)));
    assert_eq!(attr(e, "literal"), Some(&s("EUR")));
    assert_eq!(attr(e, "borrowed"), Some(&s("owned text")));
    assert_eq!(attr(e, "letter"), Some(&s("x")));
    assert_eq!(attr(e, "i128_small"), Some(&V::IntValue(-3)));
    assert_eq!(attr(e, "i128_wide"), Some(&s(&i128::MIN.to_string())));
    assert_eq!(attr(e, "u128_small"), Some(&V::UintValue(12)));
    assert_eq!(attr(e, "u128_wide"), Some(&s(&u128::MAX.to_string())));
    assert_eq!(attr(e, "point"), Some(&s("Point { x: 1 }")));
    assert_eq!(attr(e, "addr"), Some(&s("127.0.0.1")));
    assert_eq!(attr(e, "missing"), None, "a None is not stored");
    let keys: Vec<&str> = e.attributes.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(keys.len(), 13);
    assert_eq!(keys[0], "int", "key-values keep their order");
}

#[test]
fn messages_levels_target_and_call_site() {
    let mut lines = Vec::new();
    let user = "ada";
    let events = capture(LevelFilter::TRACE, || {
        lines.push(line!() + 1);
        log::error!("user {user} failed");
        lines.push(line!() + 1);
        log::warn!(target: "payments", "w");
        log::info!("i");
        log::debug!("d");
        log::trace!("t");
    });
    use proto::Severity as S;
    let severities: Vec<i32> = events.iter().map(|e| e.severity).collect();
    assert_eq!(
        severities,
        [S::Error, S::Warn, S::Info, S::Debug, S::Trace].map(|s| s as i32)
    );
    assert_eq!(events[0].message, "user ada failed");
    for (event, line) in events.iter().zip(&lines) {
        let site = event.call_site.as_ref().expect("a call site");
        assert_eq!(
            (site.file.as_str(), site.line, site.module.as_str()),
            (file!(), *line, module_path!())
        );
    }
    assert_eq!(attr(&events[0], "target"), None, "the default target");
    assert_eq!(attr(&events[1], "target"), Some(&s("payments")));
}

/// An error with a cause, to check that the chain is stored.
#[derive(Debug)]
struct Declined(std::io::Error);

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

#[test]
fn an_error_value_fills_the_error_columns_with_its_chain() {
    let events = capture(LevelFilter::TRACE, || {
        let err = Declined(std::io::Error::other("gateway timeout"));
        let second = std::io::Error::other("second");
        log::error!(cause:err = err, also:err = second, order_id = 7; "payment failed");
    });
    let e = &events[0];
    let error = e.error.as_ref().expect("error columns");
    assert_eq!(error.message, "payment declined");
    assert_eq!(error.chain, ["gateway timeout"]);
    // `log` hands the error over as `&dyn Error`: its type is unknown, and
    // "dyn core::error::Error" would name every error alike.
    assert_eq!(error.r#type, "");
    assert_eq!(attr(e, "cause"), None, "not an attribute as well");
    assert_eq!(
        attr(e, "also"),
        Some(&s("second")),
        "a second error is text"
    );
    assert_eq!(attr(e, "order_id"), Some(&V::IntValue(7)));
}

#[test]
fn logs_maximum_level_follows_aires_level() {
    let _lock = global_lock();
    install();
    assert_eq!(log::max_level(), log::LevelFilter::Trace, "no pipeline");
    let memory = MemoryTransport::new();
    let guard = aires::init(test_config(memory.clone()).level(LevelFilter::INFO)).unwrap();
    assert_eq!(log::max_level(), log::LevelFilter::Info, "from the config");
    log::debug!("below");
    assert!(aires::set_level(LevelFilter::DEBUG));
    assert_eq!(log::max_level(), log::LevelFilter::Debug);
    log::debug!("now heard");
    assert!(aires::set_level(LevelFilter::FATAL));
    assert_eq!(log::max_level(), log::LevelFilter::Off);
    assert!(aires::set_level(LevelFilter::WARN));
    assert_eq!(log::max_level(), log::LevelFilter::Warn);
    let filtered = aires::metrics().events_dropped_filtered;
    log::info!("stopped by log's own check");
    assert_eq!(
        aires::metrics().events_dropped_filtered,
        filtered,
        "log's check stops it before the logger: not counted"
    );
    // A record that reaches the logger below Aires' level is counted.
    let record = log::Record::builder()
        .level(log::Level::Info)
        .args(format_args!("handed over directly"))
        .build();
    aires::log::Logger::new().log(&record);
    assert_eq!(aires::metrics().events_dropped_filtered, filtered + 1);
    guard.shutdown(DEADLINE).unwrap();
    assert_eq!(
        log::max_level(),
        log::LevelFilter::Trace,
        "a guard shutting down lets records through to be counted"
    );
    let messages: Vec<String> = memory.events().into_iter().map(|e| e.message).collect();
    assert_eq!(messages, ["now heard"]);
}

#[test]
fn enabled_follows_aires_level() {
    let _lock = global_lock();
    let logger = aires::log::Logger::new();
    let at = |level| log::Metadata::builder().level(level).build();
    assert!(!logger.enabled(&at(log::Level::Error)), "no pipeline");
    let guard = aires::init(test_config(MemoryTransport::new()).level(LevelFilter::WARN)).unwrap();
    assert!(logger.enabled(&at(log::Level::Warn)));
    assert!(!logger.enabled(&at(log::Level::Info)));
    guard.shutdown(DEADLINE).unwrap();
}

/// A value whose formatting panics.
struct Panics;

impl std::fmt::Debug for Panics {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("formatting failed")
    }
}

#[test]
fn a_panic_in_the_message_or_a_value_reaches_the_caller_and_the_record_is_counted() {
    let _lock = global_lock();
    install();
    let memory = MemoryTransport::new();
    let guard = aires::init(test_config(memory.clone())).unwrap();
    let before = aires::metrics().events_dropped_abandoned;
    for record in [
        &(|| log::info!("value {:?}", Panics)) as &dyn Fn(),
        &|| log::info!(p:? = Panics; "in a key-value"),
    ] {
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(record));
        assert!(unwound.is_err(), "the panic reaches the caller");
    }
    log::info!("after");
    guard.shutdown(DEADLINE).unwrap();
    let messages: Vec<_> = memory.events().into_iter().map(|e| e.message).collect();
    assert_eq!(messages, ["after"]);
    assert_eq!(aires::metrics().events_dropped_abandoned - before, 2);
}

#[test]
fn records_with_no_pipeline_are_counted() {
    // Not `global_lock()`: its shutdown would make these "after shutdown".
    let _lock = common::global_lock_untouched();
    install();
    let unheard =
        |m: aires::Metrics| m.events_dropped_before_init + m.events_dropped_after_shutdown;
    let before = aires::metrics();
    log::trace!("nobody listens");
    log::error!(n = 1; "nor here");
    let after = aires::metrics();
    assert_eq!(unheard(after) - unheard(before), 2);
    if std::env::var_os("NEXTEST").is_some() {
        // One process per test: no pipeline has ever run in this one.
        assert_eq!(
            after.events_dropped_before_init - before.events_dropped_before_init,
            2
        );
    }
}
