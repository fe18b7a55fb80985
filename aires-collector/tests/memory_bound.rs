//! The collector binary's resident memory stays within the bound the
//! README states, `100 MiB + max_pending_bytes + (max_concurrent_requests +
//! max_open_streams) x 2 x max_message_bytes + max_connections x 1 MiB`,
//! while hostile clients run against a store that hangs, and returns once
//! they leave and the store answers again.

mod common;

#[path = "common/process.rs"]
mod process;
#[path = "common/raw.rs"]
mod raw;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aires_proto::v1 as proto;
use process::CollectorProcess;
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MIB: usize = 1 << 20;
const MAX_PENDING: usize = 128 * MIB;
const MAX_CALLS: usize = 16;
const MAX_STREAMS: usize = 8;
const MAX_CONNECTIONS: usize = 64;
const MAX_MESSAGE: usize = 4 * MIB;
const BOUND: usize =
    100 * MIB + MAX_PENDING + (MAX_CALLS + MAX_STREAMS) * 2 * MAX_MESSAGE + MAX_CONNECTIONS * MIB;

/// Resident memory of process `pid`, in bytes.
fn rss(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// A ClickHouse stand-in that hangs every connection until `answering`,
/// then reads each request whole and answers 404 (a permanent failure),
/// so held batches are let go.
async fn store(answering: Arc<AtomicBool>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let answering = answering.clone();
            tokio::spawn(async move {
                while !answering.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                // Read until the client pauses (its request is sent), then
                // answer.
                let mut buf = vec![0; 64 * 1024];
                while let Ok(Ok(n)) =
                    tokio::time::timeout(Duration::from_millis(300), socket.read(&mut buf)).await
                {
                    if n == 0 {
                        return;
                    }
                }
                let _ = socket
                    .write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    )
                    .await;
            });
        }
    });
    addr
}

fn start_collector(store: SocketAddr) -> CollectorProcess {
    CollectorProcess::start(&[
        "--sink",
        "clickhouse",
        "--no-migrate",
        "--clickhouse-url",
        &format!("http://{store}"),
        "--max-pending-bytes",
        &MAX_PENDING.to_string(),
        "--max-concurrent-requests",
        &MAX_CALLS.to_string(),
        "--max-message-bytes",
        &MAX_MESSAGE.to_string(),
        "--max-open-streams",
        &MAX_STREAMS.to_string(),
        "--max-connections",
        &MAX_CONNECTIONS.to_string(),
        "--log",
        "warn,aires_collector=info",
    ])
}

/// A batch of one event whose message is `bytes` long.
fn big_batch(bytes: usize) -> proto::EventBatch {
    let mut batch = common::batch(1);
    batch.events[0].message = "x".repeat(bytes);
    batch
}

/// A batch of `events` events that are all refused (no severity).
fn refused_batch(events: usize) -> proto::EventBatch {
    let mut batch = common::batch(events);
    for event in &mut batch.events {
        event.severity = 0;
    }
    batch
}

async fn pending_bytes(metrics: SocketAddr) -> usize {
    let text = common::http_get(metrics, "/metrics").await;
    text.lines()
        .find_map(|l| l.strip_prefix("aires_collector_pending_bytes "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the pending bytes gauge")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resident_memory_stays_within_the_stated_bound_under_hostile_clients() {
    let answering = Arc::new(AtomicBool::new(false));
    let collector = start_collector(store(answering.clone()).await);
    let pid = collector.pid();
    let baseline = rss(pid);
    // The hostile clients run on a runtime of their own: shutting it down
    // closes their connections, as a client process that exits would.
    let hostile = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let endpoint = collector.grpc.clone();
    // Called on the hostile runtime: the channel's tasks are spawned there.
    let client = move || {
        let channel = tonic::transport::Channel::from_shared(endpoint.clone())
            .unwrap()
            .connect_lazy();
        proto::collector_client::CollectorClient::new(channel).max_decoding_message_size(64 * MIB)
    };
    // One request of a million tiny events: refused, it could never fit.
    // (First: later, the hostile clients hold every call slot.)
    let mut tiny = proto::EventBatch {
        batch_id: common::batch(0).batch_id,
        ..Default::default()
    }
    .encode_to_vec();
    for _ in 0..1_000_000 {
        tiny.extend([0x22, 0x02, 0x18, 0x03]);
    }
    let status = raw::raw_client_at(&collector.grpc)
        .await
        .unary(
            tonic::Request::new(bytes::Bytes::from(tiny)),
            http::uri::PathAndQuery::from_static("/aires.v1.Collector/Ingest"),
            raw::RawCodec::<proto::IngestResponse>::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("too large"),
        "{}",
        status.message()
    );

    let clients = hostile.handle();
    // Streams that never read their acks, sending 10,000 batches of
    // refused events each.
    for _ in 0..2 {
        let client = client.clone();
        clients.spawn(async move {
            let mut client = client();
            let batches = tokio_stream::iter((0..10_000).map(|_| refused_batch(100)));
            let acks = client.ingest_stream(batches).await;
            // Never read; hold the stream open.
            tokio::time::sleep(Duration::from_secs(3600)).await;
            drop(acks);
        });
    }
    // Streams pushing batches of almost 4 MiB while the store hangs; more
    // than the stream limit, so some are refused.
    for _ in 0..MAX_STREAMS {
        let client = client.clone();
        clients.spawn(async move {
            let mut client = client();
            let batches = tokio_stream::iter((0..400).map(|_| big_batch(MAX_MESSAGE - 4096)));
            let _ = client.ingest_stream(batches).await;
            tokio::time::sleep(Duration::from_secs(3600)).await;
        });
    }
    // Unary calls of almost 4 MiB, more than the call limit.
    for _ in 0..2 * MAX_CALLS {
        let client = client.clone();
        clients.spawn(async move {
            let mut client = client();
            let _ = client.ingest(big_batch(MAX_MESSAGE - 4096)).await;
        });
    }
    // Batches whose one event has a 1 MiB id: refused, and never kept in an
    // answer or in the memory of recent batches.
    {
        let client = client.clone();
        clients.spawn(async move {
            let mut client = client();
            for _ in 0..200 {
                let mut batch = common::batch(1);
                batch.events[0].id = vec![7; MIB].into();
                let _ = client.ingest(batch).await;
            }
        });
    }
    // Sample while the hostile clients run against the hanging store.
    let mut peak = 0;
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        peak = peak.max(rss(pid));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pending = pending_bytes(collector.metrics).await;
    eprintln!(
        "baseline {} MiB, peak {} MiB, bound {} MiB, pending {} MiB",
        baseline / MIB,
        peak / MIB,
        BOUND / MIB,
        pending / MIB
    );
    assert!(
        pending > MAX_PENDING / 2,
        "the hostile clients filled the budget: {pending}"
    );
    assert!(pending <= MAX_PENDING, "{pending} bytes held");
    assert!(peak <= BOUND, "peak {peak} bytes over the bound {BOUND}");

    // The clients leave and the store answers (with a permanent failure):
    // every held batch is let go, and the memory returns.
    hostile.shutdown_background();
    answering.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(60);
    while pending_bytes(collector.metrics).await > 0 {
        assert!(Instant::now() < deadline, "held batches were never let go");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let returned = baseline + 64 * MIB;
    let deadline = Instant::now() + Duration::from_secs(30);
    while rss(pid) > returned {
        assert!(
            Instant::now() < deadline,
            "resident memory {} MiB did not return below {} MiB",
            rss(pid) / MIB,
            returned / MIB
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("after the clients left: {} MiB", rss(pid) / MIB);
}
