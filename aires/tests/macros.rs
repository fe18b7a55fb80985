//! What the level macros record: fields with their types, formatted
//! messages, reserved keys, the call site, and the level check that comes
//! before any of it.

mod common;

use std::cell::Cell;
use std::time::Duration;

use aires::transport::MemoryTransport;
use aires::{HttpInfo, LevelFilter, SpanId, TraceId};
use aires_proto::v1::{self as proto, attribute::Value as V};
use common::{attr, global_lock, test_config};

const DEADLINE: Duration = Duration::from_secs(20);

/// Runs `body` with a fresh global pipeline and returns what it sent.
fn capture(level: LevelFilter, body: impl FnOnce()) -> Vec<proto::Event> {
    let _lock = global_lock();
    let memory = MemoryTransport::new();
    let guard = aires::init(test_config(memory.clone()).level(level)).unwrap();
    body();
    guard.shutdown(DEADLINE).unwrap();
    memory.events()
}

#[test]
fn fields_keep_their_types() {
    let owned = String::from("owned");
    let borrowed: &str = &owned;
    let events = capture(LevelFilter::TRACE, || {
        aires::info!(
            "order placed",
            order_id = 123,
            amount = 9.99,
            paid = true,
            big = u64::MAX,
            small = -5i8,
            currency = "EUR",
            owner = owned.clone(),
            view = borrowed,
            user.id = 7u32,
            "the key" = 1,
            r#type = "keyword",
        );
    });
    let e = &events[0];
    assert_eq!(e.message, "order placed");
    assert_eq!(e.severity, proto::Severity::Info as i32);
    assert_eq!(attr(e, "order_id"), Some(&V::IntValue(123)));
    assert_eq!(attr(e, "amount"), Some(&V::DoubleValue(9.99)));
    assert_eq!(attr(e, "paid"), Some(&V::BoolValue(true)));
    assert_eq!(attr(e, "big"), Some(&V::UintValue(u64::MAX)));
    assert_eq!(attr(e, "small"), Some(&V::IntValue(-5)));
    assert_eq!(attr(e, "currency"), Some(&V::StringValue("EUR".into())));
    assert_eq!(attr(e, "owner"), Some(&V::StringValue("owned".into())));
    assert_eq!(attr(e, "view"), Some(&V::StringValue("owned".into())));
    assert_eq!(attr(e, "user.id"), Some(&V::UintValue(7)));
    assert_eq!(attr(e, "the key"), Some(&V::IntValue(1)));
    assert_eq!(attr(e, "type"), Some(&V::StringValue("keyword".into())));
    let keys: Vec<&str> = e.attributes.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(keys[0], "order_id", "fields keep their order");
}

#[test]
fn messages_format_arguments_and_fields() {
    #[derive(Debug)]
    #[allow(dead_code)]
    struct Point {
        x: i32,
    }
    let name = "ada";
    let events = capture(LevelFilter::TRACE, || {
        aires::info!("user {} logged in from {}", name, "home", attempts = 3);
        aires::info!("order {order_id} for {name}", order_id = 42);
        aires::info!("shown {}", 1, point = ?Point { x: 1 }, addr = %std::net::Ipv4Addr::LOCALHOST);
        aires::info!("braces {{literal}}");
        aires::info!(
            "to {path}",
            path = "/api",
            trace_id = aires::TraceId::from_int(7),
            n = 1
        );
    });
    assert_eq!(events[0].message, "user ada logged in from home");
    assert_eq!(attr(&events[0], "attempts"), Some(&V::IntValue(3)));
    assert_eq!(events[1].message, "order 42 for ada");
    assert_eq!(attr(&events[1], "order_id"), Some(&V::IntValue(42)));
    assert_eq!(
        attr(&events[2], "point"),
        Some(&V::StringValue("Point { x: 1 }".into()))
    );
    assert_eq!(
        attr(&events[2], "addr"),
        Some(&V::StringValue("127.0.0.1".into()))
    );
    assert_eq!(events[3].message, "braces {literal}");
    // A literal value named in the message, beside a reserved key: both
    // kept, the fields in their order.
    assert_eq!(events[4].message, "to /api");
    let keys: Vec<&str> = events[4]
        .attributes
        .iter()
        .map(|a| a.key.as_str())
        .collect();
    assert_eq!(keys, ["path", "n"]);
    assert_eq!(
        attr(&events[4], "path"),
        Some(&V::StringValue("/api".into()))
    );
    assert!(!events[4].trace_id.is_empty());
}

