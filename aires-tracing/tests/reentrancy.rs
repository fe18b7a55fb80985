//! A value that logs while it is formatted: with a global default
//! subscriber (no scoped one), `tracing` hands such a nested event to the
//! layer while the outer call is still in it. A binary of its own, since
//! the global default cannot be undone.

mod common;

use std::fmt;

use aires::transport::MemoryTransport;
use common::*;
use tracing_subscriber::layer::SubscriberExt;

/// Logs when it is formatted.
struct Chatty;

impl fmt::Debug for Chatty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        tracing::info!("from inside a Debug impl");
        f.write_str("chatty")
    }
}

#[test]
fn a_value_that_logs_while_it_is_formatted_does_not_deadlock() {
    let _lock = global_lock();
    let memory = MemoryTransport::new();
    let guard = aires::init(test_config(&memory)).unwrap();
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(aires_tracing::layer()),
    )
    .unwrap();
    let span = tracing::info_span!("request", late = tracing::field::Empty);
    let entered = span.enter();
    // Formatted while the span's fields are recorded, then while the
    // event is built in its queue slot: each logs inside this span.
    span.record("late", tracing::field::debug(Chatty));
    tracing::info!(value = ?Chatty, "outer event");
    drop(entered);
    guard.shutdown(DEADLINE).unwrap();

    let events = memory.events();
    let nested = events
        .iter()
        .filter(|e| e.message == "from inside a Debug impl")
        .count();
    assert_eq!(nested, 2, "both nested events are recorded");
    let outer = events.iter().find(|e| e.message == "outer event").unwrap();
    assert_eq!(attr(outer, "late"), Some(&s("chatty")));
    assert_eq!(attr(outer, "value"), Some(&s("chatty")));
}
