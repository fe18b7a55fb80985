//! Whether a failed send may have delivered its batch, over real sockets:
//! a connection never made is "not delivered"; a connection lost after the
//! batch went out leaves the outcome unknown.

use std::time::Duration;

use aires_core::transport::{EncodedBatch, Transport};
use aires_core::Uuid7;
use aires_transport_grpc::{GrpcConfig, GrpcTransport, Mode};
use tokio::io::AsyncReadExt;

fn batch(bytes: usize) -> EncodedBatch {
    EncodedBatch::new(Uuid7::now(), vec![0u8; bytes], 1)
}

fn transport(port: u16, mode: Mode) -> GrpcTransport {
    let config = GrpcConfig::new(format!("http://127.0.0.1:{port}"))
        .mode(mode)
        .timeout(Duration::from_secs(10));
    GrpcTransport::new(config).unwrap()
}

#[tokio::test]
async fn a_refused_connection_is_retryable_and_known_not_delivered() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    for mode in [Mode::Unary, Mode::Streaming] {
        let error = transport(port, mode).send(batch(10)).await.unwrap_err();
        assert!(error.is_retryable(), "{mode:?}: {error}");
        assert!(!error.is_outcome_unknown(), "{mode:?}: {error}");
    }
}

/// A server that reads everything a client sends until it goes quiet,
/// then drops the connection without a word; resolves to the bytes read.
async fn silent_server() -> (u16, tokio::task::JoinHandle<usize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut seen = 0;
        let mut buf = vec![0u8; 16 * 1024];
        let quiet = Duration::from_millis(300);
        while let Ok(Ok(n)) = tokio::time::timeout(quiet, socket.read(&mut buf)).await {
            if n == 0 {
                break;
            }
            seen += n;
        }
        seen
    });
    (port, server)
}

const PAYLOAD: usize = 4 * 1024;

#[tokio::test]
async fn a_unary_call_whose_connection_is_lost_after_sending_is_an_unknown_outcome() {
    let (port, server) = silent_server().await;
    let error = transport(port, Mode::Unary)
        .send(batch(PAYLOAD))
        .await
        .unwrap_err();
    assert!(server.await.unwrap() >= PAYLOAD, "the batch went out");
    assert!(error.is_retryable(), "{error}");
    assert!(error.is_outcome_unknown(), "{error}");
}

#[tokio::test]
async fn a_stream_that_never_opened_sent_nothing_and_says_so() {
    // The server never answers the call's headers: the stream does not
    // open, and no batch is put on it.
    let (port, server) = silent_server().await;
    let error = transport(port, Mode::Streaming)
        .send(batch(PAYLOAD))
        .await
        .unwrap_err();
    assert!(server.await.unwrap() < PAYLOAD, "the batch was not sent");
    assert!(error.is_retryable(), "{error}");
    assert!(!error.is_outcome_unknown(), "{error}");
}