#[test]
fn reserved_keys_set_ids_tags_http_and_error() {
    #[derive(Debug)]
    struct Declined(std::io::Error);
    impl std::fmt::Display for Declined {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("card declined")
        }
    }
    impl std::error::Error for Declined {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    let trace = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
    let err = Declined(std::io::Error::other("gateway timeout"));
    let events = capture(LevelFilter::TRACE, || {
        aires::error!(
            "payment failed",
            trace_id = trace,
            span_id = SpanId::from_hex("00f067aa0ba902b7").ok(),
            session_id = "s-1",
            tags = ["checkout", "payments"],
            http = HttpInfo::new("POST", "/pay")
                .status(502)
                .duration(Duration::from_millis(31)),
            error = &err,
            "error" = "a plain attribute",
        );
    });
    let e = &events[0];
    assert_eq!(e.trace_id.as_ref(), trace.to_bytes());
    assert_eq!(
        e.span_id.as_ref(),
        [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]
    );
    assert_eq!(e.session_id, "s-1");
    assert_eq!(e.tags, ["checkout", "payments"]);
    let http = e.http.as_ref().unwrap();
    assert_eq!(
        (http.method.as_str(), http.route.as_str(), http.status_code),
        ("POST", "/pay", 502)
    );
    assert_eq!(http.duration_nanos, 31_000_000);
    let error = e.error.as_ref().unwrap();
    assert!(error.r#type.ends_with("Declined"), "{}", error.r#type);
    assert_eq!(error.message, "card declined");
    assert_eq!(error.chain, ["gateway timeout"]);
    assert_eq!(
        attr(e, "error"),
        Some(&V::StringValue("a plain attribute".into()))
    );
}

#[test]
fn every_level_macro_records_its_level() {
    let events = capture(LevelFilter::TRACE, || {
        aires::trace!("t");
        aires::debug!("d");
        aires::info!("i");
        aires::warn!("w");
        aires::error!("e");
        aires::fatal!("f");
    });
    let levels: Vec<i32> = events.iter().map(|e| e.severity).collect();
    assert_eq!(levels, [1, 2, 3, 4, 5, 6]);
}

#[test]
fn the_call_site_is_the_macro_invocation() {
    let mut expected_line = 0;
    let events = capture(LevelFilter::TRACE, || {
        expected_line = line!() + 1;
        aires::info!("here");
    });
    let site = events[0].call_site.as_ref().unwrap();
    assert_eq!(site.file, file!());
    assert_eq!(site.line, expected_line);
    assert_eq!(site.module, module_path!());
}

#[test]
fn filtered_calls_evaluate_nothing_and_are_counted() {
    let evaluated = Cell::new(0);
    let touch = || {
        evaluated.set(evaluated.get() + 1);
        1
    };
    let before = aires::metrics().events_dropped_filtered;
    let events = capture(LevelFilter::WARN, || {
        aires::debug!("hidden {}", touch(), field = touch());
        aires::info!("hidden", field = touch());
        aires::warn!("shown", field = touch());
    });
    assert_eq!(evaluated.get(), 1, "only the warn! arguments run");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].message, "shown");
    assert_eq!(aires::metrics().events_dropped_filtered - before, 2);
}

#[test]
fn the_level_can_change_at_run_time() {
    let events = capture(LevelFilter::ERROR, || {
        aires::info!("dropped");
        aires::set_level(LevelFilter::INFO);
        aires::info!("kept");
    });
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].message, "kept");
}

