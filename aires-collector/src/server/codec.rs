//! The gRPC codec of the Collector service: a request is taken as an
//! [`EncodedBatch`] (its top level read, its events left for the pipeline's
//! processors to decode into rows); answers are encoded by prost.

use std::marker::PhantomData;

use aires_proto::codec::ProstEncoder;
use prost::bytes::Buf;
use tonic::codec::{Codec, DecodeBuf, Decoder};
use tonic::Status;

use crate::decode::EncodedBatch;

/// Takes requests as [`EncodedBatch`]es and encodes answers of type `E`.
#[derive(Debug)]
pub struct BatchCodec<E>(PhantomData<fn(E)>);

impl<E> Default for BatchCodec<E> {
    fn default() -> Self {
        BatchCodec(PhantomData)
    }
}

impl<E: prost::Message + Send + 'static> Codec for BatchCodec<E> {
    type Encode = E;
    type Decode = EncodedBatch;
    type Encoder = ProstEncoder<E>;
    type Decoder = BatchDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        BatchDecoder
    }
}

/// Splits a request off as one `Bytes` (no copy) and reads its top level;
/// malformed input is `INVALID_ARGUMENT`.
#[derive(Debug)]
pub struct BatchDecoder;

impl Decoder for BatchDecoder {
    type Item = EncodedBatch;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<EncodedBatch>, Status> {
        let encoded = src.copy_to_bytes(src.remaining());
        EncodedBatch::scan(encoded)
            .map(Some)
            .map_err(|e| Status::invalid_argument(format!("malformed protobuf message: {e}")))
    }
}
