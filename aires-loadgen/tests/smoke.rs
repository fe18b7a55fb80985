//! The binary runs, delivers what it generated, and reports it.

use std::process::Command;

fn run(args: &[&str]) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_aires-loadgen"))
        .args(args)
        .env_remove("AIRES_ENDPOINT")
        .output()
        .expect("aires-loadgen runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("one JSON summary on stdout")
}

#[test]
fn a_counted_run_delivers_every_event_and_times_acks() {
    let summary = run(&[
        "--events",
        "5000",
        "--threads",
        "2",
        "--block",
        "--progress",
        "false",
    ]);
    assert_eq!(summary["events"], 5000);
    assert_eq!(summary["events_sent"], 5000);
    assert_eq!(summary["dropped"], 0);
    assert_eq!(summary["transport"], "null");
    assert!(
        summary["ack_latency_ms"]["samples"].as_u64().unwrap() > 0,
        "{summary}"
    );
}

#[test]
fn help_documents_every_flag() {
    let output = Command::new(env!("CARGO_BIN_EXE_aires-loadgen"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    for flag in [
        "--endpoint",
        "--threads",
        "--rate",
        "--events",
        "--duration",
        "--block",
        "--clickhouse-url",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}
