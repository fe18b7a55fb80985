//! The protobuf codec of the generated Collector service.
//!
//! tonic's stock prost codec reports a message that does not decode as
//! `INTERNAL`; a malformed request is the client's fault, so this one says
//! `INVALID_ARGUMENT`, with prost's description of what is wrong.

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

/// A message decoded by this codec; it may size its containers from the
/// encoded bytes before prost fills them.
pub trait Presize: Message + Default {
    /// An empty message ready for `encoded` to be merged into.
    fn presized(_encoded: &[u8]) -> Self {
        Self::default()
    }
}

impl Presize for crate::v1::IngestResponse {}
impl Presize for crate::v1::IngestAck {}

/// The events of a batch are counted first (a scan of the top-level keys),
/// so the vector prost pushes them into is allocated once: growing it by
/// doubling copied every decoded event several times per request.
impl Presize for crate::v1::EventBatch {
    fn presized(encoded: &[u8]) -> Self {
        /// Field number of `EventBatch.events`.
        const EVENTS: u64 = 4;
        /// A bound on the reservation, whatever a request claims.
        const MAX_RESERVED: usize = 1 << 16;
        let mut events = 0usize;
        let mut rest = encoded;
        while !rest.is_empty() {
            let Ok(key) = prost::encoding::decode_varint(&mut rest) else {
                break;
            };
            let skip = match key & 7 {
                0 => match prost::encoding::decode_varint(&mut rest) {
                    Ok(_) => 0,
                    Err(_) => break,
                },
                1 => 8,
                2 => match prost::encoding::decode_varint(&mut rest) {
                    Ok(len) => len as usize,
                    Err(_) => break,
                },
                5 => 4,
                // Malformed: prost's decode reports it.
                _ => break,
            };
            if skip > rest.len() {
                break;
            }
            rest = &rest[skip..];
            if key >> 3 == EVENTS && key & 7 == 2 {
                events += 1;
            }
        }
        crate::v1::EventBatch {
            events: Vec::with_capacity(events.min(MAX_RESERVED)),
            ..Default::default()
        }
    }
}

impl<E, D> Codec for ProstCodec<E, D>
where
    E: Message + Send + 'static,
    D: Presize + Send + 'static,
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

impl<D: Presize> Decoder for ProstDecoder<D> {
    type Item = D;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<D>, Status> {
        // Split the message off as one `Bytes` (no copy) and decode from
        // that: reading field by field through `DecodeBuf` advances a
        // `BytesMut` per read, and `bytes` fields become zero-copy slices.
        let encoded = src.copy_to_bytes(src.remaining());
        let mut message = D::presized(&encoded);
        message
            .merge(encoded)
            .map(|()| Some(message))
            .map_err(|e| Status::invalid_argument(format!("malformed protobuf message: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::{Event, EventBatch};

    #[test]
    fn a_batch_is_presized_to_its_event_count_and_decodes_the_same() {
        let batch = EventBatch {
            batch_id: vec![7; 16].into(),
            service: "checkout".into(),
            events: (0..37)
                .map(|i| Event {
                    message: format!("event {i}"),
                    timestamp_unix_nano: i,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let encoded = batch.encode_to_vec();
        let presized = EventBatch::presized(&encoded);
        assert_eq!(presized.events.capacity(), 37);
        let mut decoded = presized;
        decoded.merge(&encoded[..]).unwrap();
        assert_eq!(decoded, batch);
    }

    #[test]
    fn malformed_input_is_not_counted_past_the_error() {
        // A length that runs past the end, then garbage.
        let presized = EventBatch::presized(&[0x22, 0x7f, 0x01, 0xff]);
        assert_eq!(presized.events.capacity(), 0);
        assert!(EventBatch::decode(&[0x22, 0x7f, 0x01, 0xff][..]).is_err());
    }
}
