//! The `aires` binary as people and scripts run it, against the same
//! store: search, errors, trace, tail (-f), completions, exit codes, and
//! the same answers through a running console.

mod common;

use std::process::Stdio;

use aires::{Event, Level};
use common::{trace_hex, Stack, CAUSE, DEADLINE};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

fn aires(stack: &Stack) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aires"));
    command
        .env_clear()
        .env("AIRES_CLICKHOUSE_URL", &stack.clickhouse.url)
        .env("AIRES_CLICKHOUSE_DATABASE", &stack.clickhouse.database)
        .env("AIRES_CLICKHOUSE_USER", &stack.clickhouse.user)
        .env("AIRES_CLICKHOUSE_PASSWORD", &stack.clickhouse.password)
        .kill_on_drop(true);
    command
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn run(stack: &Stack, args: &[&str]) -> Output {
    let output = tokio::time::timeout(DEADLINE, aires(stack).args(args).output())
        .await
        .expect("finishes")
        .unwrap();
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_errors_and_trace_print_what_the_store_holds() {
    let stack = Stack::start().await;
    let out = run(&stack, &["search", "served", "--since", "1h", "--json"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let events = json_lines(&out.stdout);
    let expected = stack
        .sent
        .iter()
        .filter(|s| s.message == "request served")
        .count();
    assert_eq!(events.len(), expected);
    assert!(events.iter().all(|e| e["message"] == "request served"));

    // Paging past the API's page size, newest first.
    let out = run(&stack, &["search", "--limit", "1000", "--json"]).await;
    assert_eq!(json_lines(&out.stdout).len(), common::EVENTS);

    let out = run(&stack, &["errors", "--color", "always"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let errors = stack.sent.iter().filter(|s| s.error).count();
    assert_eq!(
        out.stdout.matches("caused by:").count(),
        errors,
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(CAUSE));
    assert!(out.stdout.contains("\x1b[31m"), "coloured by level");
    let plain = run(&stack, &["errors", "route:/pay"]).await;
    assert!(!plain.stdout.contains('\x1b'), "no colour when piped");
    assert!(plain
        .stdout
        .lines()
        .filter(|l| !l.starts_with(' '))
        .all(|l| l.contains("/pay")));

    let trace = trace_hex(2);
    let out = run(&stack, &["trace", &trace, "--json"]).await;
    let ns: Vec<i64> = json_lines(&out.stdout)
        .iter()
        .map(|e| stack.ids[e["id"].as_str().unwrap()])
        .collect();
    let mut expected: Vec<i64> = stack
        .sent
        .iter()
        .filter(|s| s.trace == trace)
        .map(|s| s.n)
        .collect();
    expected.sort();
    let mut sorted = ns.clone();
    sorted.sort();
    assert_eq!(sorted, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mistakes_exit_non_zero_and_say_why() {
    let stack = Stack::start().await;
    let out = run(&stack, &["search", "level:>=loud"]).await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("not a level"), "{}", out.stderr);
    let out = run(&stack, &["trace", "not-a-trace"]).await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("not a trace id"), "{}", out.stderr);
    let out = run(
        &stack,
        &["search", "--clickhouse-url", "http://127.0.0.1:1", "x"],
    )
    .await;
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("unreachable"), "{}", out.stderr);
    let out = run(&stack, &["completions", "bash"]).await;
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("_aires"));
    let out = run(&stack, &["--help"]).await;
    assert!(out.stdout.contains("QUERY syntax"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_prints_the_latest_then_follows_new_events() {
    let stack = Stack::start().await;
    let out = run(&stack, &["tail", "-n", "5", "--json", "service:search"]).await;
    let events = json_lines(&out.stdout);
    assert_eq!(events.len(), 5);
    let ts: Vec<i64> = events
        .iter()
        .map(|e| e["ts"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "oldest first");
    assert!(events.iter().all(|e| e["service"] == "search"));

    let mut child = aires(&stack)
        .args(["tail", "-f", "-n", "2", "--json", "service:search"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut errors = BufReader::new(child.stderr.take().unwrap()).lines();
    // The latest two, oldest first, then nothing older: it follows.
    let latest: Vec<Value> = vec![next_json(&mut lines).await, next_json(&mut lines).await];
    assert_eq!(
        latest.iter().map(|e| e["id"].clone()).collect::<Vec<_>>(),
        events[3..]
            .iter()
            .map(|e| e["id"].clone())
            .collect::<Vec<_>>(),
        "the same latest two as `tail -n 5` ended with"
    );
    let following = tokio::time::timeout(DEADLINE, errors.next_line())
        .await
        .expect("it says when it follows")
        .unwrap()
        .unwrap();
    assert!(following.contains("following"), "{following}");
    stack
        .send(
            "search",
            Event::builder(Level::Warn, "freshly stored")
                .attr("n", 2000)
                .build(),
        )
        .await;
    assert_eq!(next_json(&mut lines).await["message"], "freshly stored");
    stack
        .send(
            "search",
            Event::builder(Level::Warn, "freshly again")
                .attr("n", 2001)
                .build(),
        )
        .await;
    assert_eq!(
        next_json(&mut lines).await["message"],
        "freshly again",
        "each event printed once, and nothing from before"
    );
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_a_running_console_the_answers_are_the_same() {
    let stack = Stack::start().await;
    let listener = aires_console::server::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = aires_console::server::app(
        aires_console::store::Store::new(&stack.store_config()),
        aires_console::server::Auth::ApiKeys(vec!["key".into()]),
        aires_console::server::Hosts::Loopback,
    );
    tokio::spawn(aires_console::server::serve(
        listener,
        app,
        std::future::pending(),
    ));
    let direct = run(&stack, &["search", "level:>=warn", "--json"]).await;
    let via = run(
        &stack,
        &[
            "--console",
            &base,
            "--api-key",
            "key",
            "search",
            "level:>=warn",
            "--json",
        ],
    )
    .await;
    assert_eq!(via.code, 0, "{}", via.stderr);
    assert_eq!(via.stdout, direct.stdout);
    assert!(!direct.stdout.is_empty());
    let refused = run(&stack, &["--console", &base, "search", "x"]).await;
    assert_eq!(refused.code, 2);
    assert!(refused.stderr.contains("API key"), "{}", refused.stderr);
}

/// The next line of a child's output, as JSON, within the deadline.
async fn next_json(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>) -> Value {
    let line = tokio::time::timeout(DEADLINE, lines.next_line())
        .await
        .expect("a line in time")
        .unwrap()
        .expect("a line");
    serde_json::from_str(&line).unwrap()
}