/// A field type whose conversion into a value panics.
struct Explosive;

impl From<Explosive> for aires::Value {
    fn from(_: Explosive) -> aires::Value {
        panic!("conversion failed")
    }
}

#[test]
fn a_panicking_field_conversion_drops_only_that_event_and_counts_it() {
    let _lock = global_lock();
    let memory = MemoryTransport::new();
    let guard = aires::init(test_config(memory.clone())).unwrap();
    aires::info!("before", n = 1);
    let unwound = std::panic::catch_unwind(|| aires::info!("exploding", bad = Explosive));
    assert!(
        unwound.is_err(),
        "the conversion's panic reaches the caller"
    );
    aires::info!("after", n = 2);
    aires::flush(DEADLINE).unwrap();
    let metrics = aires::metrics();
    guard.shutdown(DEADLINE).unwrap();
    let messages: Vec<String> = memory.events().into_iter().map(|e| e.message).collect();
    assert_eq!(messages, ["before", "after"]);
    assert_eq!(metrics.events_dropped_abandoned, 1);
    assert_eq!(metrics.events_dropped(), 1);
}

/// A type whose `Display` panics, as a buggy formatter does.
struct BadDisplay;

impl std::fmt::Display for BadDisplay {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("display failed")
    }
}

#[test]
fn a_panic_in_a_display_field_or_a_format_argument_is_counted_as_abandoned() {
    let _lock = global_lock();
    let memory = MemoryTransport::new();
    let guard = aires::init(test_config(memory.clone())).unwrap();
    let field = std::panic::catch_unwind(|| aires::info!("display field", bad = %BadDisplay));
    let debug = std::panic::catch_unwind(|| aires::info!("message {}", BadDisplay, n = 1));
    assert!(field.is_err() && debug.is_err());
    aires::info!("after");
    aires::flush(DEADLINE).unwrap();
    let metrics = aires::metrics();
    guard.shutdown(DEADLINE).unwrap();
    let messages: Vec<String> = memory.events().into_iter().map(|e| e.message).collect();
    assert_eq!(messages, ["after"]);
    assert_eq!(metrics.events_dropped_abandoned, 2);
    assert_eq!(metrics.events_dropped(), 2);
}

/// A field type whose conversion logs an event of its own.
struct Chatty;

impl From<Chatty> for aires::Value {
    fn from(_: Chatty) -> aires::Value {
        aires::warn!("converting a field", nested = true);
        aires::Value::from_static("converted")
    }
}

#[test]
fn a_field_conversion_that_logs_delivers_both_events() {
    let events = capture(LevelFilter::INFO, || {
        aires::info!("outer", field = Chatty);
    });
    let messages: Vec<&str> = events.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages.contains(&"outer") && messages.contains(&"converting a field"));
    let outer = events.iter().find(|e| e.message == "outer").unwrap();
    assert_eq!(
        attr(outer, "field"),
        Some(&V::StringValue("converted".into()))
    );
}

/// A field whose conversion logs an event whose own field's conversion
/// logs again: conversions run while the event is built in its slot.
struct Nested(u32);

impl From<Nested> for aires::Value {
    fn from(nested: Nested) -> aires::Value {
        if nested.0 > 0 {
            aires::info!("nested", depth = Nested(nested.0 - 1));
        }
        aires::Value::from(nested.0)
    }
}

#[test]
fn logging_from_inside_a_field_three_levels_deep_does_not_hang() {
    let events = capture(LevelFilter::INFO, || {
        // On a thread, so a hang fails the test instead of stalling it.
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            aires::info!("outer", depth = Nested(3));
            let _ = done.send(());
        });
        finished
            .recv_timeout(DEADLINE)
            .expect("logging from inside a field's conversion hung");
    });
    let nested = events.iter().filter(|e| e.message == "nested").count();
    assert_eq!(nested, 3, "every level's event arrives");
    assert!(events.iter().any(|e| e.message == "outer"));
}
