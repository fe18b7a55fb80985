//! The gRPC codecs of the Collector service: a request is taken as an
//! [`EncodedBatch`] (its top level read, its events left for the pipeline's
//! processors to decode into rows); answers are encoded by prost.
//! [`UnaryBatchCodec`] is `Ingest`'s: a unary call carries exactly one
//! batch, and a second message in it is refused rather than ignored.

use std::marker::PhantomData;

use aires_proto::codec::ProstEncoder;
use prost::bytes::Buf;
use tonic::codec::{Codec, DecodeBuf, Decoder};
use tonic::Status;

use crate::decode::EncodedBatch;

/// Takes requests as [`EncodedBatch`]es and encodes answers of type `E`;
/// with `UNARY`, a call carries one message only.
#[derive(Debug)]
pub struct MessageCodec<E, const UNARY: bool>(PhantomData<fn(E)>);

/// `IngestStream`'s codec.
pub type BatchCodec<E> = MessageCodec<E, false>;

/// `Ingest`'s codec: a second message is refused.
pub type UnaryBatchCodec<E> = MessageCodec<E, true>;

impl<E, const UNARY: bool> Default for MessageCodec<E, UNARY> {
    fn default() -> Self {
        MessageCodec(PhantomData)
    }
}

impl<E: prost::Message + Send + 'static, const UNARY: bool> Codec for MessageCodec<E, UNARY> {
    type Encode = E;
    type Decode = EncodedBatch;
    type Encoder = ProstEncoder<E>;
    type Decoder = BatchDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        BatchDecoder {
            unary: UNARY,
            seen: false,
        }
    }
}

/// Splits a request off as one `Bytes` (no copy) and reads its top level;
/// malformed input is `INVALID_ARGUMENT`, and so is a second message in a
/// unary call.
#[derive(Debug)]
pub struct BatchDecoder {
    unary: bool,
    seen: bool,
}

impl Decoder for BatchDecoder {
    type Item = EncodedBatch;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<EncodedBatch>, Status> {
        if self.unary && std::mem::replace(&mut self.seen, true) {
            return Err(Status::invalid_argument(
                "an Ingest call carries exactly one EventBatch, and this one has more; \
                 send each batch in its own call, or use IngestStream",
            ));
        }
        let encoded = src.copy_to_bytes(src.remaining());
        EncodedBatch::scan(encoded)
            .map(Some)
            .map_err(|e| Status::invalid_argument(format!("malformed protobuf message: {e}")))
    }
}
