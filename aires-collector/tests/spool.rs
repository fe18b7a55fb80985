//! The SDK's spool across a crash of the producing process: batches it had
//! cut and not delivered are sent by its next start, with their ids, once.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aires_transport_grpc::GrpcConfig;
use common::*;

const EVENTS: usize = 1_000;
const CHILD: &str = "AIRES_SPOOL_TEST_CHILD";

/// Batch files in the spool directory.
fn spooled(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "batch"))
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_a_killed_process_had_not_delivered_are_sent_by_its_next_start() {
    if let Ok(dir) = std::env::var(CHILD) {
        // The child: a producer whose collector is unreachable, killed by
        // the parent while its batches wait for retries.
        let unreachable = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let sdk = sdk(GrpcConfig::new(format!("http://{unreachable}")), |c| {
            c.spool(&dir).queue_capacity(EVENTS * 2)
        });
        emit(&sdk, EVENTS);
        std::thread::sleep(Duration::from_secs(600));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "batches_a_killed_process_had_not_delivered_are_sent_by_its_next_start",
            "--exact",
            "--nocapture",
        ])
        .env(CHILD, dir.path())
        .spawn()
        .unwrap();
    // 1000 events in batches of at most 256: four files once all are cut.
    let deadline = Instant::now() + DEADLINE;
    while spooled(dir.path()) < EVENTS.div_ceil(256) {
        assert!(
            Instant::now() < deadline,
            "the child spooled {}",
            spooled(dir.path())
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // The next start, with the collector up.
    let sink = Arc::new(MemorySink::default());
    let collector = collector(sink.clone(), |_| {}).await;
    let sdk = sdk(GrpcConfig::new(endpoint(&collector)), |c| {
        c.spool(dir.path())
    });
    flush(&sdk).await;
    assert!(wait_until(DEADLINE, || sink.row_count() == EVENTS).await);
    assert_eq!(
        indexes(&sink.rows()),
        (0..EVENTS as i64).collect::<Vec<_>>()
    );
    let metrics = sdk.metrics();
    assert_eq!(metrics.events_replayed, EVENTS as u64);
    assert_eq!(metrics.events_sent, EVENTS as u64);
    assert_eq!(spooled(dir.path()), 0, "settled batches leave the spool");
    shutdown_sdk(sdk).await;
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_cut_short_leaves_its_batches_for_the_next_start_not_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let unreachable = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let first = sdk(GrpcConfig::new(format!("http://{unreachable}")), |c| {
        c.spool(dir.path()).diagnostics(|_| {})
    });
    emit(&first, 300);
    let _ = tokio::task::spawn_blocking({
        let first = first.clone();
        move || first.shutdown(Duration::from_millis(800))
    })
    .await;
    let metrics = first.metrics();
    assert_eq!(metrics.events_left_in_spool, 300, "{metrics:?}");
    assert_eq!(metrics.events_dropped(), 0, "{metrics:?}");
    assert_eq!(metrics.events_outcome_unknown, 0, "{metrics:?}");

    let sink = Arc::new(MemorySink::default());
    let collector = collector(sink.clone(), |_| {}).await;
    let second = sdk(GrpcConfig::new(endpoint(&collector)), |c| {
        c.spool(dir.path())
    });
    flush(&second).await;
    assert!(wait_until(DEADLINE, || sink.row_count() == 300).await);
    assert_eq!(second.metrics().events_replayed, 300);
    shutdown_sdk(second).await;
    collector.shutdown().await.unwrap();
}
