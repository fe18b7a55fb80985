//! The protobuf codec of the generated Collector client.
//!
//! tonic's stock prost codec reports a message that does not decode as
//! `INTERNAL`; this one says `INVALID_ARGUMENT`, with prost's description
//! of what is wrong. (The collector's server takes requests still encoded,
//! with its own decoder, and answers with [`ProstEncoder`].)

use std::marker::PhantomData;

use prost::bytes::Buf;
use prost::Message;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Status;

/// A prost codec whose decode errors are `INVALID_ARGUMENT`.
#[derive(Debug)]
pub struct ProstCodec<E, D>(PhantomData<fn(E) -> D>);

impl<E, D> Default for ProstCodec<E, D> {
    fn default() -> Self {
        ProstCodec(PhantomData)
    }
}

impl<E, D> Codec for ProstCodec<E, D>
where
    E: Message + Send + 'static,
    D: Message + Default + Send + 'static,
{
    type Encode = E;
    type Decode = D;
    type Encoder = ProstEncoder<E>;
    type Decoder = ProstDecoder<D>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstDecoder(PhantomData)
    }
}

/// Encodes a prost message.
#[derive(Debug)]
pub struct ProstEncoder<E>(PhantomData<fn(E)>);

impl<E> Default for ProstEncoder<E> {
    fn default() -> Self {
        ProstEncoder(PhantomData)
    }
}

impl<E: Message> Encoder for ProstEncoder<E> {
    type Item = E;
    type Error = Status;

    fn encode(&mut self, item: E, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|e| Status::internal(format!("cannot encode message: {e}")))
    }
}

/// Decodes a prost message; malformed input is `INVALID_ARGUMENT`.
#[derive(Debug)]
pub struct ProstDecoder<D>(PhantomData<fn() -> D>);

impl<D: Message + Default> Decoder for ProstDecoder<D> {
    type Item = D;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<D>, Status> {
        // Split the message off as one `Bytes` (no copy) and decode from
        // that: reading field by field through `DecodeBuf` advances a
        // `BytesMut` per read, and `bytes` fields become zero-copy slices.
        let encoded = src.copy_to_bytes(src.remaining());
        D::decode(encoded)
            .map(Some)
            .map_err(|e| Status::invalid_argument(format!("malformed protobuf message: {e}")))
    }
}
