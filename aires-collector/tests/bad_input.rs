//! Bad input gets a clear status and loses nothing else: malformed
//! protobuf, oversized messages, invalid events beside valid ones.

mod common;

#[path = "common/raw.rs"]
mod raw;

use std::sync::Arc;

use aires_proto::v1 as proto;
use bytes::Bytes;
use common::*;
use raw::*;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_protobuf_is_invalid_argument() {
    let sink = Arc::new(MemorySink::default());
    let collector = collector(sink.clone(), |_| {}).await;
    // Field 4 (events) claims 200 bytes but only 3 follow.
    let garbage = Bytes::from_static(&[0x22, 0xc8, 0x01, 1, 2, 3]);
    let status = raw_ingest(&collector, garbage).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("malformed protobuf"),
        "{}",
        status.message()
    );
    // The collector is unharmed and still stores valid batches.
    let response = client(&collector)
        .await
        .ingest(batch(3))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.accepted, 3);
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_does_not_decode_is_refused_alone_and_its_neighbours_stored() {
    use prost::Message;
    let sink = Arc::new(MemorySink::default());
    let collector = collector(sink.clone(), |_| {}).await;
    // The top level is well formed; the second event's message is not UTF-8.
    let bad = batch(3);
    let encoded = with_malformed_message(bad.clone(), 1);
    let response = raw_ingest(&collector, encoded.clone().into())
        .await
        .unwrap();
    assert_eq!((response.accepted, response.rejected), (2, 1));
    assert_eq!(response.rejections[0].index, 1);
    assert!(
        response.rejections[0]
            .reason
            .starts_with("malformed event: Event.message: invalid string value"),
        "{}",
        response.rejections[0].reason
    );
    assert_eq!(indexes(&sink.rows()), [0, 2]);
    // A retry of the same bytes is answered from memory, not stored again.
    let retry = raw_ingest(&collector, encoded.into()).await.unwrap();
    assert_eq!((retry.accepted, retry.rejected), (2, 1));
    // The same batch id with other content is refused, not taken as stored.
    let status = raw_ingest(&collector, bad.encode_to_vec().into())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    assert!(
        status.message().contains("other content"),
        "{}",
        status.message()
    );
    assert_eq!(indexes(&sink.rows()), [0, 2]);
    let text = http_get(collector.metrics_addr(), "/metrics").await;
    for line in [
        "aires_collector_requests_rejected_total 1",
        "aires_collector_requests_cancelled_total 0",
        "aires_collector_batches_deduplicated_total 1",
        "aires_collector_events_received_total 3",
        "aires_collector_events_rejected_total 1",
        "aires_collector_events_inserted_total 2",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_refuses_an_event_that_does_not_decode_and_stores_its_neighbours() {
    use prost::Message;
    let sink = Arc::new(MemorySink::default());
    let collector = collector(sink.clone(), |_| {}).await;
    let (first, second) = (batch(2), batch(2));
    let bad = batch(3);
    let bad_encoded = with_malformed_message(bad.clone(), 2);
    let bodies: Vec<Bytes> = vec![
        first.encode_to_vec().into(),
        bad_encoded.into(),
        second.encode_to_vec().into(),
    ];
    let mut acks = raw_client(&collector)
        .await
        .streaming(
            tonic::Request::new(tokio_stream::iter(bodies)),
            http::uri::PathAndQuery::from_static("/aires.v1.Collector/IngestStream"),
            RawCodec::<proto::IngestAck>::default(),
        )
        .await
        .unwrap()
        .into_inner();
    let mut answers = Vec::new();
    while let Some(ack) = acks.message().await.unwrap() {
        answers.push(ack);
    }
    answers.sort_by_key(|ack| ack.batch_id.clone());
    let mut expected = [first.batch_id, bad.batch_id.clone(), second.batch_id];
    expected.sort();
    assert_eq!(
        answers
            .iter()
            .map(|a| a.batch_id.clone())
            .collect::<Vec<_>>(),
        expected
    );
    for ack in &answers {
        assert!(ack.error.is_none(), "{ack:?}");
        if ack.batch_id == bad.batch_id {
            assert_eq!((ack.accepted, ack.rejected), (2, 1));
            assert_eq!(ack.rejections[0].index, 2);
        } else {
            assert_eq!((ack.accepted, ack.rejected), (2, 0));
        }
    }
    assert_eq!(sink.row_count(), 6);
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_unary_message_is_resource_exhausted_naming_the_limit() {
    let sink = Arc::new(MemorySink::default());
    let collector = collector(sink.clone(), |c| c.max_message_bytes = 4096).await;
    let mut big = batch(1);
    big.events[0].message = "x".repeat(10_000);
    let status = client(&collector).await.ingest(big).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("4096 bytes"),
        "{}",
        status.message()
    );
    assert_eq!(sink.row_count(), 0);
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_stream_message_ends_the_stream_naming_the_limit() {
    let sink = Arc::new(MemorySink::default());
    let collector = collector(sink.clone(), |c| c.max_message_bytes = 4096).await;
    let mut big = batch(1);
    big.events[0].message = "x".repeat(10_000);
    let small = batch(2);
    let small_id = small.batch_id.clone();
    let mut acks = client(&collector)
        .await
        .ingest_stream(tokio_stream::iter(vec![small, big]))
        .await
        .unwrap()
        .into_inner();
    // The batch before the oversized one is stored and acknowledged...
    let ack = acks.message().await.unwrap().expect("an ack");
    assert_eq!((ack.batch_id, ack.accepted), (small_id, 2));
    // ...then the stream ends with the limit named.
    let status = acks.message().await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("4096 bytes"),
        "{}",
        status.message()
    );
    assert_eq!(sink.row_count(), 2);
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_events_are_rejected_with_reasons_and_the_rest_kept() {
    let sink = Arc::new(MemorySink::default());
    let collector = collector(sink.clone(), |_| {}).await;
    let mut mixed = batch(5);
    mixed.events[1].trace_id = vec![9; 3].into();
    mixed.events[3].severity = 42;
    let response = client(&collector)
        .await
        .ingest(mixed)
        .await
        .unwrap()
        .into_inner();
    assert_eq!((response.accepted, response.rejected), (3, 2));
    let reasons: Vec<(u32, String)> = response
        .rejections
        .iter()
        .map(|r| (r.index, r.reason.clone()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (1, "trace_id must be 16 bytes, got 3".to_string()),
            (3, "unknown severity 42".to_string())
        ]
    );
    let mut stored: Vec<String> = sink.rows().iter().map(|r| r.message.to_string()).collect();
    stored.sort();
    assert_eq!(stored, ["event 0", "event 2", "event 4"]);
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_transport_reports_rejected_events_in_its_receipt() {
    use aires_core::transport::Transport;
    use prost::Message;
    let sink = Arc::new(MemorySink::default());
    let collector = collector(sink.clone(), |_| {}).await;
    for mode in [
        aires_transport_grpc::Mode::Unary,
        aires_transport_grpc::Mode::Streaming,
    ] {
        let transport = aires_transport_grpc::GrpcTransport::new(
            aires_transport_grpc::GrpcConfig::new(endpoint(&collector)).mode(mode),
        )
        .unwrap();
        let mut mixed = batch(3);
        mixed.events[2].span_id = vec![1].into();
        let id = aires_core::Uuid7::from_bytes(mixed.batch_id.as_ref().try_into().unwrap());
        let encoded = aires_core::transport::EncodedBatch::new(id, mixed.encode_to_vec(), 3);
        let receipt = transport.send(encoded).await.unwrap();
        assert_eq!(receipt.rejected, 1, "{mode:?}");
        let reason = receipt.reason.unwrap();
        assert!(
            reason.contains("event 2: span_id must be 8 bytes, got 1"),
            "{reason}"
        );
    }
    assert_eq!(sink.row_count(), 4);
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_and_mutated_input_never_breaks_the_collector() {
    use prost::Message;
    let sink = Arc::new(MemorySink::default());
    let collector = collector(sink.clone(), |_| {}).await;
    let valid = batch(4).encode_to_vec();
    // xorshift64*: a fixed seed keeps failures reproducible.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    for round in 0..300 {
        let body: Vec<u8> = if round % 2 == 0 {
            let len = (next() % 512) as usize;
            (0..len).map(|_| next() as u8).collect()
        } else {
            let mut mutated = valid.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() as usize) % mutated.len();
                mutated[at] ^= 1 << (next() % 8);
            }
            mutated
        };
        match raw_ingest(&collector, Bytes::from(body)).await {
            Ok(response) => assert!(response.accepted + response.rejected <= 4 || round % 2 == 0),
            Err(status) => assert!(
                matches!(
                    status.code(),
                    Code::InvalidArgument
                        | Code::ResourceExhausted
                        | Code::FailedPrecondition
                        | Code::AlreadyExists
                ),
                "round {round}: unexpected {status:?}"
            ),
        }
    }
    // Still serving, and still correct.
    let response = client(&collector)
        .await
        .ingest(batch(3))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.accepted, 3);
    collector.shutdown().await.unwrap();
}
