//! What the layer records of `tracing`'s events, through the real global
//! pipeline into the in-memory transport: fields with their types, the
//! message, levels, the call site and target, errors, the reserved names,
//! spans, filters beside other layers, and the counting of what Aires
//! drops.

mod common;

use std::cell::Cell;
use std::fmt;

use aires::transport::MemoryTransport;
use aires::LevelFilter as AiresLevel;
use aires_proto::v1::{self as proto, attribute::Value as V};
use common::*;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{registry, Layer, Registry};

/// Runs `body` under a subscriber made of `layer` alone, with a fresh
/// global pipeline at `level`, and returns what was sent.
fn capture_with<L>(level: AiresLevel, layer: L, body: impl FnOnce()) -> Vec<proto::Event>
where
    L: Layer<Registry> + Send + Sync + 'static,
{
    let _lock = global_lock();
    let memory = MemoryTransport::new();
    let guard = aires::init(test_config(&memory).level(level)).unwrap();
    tracing::subscriber::with_default(registry().with(layer), body);
    guard.shutdown(DEADLINE).unwrap();
    memory.events()
}

fn capture(body: impl FnOnce()) -> Vec<proto::Event> {
    capture_with(AiresLevel::TRACE, aires_tracing::layer(), body)
}

#[derive(Debug)]
#[allow(dead_code)]
struct Point {
    x: i32,
}

#[test]
fn every_field_type_keeps_its_type() {
    let owned = String::from("owned text");
    let events = capture(|| {
        tracing::info!(
            int = -5i64,
            small = 7i32,
            uint = u64::MAX,
            float = 9.99,
            yes = true,
            literal = "EUR",
            borrowed = owned.as_str(),
            point = ?Point { x: 1 },
            addr = %std::net::Ipv4Addr::LOCALHOST,
            i128_small = -3i128,
            i128_wide = i128::MIN,
            u128_small = 12u128,
            u128_wide = u128::MAX,
            user.id = 42u32,
            "fields"
        );
    });
    let e = &events[0];
    assert_eq!(attr(e, "int"), Some(&V::IntValue(-5)));
    assert_eq!(attr(e, "small"), Some(&V::IntValue(7)));
    assert_eq!(attr(e, "uint"), Some(&V::UintValue(u64::MAX)));
    assert_eq!(attr(e, "float"), Some(&V::DoubleValue(9.99)));
    assert_eq!(attr(e, "yes"), Some(&V::BoolValue(true)));
    assert_eq!(attr(e, "literal"), Some(&s("EUR")));
    assert_eq!(attr(e, "borrowed"), Some(&s("owned text")));
    assert_eq!(attr(e, "point"), Some(&s("Point { x: 1 }")));
    assert_eq!(attr(e, "addr"), Some(&s("127.0.0.1")));
    assert_eq!(attr(e, "i128_small"), Some(&V::IntValue(-3)));
    assert_eq!(attr(e, "i128_wide"), Some(&s(&i128::MIN.to_string())));
    assert_eq!(attr(e, "u128_small"), Some(&V::UintValue(12)));
    assert_eq!(attr(e, "u128_wide"), Some(&s(&u128::MAX.to_string())));
    assert_eq!(attr(e, "user.id"), Some(&V::UintValue(42)));
    assert_eq!(keys(e)[0], "int", "fields keep their order");
    assert_eq!(e.attributes.len(), 14, "the message is not an attribute");
}

#[test]
fn message_and_levels_map_one_to_one() {
    let user = "ada";
    let events = capture(|| {
        tracing::trace!("t");
        tracing::debug!("d");
        tracing::info!("user {user} logged in from {}", "home");
        tracing::warn!(message = "as a field", n = 1);
        tracing::error!(n = 2);
    });
    let severities: Vec<i32> = events.iter().map(|e| e.severity).collect();
    use proto::Severity as S;
    assert_eq!(
        severities,
        [S::Trace, S::Debug, S::Info, S::Warn, S::Error].map(|s| s as i32)
    );
    assert_eq!(events[2].message, "user ada logged in from home");
    assert_eq!(events[3].message, "as a field");
    assert_eq!(events[4].message, "", "an event without a message");
    assert_eq!(keys(&events[3]), ["n"]);
}

