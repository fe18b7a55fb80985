//! Every way a Rust program ends delivers what it logged: the guard's drop,
//! `std::process::exit` (no destructors run) and a guard that was forgotten.
//! Each case runs in a child process (this test binary again, told by an
//! environment variable which case to play) that prints events with the
//! stdout transport, so what was delivered is counted from outside.

use std::process::Command;
use std::time::Duration;

const COUNT: usize = 3_000;
const CASE: &str = "AIRES_TEST_EXIT_CASE";

/// Emits COUNT events into a pipeline whose batches would otherwise wait a
/// minute, so anything not flushed at exit is lost.
fn log_many() -> aires::Guard {
    let guard = aires::init(
        aires::Config::new("exits")
            .env_overrides(false)
            .batch_timeout(Duration::from_secs(60))
            .queue_capacity(8192)
            .transport(aires::transport::StdoutTransport::new()),
    )
    .unwrap();
    for i in 0..COUNT {
        aires::info!("bye", i = i);
    }
    guard
}

/// Runs the test named `name` in a child with CASE set; returns how many
/// events it printed, and its stderr.
fn delivered_by(name: &str) -> (usize, String) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CASE, name)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    // The harness's own "test ... " text may share a line with the first event.
    let count = stdout.matches("\"message\":\"bye\"").count();
    (count, String::from_utf8_lossy(&output.stderr).into_owned())
}

fn in_child(name: &str) -> bool {
    std::env::var(CASE).as_deref() == Ok(name)
}

#[test]
fn process_exit_delivers_what_was_logged() {
    if in_child("process_exit_delivers_what_was_logged") {
        let _guard = log_many();
        std::process::exit(0); // destructors do not run
    }
    let (count, stderr) = delivered_by("process_exit_delivers_what_was_logged");
    assert_eq!(count, COUNT, "{stderr}");
}

#[test]
fn a_forgotten_guard_still_delivers_at_exit() {
    if in_child("a_forgotten_guard_still_delivers_at_exit") {
        std::mem::forget(log_many());
        return; // the test harness then exits the process
    }
    let (count, stderr) = delivered_by("a_forgotten_guard_still_delivers_at_exit");
    assert_eq!(count, COUNT, "{stderr}");
}

#[test]
fn dropping_the_guard_delivers_what_was_logged() {
    if in_child("dropping_the_guard_delivers_what_was_logged") {
        drop(log_many());
        return;
    }
    let (count, stderr) = delivered_by("dropping_the_guard_delivers_what_was_logged");
    assert_eq!(count, COUNT, "{stderr}");
}

#[test]
fn an_exit_that_cannot_deliver_is_bounded_and_says_so() {
    if in_child("an_exit_that_cannot_deliver_is_bounded_and_says_so") {
        let guard = aires::init(
            aires::Config::new("exits")
                .env_overrides(false)
                .endpoint("http://127.0.0.1:9") // nothing listens on discard
                .shutdown_timeout(Duration::from_millis(300)),
        )
        .unwrap();
        aires::info!("bye");
        std::mem::forget(guard);
        std::process::exit(0);
    }
    let (_, stderr) = delivered_by("an_exit_that_cannot_deliver_is_bounded_and_says_so");
    // Shutdown gives up at its deadline and reports what it could not send.
    assert!(stderr.contains("aires: dropped 1 events"), "{stderr}");
}

#[test]
fn a_panic_that_unwinds_past_the_guard_delivers_what_was_logged() {
    if in_child("a_panic_that_unwinds_past_the_guard_delivers_what_was_logged") {
        let _guard = log_many();
        panic!("the program fails after logging"); // unwinding drops the guard
    }
    let (count, stderr) =
        delivered_by("a_panic_that_unwinds_past_the_guard_delivers_what_was_logged");
    assert!(
        stderr.contains("the program fails after logging"),
        "{stderr}"
    );
    assert_eq!(count, COUNT, "{stderr}");
}
