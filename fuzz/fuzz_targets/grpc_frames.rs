//! Any bytes as the body of a gRPC request (length-prefixed frames),
//! through tonic's `Streaming` with the collector's codecs, as the server
//! reads `Ingest` (`UnaryBatchCodec`) and `IngestStream` (`BatchCodec`)
//! requests: no panic (errors are fine), a unary call yields at most one
//! batch, and every batch that comes out decodes within its invariants.
//!
//! The first byte of the input sets the call, the rest is the body:
//! - bit 0: unary (`Ingest`) or streaming (`IngestStream`);
//! - bits 1-2: the request's `grpc-encoding`: none, gzip, zstd, none;
//! - bit 3: a largest message of 256 bytes instead of the collector's
//!   default, 4 MiB;
//! - bits 4-7: N, the body arrives in chunks of N bytes (0: in one).
#![no_main]

use std::convert::Infallible;
use std::sync::LazyLock;

use aires_collector::server::codec::{BatchCodec, UnaryBatchCodec};
use aires_collector_fuzz::{check_decoded, DIGEST, NOW};
use aires_proto::v1::{IngestAck, IngestResponse};
use bytes::Bytes;
use http_body::Frame;
use http_body_util::StreamBody;
use libfuzzer_sys::fuzz_target;
use tokio::runtime::Runtime;
use tonic::codec::{Codec, CompressionEncoding, Streaming};

static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime")
});

/// The collector's default largest message (`--max-message-bytes`).
const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&settings, body)) = data.split_first() else {
        return;
    };
    let unary = settings & 1 != 0;
    let encoding = match (settings >> 1) & 3 {
        1 => Some(CompressionEncoding::Gzip),
        2 => Some(CompressionEncoding::Zstd),
        _ => None,
    };
    let max_message_size = if settings & 8 != 0 {
        256
    } else {
        MAX_MESSAGE_BYTES
    };
    let chunk = usize::from(settings >> 4);

    let body = Bytes::copy_from_slice(body);
    let chunks: Vec<Bytes> = if chunk == 0 {
        vec![body]
    } else {
        (0..body.len())
            .step_by(chunk)
            .map(|at| body.slice(at..(at + chunk).min(body.len())))
            .collect()
    };
    let body = StreamBody::new(tokio_stream::iter(
        chunks
            .into_iter()
            .map(|chunk| Ok::<_, Infallible>(Frame::data(chunk))),
    ));
    let decoder = if unary {
        UnaryBatchCodec::<IngestResponse>::default().decoder()
    } else {
        BatchCodec::<IngestAck>::default().decoder()
    };
    let mut stream = Streaming::new_request(decoder, body, encoding, Some(max_message_size));

    RUNTIME.block_on(async {
        let mut batches = 0;
        while let Ok(Some(batch)) = stream.message().await {
            batches += 1;
            assert!(!unary || batches == 1, "a unary call gave a second batch");
            assert!(batch.encoded.len() <= max_message_size);
            let out = batch.decode(NOW, DIGEST);
            check_decoded(&batch.encoded, batch.events, &out);
        }
    });
});