#[test]
fn the_call_site_is_the_events_and_the_target_only_when_it_differs() {
    let mut lines = Vec::new();
    let events = capture(|| {
        lines.push(line!() + 1);
        tracing::info!("default target");
        lines.push(line!() + 1);
        tracing::info!(target: "payments", "own target");
    });
    for (event, line) in events.iter().zip(&lines) {
        let site = event.call_site.as_ref().expect("a call site");
        assert_eq!(site.file, file!());
        assert_eq!(site.line, *line);
        assert_eq!(site.module, module_path!());
    }
    assert_eq!(attr(&events[0], "target"), None);
    assert_eq!(attr(&events[1], "target"), Some(&s("payments")));
}

#[test]
fn an_error_fills_the_error_columns_with_its_chain() {
    let events = capture(|| {
        let err = Declined(std::io::Error::other("gateway timeout"));
        let other = std::io::Error::other("second");
        tracing::error!(
            error = &err as &dyn std::error::Error,
            also = &other as &dyn std::error::Error,
            order_id = 7,
            "payment failed"
        );
    });
    let e = &events[0];
    let error = e.error.as_ref().expect("error columns");
    assert_eq!(error.message, "payment declined");
    assert_eq!(error.chain, ["gateway timeout"]);
    assert_eq!(error.r#type, "", "unknown behind &dyn Error");
    assert_eq!(attr(e, "error"), None, "not an attribute as well");
    assert_eq!(
        attr(e, "also"),
        Some(&s("second")),
        "a second error is text"
    );
    assert_eq!(attr(e, "order_id"), Some(&V::IntValue(7)));
}

#[test]
fn reserved_names_fill_their_columns() {
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let events = capture(|| {
        tracing::info!(
            trace_id = trace,
            span_id = 0xabcu64,
            session_id = "sess-1",
            http.method = "GET",
            http.route = "/orders/:id",
            http.path = "/orders/42",
            http.status_code = 200u16,
            http.duration_ms = 1.5,
            http.user_agent = "curl/8",
            http.client_ip = "10.1.2.3",
            http.host = "shop.example",
            http.scheme = "https",
            http.request.body.size = 10u64,
            http.response.body.size = 2048u64,
            "request served"
        );
        tracing::info!(
            trace_id = %aires::TraceId::from_int(7).unwrap(),
            span_id = "00f067aa0ba902b7",
            http.request.method = "POST",
            http.response.status_code = 503,
            http.duration_ms = 12,
            url.path = "/pay",
            "semantic-convention names"
        );
        tracing::info!(
            trace_id = "not an id",
            span_id = 0u64,
            http.status_code = 70_000,
            http.duration_ms = -1.0,
            "invalid values stay attributes"
        );
    });
    let e = &events[0];
    assert_eq!(hex(&e.trace_id), trace);
    assert_eq!(hex(&e.span_id), "0000000000000abc");
    assert_eq!(e.session_id, "sess-1");
    let http = e.http.as_ref().expect("http columns");
    assert_eq!(
        (
            http.method.as_str(),
            http.route.as_str(),
            http.path.as_str()
        ),
        ("GET", "/orders/:id", "/orders/42")
    );
    assert_eq!(http.status_code, 200);
    assert_eq!(http.duration_nanos, 1_500_000);
    assert_eq!(
        (
            http.user_agent.as_str(),
            http.client_ip.as_str(),
            http.host.as_str(),
            http.scheme.as_str()
        ),
        ("curl/8", "10.1.2.3", "shop.example", "https")
    );
    assert_eq!((http.request_bytes, http.response_bytes), (10, 2048));
    assert!(e.attributes.is_empty(), "{:?}", e.attributes);

    let e = &events[1];
    assert_eq!(hex(&e.trace_id), format!("{:032x}", 7));
    assert_eq!(hex(&e.span_id), "00f067aa0ba902b7");
    let http = e.http.as_ref().unwrap();
    assert_eq!((http.method.as_str(), http.status_code), ("POST", 503));
    assert_eq!(http.duration_nanos, 12_000_000);
    assert_eq!(http.path, "/pay");

    let e = &events[2];
    assert!(e.trace_id.is_empty() && e.span_id.is_empty());
    assert!(
        e.http.is_none(),
        "no HTTP record for values that fit none of it"
    );
    assert_eq!(attr(e, "trace_id"), Some(&s("not an id")));
    assert_eq!(attr(e, "span_id"), Some(&V::UintValue(0)));
    assert_eq!(attr(e, "http.status_code"), Some(&V::IntValue(70_000)));
    assert_eq!(attr(e, "http.duration_ms"), Some(&V::DoubleValue(-1.0)));
}

#[test]
fn nested_spans_share_a_trace_and_each_has_its_own_span_id() {
    let events = capture(|| {
        tracing::info!("outside");
        let outer = tracing::info_span!("outer");
        let _outer = outer.enter();
        tracing::info!("in outer");
        {
            let inner = tracing::info_span!("inner");
            let _inner = inner.enter();
            tracing::info!("in inner");
            tracing::info!("in inner again");
        }
        tracing::info!("in outer again");
        drop(_outer);
        let other = tracing::info_span!("another root");
        other.in_scope(|| tracing::info!("in another root"));
    });
    let by = |message: &str| events.iter().find(|e| e.message == message).unwrap();
    assert!(by("outside").trace_id.is_empty() && by("outside").span_id.is_empty());
    let (outer, inner) = (by("in outer"), by("in inner"));
    assert_eq!(outer.trace_id.len(), 16);
    assert_eq!(outer.span_id.len(), 8);
    assert_eq!(inner.trace_id, outer.trace_id, "a child inherits the trace");
    assert_ne!(inner.span_id, outer.span_id, "each span has its own id");
    assert_eq!(by("in inner again").span_id, inner.span_id);
    assert_eq!(by("in outer again").span_id, outer.span_id);
    assert_eq!(by("in outer again").trace_id, outer.trace_id);
    let other = by("in another root");
    assert_ne!(other.trace_id, outer.trace_id, "a root starts a new trace");
    assert_ne!(other.span_id, outer.span_id);
}

#[test]
fn span_fields_are_attributes_and_the_nearest_value_wins() {
    let events = capture(|| {
        let outer = tracing::info_span!(
            "outer",
            a = 1,
            b = 1,
            c = 1,
            session_id = "s-outer",
            late = tracing::field::Empty
        );
        let _outer = outer.enter();
        let inner = tracing::info_span!("inner", b = 2, c = 2, http.method = "GET");
        let _inner = inner.enter();
        tracing::info!(c = 3, "precedence");
        outer.record("late", "recorded later");
        inner.record("b", 20);
        tracing::info!(session_id = "s-event", "after record");
    });
    let e = &events[0];
    assert_eq!(attr(e, "a"), Some(&V::IntValue(1)));
    assert_eq!(attr(e, "b"), Some(&V::IntValue(2)));
    assert_eq!(attr(e, "c"), Some(&V::IntValue(3)));
    assert_eq!(e.attributes.iter().filter(|a| a.key == "c").count(), 1);
    assert_eq!(e.session_id, "s-outer");
    assert_eq!(
        attr(e, "http.method"),
        Some(&s("GET")),
        "a span's http.* is an attribute"
    );
    assert!(e.http.is_none());
    assert_eq!(attr(e, "late"), None);
    let e = &events[1];
    assert_eq!(attr(e, "late"), Some(&s("recorded later")));
    assert_eq!(attr(e, "b"), Some(&V::IntValue(20)));
    assert_eq!(e.session_id, "s-event");
}

#[test]
fn a_spans_integer_session_id_fills_the_session_column_as_an_events_does() {
    let events = capture(|| {
        tracing::info_span!("numbered", session_id = 7u64)
            .in_scope(|| tracing::info!("in a numbered session"));
        tracing::info_span!("negative", session_id = -1)
            .in_scope(|| tracing::info!("not a session"));
        tracing::info!(session_id = 42, "an event's own");
    });
    assert_eq!(events[0].session_id, "7");
    assert_eq!(attr(&events[0], "session_id"), None);
    assert_eq!(
        events[1].session_id, "",
        "a negative number is no session id"
    );
    assert_eq!(attr(&events[1], "session_id"), Some(&V::IntValue(-1)));
    assert_eq!(events[2].session_id, "42");
}

#[test]
fn past_the_attribute_limit_the_events_own_fields_and_the_innermost_spans_stay() {
    let _lock = global_lock();
    let memory = MemoryTransport::new();
    let limits = aires::Limits::default().max_attributes(4);
    let guard = aires::init(test_config(&memory).limits(limits)).unwrap();
    tracing::subscriber::with_default(registry().with(aires_tracing::layer()), || {
        let outer = tracing::info_span!("outer", o1 = 1, o2 = 2, o3 = 3);
        let _outer = outer.enter();
        let inner = tracing::info_span!("inner", i1 = 1, shared = "inner");
        let _inner = inner.enter();
        tracing::info!(e1 = 1, shared = "event", "many fields");
    });
    guard.shutdown(DEADLINE).unwrap();
    let events = memory.events();
    let e = &events[0];
    assert_eq!(
        keys(e),
        ["e1", "shared", "i1", "o1", "aires.dropped_attributes"],
        "the least preferred are cut: the outer span's"
    );
    assert_eq!(attr(e, "shared"), Some(&s("event")));
}

#[test]
fn span_fields_can_be_turned_off_and_the_ids_stay() {
    let layer = aires_tracing::layer().with_span_fields(false);
    let events = capture_with(AiresLevel::TRACE, layer, || {
        let span = tracing::info_span!("request", user = "ada", session_id = "s-1");
        span.in_scope(|| tracing::info!(n = 1, "inside"));
    });
    let e = &events[0];
    assert_eq!(keys(e), ["n"]);
    assert_eq!(e.session_id, "");
    assert_eq!(e.trace_id.len(), 16);
    assert_eq!(e.span_id.len(), 8);
}

#[test]
fn a_spans_trace_id_field_joins_that_trace_and_an_events_overrides_it() {
    let incoming = "4bf92f3577b34da6a3ce929d0e0e4736";
    let events = capture(|| {
        let request = tracing::info_span!("request", trace_id = incoming);
        let _request = request.enter();
        tracing::info!("in request");
        tracing::info_span!("child").in_scope(|| tracing::info!("in child"));
        tracing::info!(trace_id = "0af7651916cd43dd8448eb211c80319c", "elsewhere");
    });
    assert_eq!(hex(&events[0].trace_id), incoming);
    assert_eq!(hex(&events[1].trace_id), incoming);
    assert_ne!(events[1].span_id, events[0].span_id);
    assert_eq!(attr(&events[0], "trace_id"), None);
    assert_eq!(hex(&events[2].trace_id), "0af7651916cd43dd8448eb211c80319c");
    assert!(
        events[2].span_id.is_empty(),
        "the span is not part of the event's own trace"
    );
}

#[test]
fn a_per_layer_filter_applies_to_aires_alone_and_fmt_beside_it_sees_everything() {
    let _lock = global_lock();
    let memory = MemoryTransport::new();
    let guard = aires::init(test_config(&memory)).unwrap();
    let console = Buffer::default();
    let subscriber = registry()
        .with(aires_tracing::layer().with_filter(LevelFilter::WARN))
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(console.clone())
                .with_filter(LevelFilter::TRACE),
        );
    tracing::subscriber::with_default(subscriber, || {
        tracing::debug!("debug for the console");
        tracing::info!("info for the console");
        tracing::warn!("warn for both");
    });
    guard.shutdown(DEADLINE).unwrap();
    let messages: Vec<String> = memory.events().into_iter().map(|e| e.message).collect();
    assert_eq!(messages, ["warn for both"]);
    let console = console.text();
    for line in [
        "debug for the console",
        "info for the console",
        "warn for both",
    ] {
        assert!(console.contains(line), "{line:?} not in {console:?}");
    }
}

