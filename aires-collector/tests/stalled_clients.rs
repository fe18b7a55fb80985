//! Clients that take a place among the calls in progress and then stall
//! mid-message: each is answered once `--request-read-timeout-secs` passes
//! (gRPC DEADLINE_EXCEEDED, HTTP 503 with Retry-After, which OTLP clients
//! retry) and gives its place back, so the
//! other clients' calls go through. Without the timeout, as many stalled
//! calls as `--max-concurrent-requests` held every other call forever.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aires_proto::v1 as proto;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Long enough for any test here to pass; a stalled call holds its place
/// for `READ_TIMEOUT`.
const DEADLINE: Duration = Duration::from_secs(30);
const READ_TIMEOUT_SECS: u64 = 1;

/// An `Ingest` call that sends its headers and then nothing, never ending
/// its request: the status it is answered with.
async fn stalled_ingest(collector: &aires_collector::RunningCollector) -> tonic::Status {
    let channel = tonic::transport::Endpoint::from_shared(endpoint(collector))
        .unwrap()
        .connect()
        .await
        .expect("connects");
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    let never = tokio_stream::pending::<proto::EventBatch>();
    let path = http::uri::PathAndQuery::from_static("/aires.v1.Collector/Ingest");
    let codec =
        aires_proto::codec::ProstCodec::<proto::EventBatch, proto::IngestResponse>::default();
    grpc.client_streaming(tonic::Request::new(never), path, codec)
        .await
        .expect_err("a stalled call is not stored")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_grpc_calls_are_answered_and_give_their_places_back() {
    let sink = Arc::new(MemorySink::default());
    let collector = collector(sink.clone(), |c| {
        c.max_concurrent_requests = 2;
        c.request_read_timeout_secs = READ_TIMEOUT_SECS;
    })
    .await;
    let started = Instant::now();
    // Every place taken by a stalled call, and a well-behaved call behind
    // them.
    let good = async {
        let mut client = client(&collector).await;
        client.ingest(batch(3)).await
    };
    let (first, second, good) = tokio::time::timeout(DEADLINE, async {
        tokio::join!(stalled_ingest(&collector), stalled_ingest(&collector), good)
    })
    .await
    .expect("the stalled calls held every place");
    let stalled = [first, second];
    for status in stalled {
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
        assert!(
            status.message().contains("request_read_timeout_secs"),
            "{status:?}"
        );
    }
    assert_eq!(good.expect("stored").into_inner().accepted, 3);
    assert!(started.elapsed() >= Duration::from_secs(READ_TIMEOUT_SECS));
    assert!(wait_until(DEADLINE, || sink.row_count() == 3).await);
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_otlp_http_request_is_answered_503_and_the_next_is_served() {
    let sink = Arc::new(MemorySink::default());
    let collector = collector(sink.clone(), |c| {
        c.max_concurrent_requests = 1;
        c.request_read_timeout_secs = READ_TIMEOUT_SECS;
        c.otlp_http_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let addr = collector.otlp_http_addr().unwrap();
    // Promises 1,000 bytes, sends 10, and waits.
    let mut stalled = tokio::net::TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(
            b"POST /v1/logs HTTP/1.1\r\nHost: c\r\nContent-Type: application/x-protobuf\r\n\
              Content-Length: 1000\r\n\r\n0123456789",
        )
        .await
        .unwrap();
    // An empty request behind it, on its own connection.
    let good = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(
                b"POST /v1/logs HTTP/1.1\r\nHost: c\r\nContent-Type: application/x-protobuf\r\n\
                  Content-Length: 0\r\nConnection: close\r\n\r\n",
            )
            .await
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
    };
    let stalled_answer = async {
        let mut answer = vec![0u8; 4096];
        let n = stalled.read(&mut answer).await.unwrap();
        String::from_utf8_lossy(&answer[..n]).into_owned()
    };
    let (stalled_answer, good) =
        tokio::time::timeout(DEADLINE, async { tokio::join!(stalled_answer, good) })
            .await
            .expect("the stalled request held the only place");
    assert!(
        stalled_answer.starts_with("HTTP/1.1 503"),
        "{stalled_answer}"
    );
    assert!(
        stalled_answer
            .to_ascii_lowercase()
            .contains("retry-after: 1"),
        "{stalled_answer}"
    );
    assert!(
        stalled_answer.contains("request_read_timeout_secs"),
        "{stalled_answer}"
    );
    assert!(good.starts_with("HTTP/1.1 200"), "{good}");
    collector.shutdown().await.unwrap();
}
