//! init / flush / shutdown / the guard, and what happens around them.

mod common;

use std::time::Duration;

use aires::transport::MemoryTransport;
use aires::{ConfigError, InitError, LevelFilter};
use common::{global_lock, test_config};

const DEADLINE: Duration = Duration::from_secs(20);

#[test]
fn shutdown_sends_everything_that_was_enqueued() {
    let _lock = global_lock();
    let memory = MemoryTransport::new();
    // A long batch timeout: only shutdown can send the tail.
    let guard = aires::init(
        test_config(memory.clone())
            .batch_size(100)
            .batch_timeout(Duration::from_secs(3600)),
    )
    .unwrap();
    for i in 0..1_050 {
        aires::info!("event", i = i);
    }
    guard.shutdown(DEADLINE).unwrap();
    assert_eq!(memory.event_count(), 1_050);
    let metrics = aires::metrics();
    assert_eq!(metrics.events_sent, 1_050);
}

#[test]
fn dropping_the_guard_flushes() {
    let _lock = global_lock();
    let memory = MemoryTransport::new();
    {
        let _guard =
            aires::init(test_config(memory.clone()).batch_timeout(Duration::from_secs(3600)))
                .unwrap();
        aires::warn!("bye");
    }
    assert_eq!(memory.event_count(), 1);
}

#[test]
fn a_guard_kept_past_its_pipeline_does_not_stop_the_next_one() {
    let _lock = global_lock();
    let first = MemoryTransport::new();
    let old_guard = aires::init(test_config(first.clone())).unwrap();
    aires::shutdown(DEADLINE).unwrap();
    let second = MemoryTransport::new();
    let guard = aires::init(test_config(second.clone())).unwrap();
    // The old guard belongs to the pipeline already shut down.
    drop(old_guard);
    aires::info!("still running");
    aires::flush(DEADLINE).expect("the second pipeline still runs");
    assert_eq!(second.event_count(), 1);
    guard.shutdown(DEADLINE).unwrap();
    assert!(aires::flush(DEADLINE).is_err(), "its own guard stops it");
}

#[test]
fn emitting_before_init_and_after_shutdown_is_counted() {
    let _lock = global_lock();
    let unheard =
        |m: aires::Metrics| m.events_dropped_before_init + m.events_dropped_after_shutdown;
    let before = aires::metrics();
    // Nothing is running (global_lock shut any pipeline down). Whether this
    // counts as "before init" or "after shutdown" depends on whether an
    // earlier test in this binary ran a pipeline.
    let evaluated = std::cell::Cell::new(false);
    aires::info!(
        "nobody listens",
        arg = {
            evaluated.set(true);
            1
        }
    );
    assert_eq!(unheard(aires::metrics()) - unheard(before), 1);
    assert!(
        !evaluated.get(),
        "with no pipeline, arguments are not evaluated"
    );
    let memory = MemoryTransport::new();
    let guard = aires::init(test_config(memory.clone())).unwrap();
    aires::info!("heard");
    guard.shutdown(DEADLINE).unwrap();
    let stopped = aires::metrics();
    aires::info!("too late");
    aires::info!("still too late");
    let after = aires::metrics();
    assert_eq!(memory.event_count(), 1);
    assert_eq!(
        after.events_dropped_after_shutdown - stopped.events_dropped_after_shutdown,
        2
    );
}

#[test]
fn the_level_changes_only_while_a_pipeline_runs() {
    let _lock = global_lock();
    let unheard =
        |m: aires::Metrics| m.events_dropped_before_init + m.events_dropped_after_shutdown;
    // With no pipeline, a level change would make macro calls look like
    // calls filtered by a running pipeline, and be counted as such.
    assert!(!aires::set_level(LevelFilter::WARN), "nothing runs yet");
    assert_eq!(aires::level(), LevelFilter::OFF);
    let before = aires::metrics();
    aires::info!("nobody listens");
    let after = aires::metrics();
    assert_eq!(unheard(after) - unheard(before), 1);
    assert_eq!(
        after.events_dropped_filtered,
        before.events_dropped_filtered
    );

    let memory = MemoryTransport::new();
    let guard = aires::init(test_config(memory.clone()).level(LevelFilter::WARN)).unwrap();
    assert_eq!(
        aires::level(),
        LevelFilter::WARN,
        "init takes the config's level"
    );
    aires::info!("filtered");
    assert!(aires::set_level(LevelFilter::DEBUG));
    assert_eq!(aires::level(), LevelFilter::DEBUG);
    aires::debug!("kept");
    guard.shutdown(DEADLINE).unwrap();
    assert!(
        !aires::set_level(LevelFilter::TRACE),
        "nothing runs any more"
    );
    assert_eq!(aires::level(), LevelFilter::OFF);
    let messages: Vec<String> = memory.events().into_iter().map(|e| e.message).collect();
    assert_eq!(messages, ["kept"]);
}