#[test]
fn aires_level_drops_and_counts_without_hiding_events_from_other_layers() {
    let _lock = global_lock();
    let memory = MemoryTransport::new();
    let guard = aires::init(test_config(&memory).level(AiresLevel::INFO)).unwrap();
    let console = Buffer::default();
    let subscriber = registry()
        .with(aires_tracing::layer())
        .with(tracing_subscriber::fmt::layer().with_writer(console.clone()));
    let before = aires::metrics().events_dropped_filtered;
    tracing::subscriber::with_default(subscriber, || {
        tracing::debug!("debug below Aires' level");
        tracing::info!("info kept");
        assert!(aires::set_level(AiresLevel::WARN));
        tracing::info!("info now below");
    });
    let after = aires::metrics().events_dropped_filtered;
    guard.shutdown(DEADLINE).unwrap();
    let messages: Vec<String> = memory.events().into_iter().map(|e| e.message).collect();
    assert_eq!(messages, ["info kept"]);
    assert_eq!(after - before, 2);
    let console = console.text();
    assert!(console.contains("debug below Aires' level"), "{console}");
    assert!(console.contains("info now below"), "{console}");
}

/// Notes when it is formatted.
struct Flag<'a>(&'a Cell<bool>);

impl fmt::Debug for Flag<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.set(true);
        f.write_str("flag")
    }
}

