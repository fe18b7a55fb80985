//! Graceful shutdown: stop accepting, answer everything taken once it is
//! stored, flush, exit 0.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aires_transport_grpc::{GrpcConfig, Mode};
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_answers_and_stores_every_request_it_took() {
    let sink = Arc::new(MemorySink::default());
    *sink.delay.lock() = Duration::from_millis(100);
    let collector = collector(sink.clone(), |c| c.batch_size = 10_000).await;
    let mut calls = Vec::new();
    for _ in 0..8 {
        let mut client = client(&collector).await;
        calls.push(tokio::spawn(async move { client.ingest(batch(25)).await }));
    }
    // Wait until the collector has taken all eight, then shut down while
    // their rows are still on the way to the slow sink.
    let received = |c: &aires_collector::RunningCollector| c.metrics().events_received.get();
    assert!(wait_until(DEADLINE, || received(&collector) == 200).await);
    collector.shutdown().await.unwrap();
    for call in calls {
        let response = call.await.unwrap().expect("taken requests are answered");
        assert_eq!(response.into_inner().accepted, 25);
    }
    assert_eq!(sink.row_count(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_open_streams_after_answering_them() {
    let sink = Arc::new(MemorySink::default());
    let collector = collector(sink.clone(), |_| {}).await;
    let sdk = sdk(
        GrpcConfig::new(endpoint(&collector)).mode(Mode::Streaming),
        |c| c,
    );
    emit(&sdk, 100);
    flush(&sdk).await;
    // The SDK's stream is still open; shutdown must not wait for it forever.
    collector.shutdown().await.unwrap();
    assert_eq!(sink.row_count(), 100);
    shutdown_sdk(sdk).await;
}

/// The real binary, stopped with SIGTERM, exits 0 having printed every
/// acknowledged event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_drains_on_sigterm_and_exits_0() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aires-collector"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--sink",
            "stdout",
        ])
        .args(["--batch-timeout-ms", "2000"])
        .env("AIRES_COLLECTOR_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let (grpc, metrics) = {
        let mut line = String::new();
        let deadline = Instant::now() + DEADLINE;
        let field = |line: &str, name: &str| {
            let at = line.find(name)? + name.len();
            Some(line[at..].split_whitespace().next()?.to_owned())
        };
        loop {
            line.clear();
            assert!(
                stderr.read_line(&mut line).unwrap() > 0,
                "collector exited early"
            );
            if let (Some(grpc), Some(metrics)) = (field(&line, "grpc="), field(&line, "metrics=")) {
                break (grpc, metrics);
            }
            assert!(Instant::now() < deadline, "no listening line");
        }
    };
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).unwrap();
        text
    });

    // 300 events, sent in batches whose rows wait in the collector's
    // batcher (2 s timeout) when SIGTERM arrives.
    let mut client =
        aires_proto::v1::collector_client::CollectorClient::connect(format!("http://{grpc}"))
            .await
            .unwrap();
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let mut client = client.clone();
            tokio::spawn(async move { client.ingest(batch(100)).await })
        })
        .collect();
    // SIGTERM once the collector holds all 300 (in its batcher, for 2 s).
    let deadline = Instant::now() + DEADLINE;
    while !metrics_get(&metrics).contains("aires_collector_events_received_total 300") {
        assert!(
            Instant::now() < deadline,
            "the collector never received the events"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().into_inner().accepted, 100);
    }
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
    let printed = reader.join().unwrap();
    assert_eq!(printed.lines().count(), 300);
    let _ = client
        .ingest(batch(1))
        .await
        .expect_err("no longer listening");
}

fn metrics_get(addr: &str) -> String {
    use std::io::Write;
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    text
}