#[test]
fn flush_waits_until_the_transport_has_the_events() {
    let _lock = global_lock();
    let memory = MemoryTransport::new();
    let guard =
        aires::init(test_config(memory.clone()).batch_timeout(Duration::from_secs(3600))).unwrap();
    for _ in 0..7 {
        aires::debug!("d");
    }
    aires::flush(DEADLINE).unwrap();
    assert_eq!(memory.event_count(), 7);
    guard.shutdown(DEADLINE).unwrap();
    assert_eq!(aires::flush(DEADLINE), Err(aires::FlushError::ShutDown));
}

#[test]
fn init_twice_is_an_error_and_init_after_shutdown_works() {
    let _lock = global_lock();
    let guard = aires::init(test_config(MemoryTransport::new())).unwrap();
    let err = aires::init(test_config(MemoryTransport::new())).unwrap_err();
    assert!(matches!(err, InitError::AlreadyInitialized), "{err}");
    guard.shutdown(DEADLINE).unwrap();
    let memory = MemoryTransport::new();
    let guard = aires::init(test_config(memory.clone())).unwrap();
    aires::info!("second life");
    guard.shutdown(DEADLINE).unwrap();
    assert_eq!(memory.event_count(), 1);
}

#[test]
fn invalid_config_is_a_typed_error_not_a_panic() {
    let _lock = global_lock();
    let cases: Vec<(aires::Config, &str)> = vec![
        (
            test_config(MemoryTransport::new()).batch_size(0),
            "batch_size must be greater than 0",
        ),
        (
            test_config(MemoryTransport::new()).batch_timeout(Duration::ZERO),
            "batch_timeout",
        ),
        (
            test_config(MemoryTransport::new()).queue_capacity(0),
            "queue_capacity",
        ),
        (
            test_config(MemoryTransport::new()).endpoint("localhost:4317"),
            "endpoint \"localhost:4317\" is invalid",
        ),
    ];
    for (config, expected) in cases {
        match aires::init(config) {
            Err(InitError::Config(error)) => {
                assert!(
                    error.to_string().contains(expected),
                    "{error} !~ {expected}"
                )
            }
            Err(other) => panic!("wrong error: {other}"),
            Ok(_) => panic!("accepted an invalid config ({expected})"),
        }
    }
    // Without a transport for an endpoint, the core says what is missing
    // (the facade's default `grpc` feature fills one in; see
    // aires-collector/tests/facade.rs).
    let config = aires::Config::new("x")
        .env_overrides(false)
        .endpoint("http://127.0.0.1:4317");
    let err = aires_core::init(config).unwrap_err();
    assert!(
        matches!(
            err,
            InitError::Config(ConfigError::NoTransportForEndpoint(_))
        ),
        "{err}"
    );
}

#[test]
fn oversized_messages_and_values_are_truncated_marked_and_counted() {
    let _lock = global_lock();
    let memory = MemoryTransport::new();
    let limits = aires::Limits::default()
        .max_message_bytes(64)
        .max_value_bytes(32);
    let guard = aires::init(test_config(memory.clone()).limits(limits)).unwrap();
    let long = "x".repeat(1000);
    aires::info!("{}", long, note = long.clone(), short = "fits");
    guard.shutdown(DEADLINE).unwrap();
    let event = &memory.events()[0];
    assert_eq!(event.message.len(), 64);
    assert!(event.message.ends_with("…[truncated]"), "{}", event.message);
    match common::attr(event, "note") {
        Some(aires_proto::v1::attribute::Value::StringValue(s)) => {
            assert!(s.len() <= 32 && s.ends_with("…[truncated]"), "{s}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(aires::metrics().values_truncated, 2);
}

#[test]
fn environment_variables_override_the_config() {
    let _lock = global_lock();
    let memory = MemoryTransport::new();
    // Only init reads these, and the lock keeps other inits out meanwhile.
    std::env::set_var("AIRES_SERVICE", "from-env");
    std::env::set_var("AIRES_ENVIRONMENT", "staging");
    std::env::set_var("AIRES_LEVEL", "error");
    let result = aires::init(test_config(memory.clone()).env_overrides(true));
    std::env::remove_var("AIRES_SERVICE");
    std::env::remove_var("AIRES_ENVIRONMENT");
    std::env::remove_var("AIRES_LEVEL");
    let guard = result.unwrap();
    aires::warn!("filtered by AIRES_LEVEL");
    aires::error!("kept");
    guard.shutdown(DEADLINE).unwrap();
    let batch = &memory.decoded_batches()[0];
    assert_eq!(batch.service, "from-env");
    assert_eq!(batch.environment, "staging");
    assert_eq!(batch.events.len(), 1);
    assert_eq!(batch.events[0].message, "kept");
}

#[test]
fn a_bad_environment_variable_fails_init_with_its_name() {
    let _lock = global_lock();
    std::env::set_var("AIRES_BATCH_SIZE", "lots");
    let result = aires::init(test_config(MemoryTransport::new()).env_overrides(true));
    std::env::remove_var("AIRES_BATCH_SIZE");
    let err = result.expect_err("init must fail");
    assert!(
        err.to_string().contains("AIRES_BATCH_SIZE=\"lots\""),
        "{err}"
    );
}