#[test]
fn with_no_pipeline_events_are_counted_and_nothing_is_formatted() {
    let _lock = global_lock_untouched();
    let unheard =
        |m: aires::Metrics| m.events_dropped_before_init + m.events_dropped_after_shutdown;
    let before = aires::metrics();
    let formatted = Cell::new(false);
    tracing::subscriber::with_default(registry().with(aires_tracing::layer()), || {
        tracing::error!(x = ?Flag(&formatted), "nobody listens");
        tracing::info!("nor here");
    });
    let after = aires::metrics();
    assert_eq!(unheard(after) - unheard(before), 2);
    assert!(
        !formatted.get(),
        "no field is formatted for a dropped event"
    );
    if std::env::var_os("NEXTEST").is_some() {
        // One process per test: no pipeline has ever run in this one.
        assert_eq!(
            after.events_dropped_before_init - before.events_dropped_before_init,
            2
        );
    }
}

#[test]
fn log_records_through_tracing_log_keep_their_own_metadata() {
    let _ = tracing_log::LogTracer::init();
    let mut lines = Vec::new();
    let events = capture(|| {
        lines.push(line!() + 1);
        log::warn!(target: "legacy", "from log {}", 5);
        lines.push(line!() + 1);
        log::info!("plain");
    });
    assert_eq!(events.len(), 2);
    let e = &events[0];
    assert_eq!(e.message, "from log 5");
    assert_eq!(e.severity, proto::Severity::Warn as i32);
    let site = e.call_site.as_ref().unwrap();
    assert_eq!((site.file.as_str(), site.line), (file!(), lines[0]));
    assert_eq!(site.module, module_path!());
    assert_eq!(attr(e, "target"), Some(&s("legacy")));
    assert_eq!(keys(e), ["target"], "no log.* fields");
    let e = &events[1];
    assert_eq!(e.call_site.as_ref().unwrap().line, lines[1]);
    assert!(e.attributes.is_empty(), "{:?}", e.attributes);
}
