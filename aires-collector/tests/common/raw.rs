//! A raw gRPC client of the collector, for bad input: it sends bodies as
//! they are, whatever they hold.

#![allow(dead_code)]

use std::marker::PhantomData;

use aires_proto::v1 as proto;
use bytes::{BufMut, Bytes};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Status;

use super::common::endpoint;

/// Sends arbitrary bytes as the request message.
#[derive(Default)]
pub struct RawCodec<R>(PhantomData<R>);

pub struct RawEncoder;
pub struct ProstDecoder<R>(PhantomData<R>);

impl<R: prost::Message + Default + Send + 'static> Codec for RawCodec<R> {
    type Encode = Bytes;
    type Decode = R;
    type Encoder = RawEncoder;
    type Decoder = ProstDecoder<R>;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> ProstDecoder<R> {
        ProstDecoder(PhantomData)
    }
}

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl<R: prost::Message + Default> Decoder for ProstDecoder<R> {
    type Item = R;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<R>, Status> {
        R::decode(src)
            .map(Some)
            .map_err(|e| Status::internal(e.to_string()))
    }
}

/// A gRPC client of `collector` that sends bodies as they are.
pub async fn raw_client(
    collector: &aires_collector::RunningCollector,
) -> tonic::client::Grpc<tonic::transport::Channel> {
    raw_client_at(&endpoint(collector)).await
}

/// A gRPC client of the collector at `endpoint` that sends bodies as they
/// are.
pub async fn raw_client_at(endpoint: &str) -> tonic::client::Grpc<tonic::transport::Channel> {
    let channel = tonic::transport::Channel::from_shared(endpoint.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    grpc
}

/// `batch` encoded with its event `index`'s message made invalid UTF-8.
pub fn with_malformed_message(mut batch: proto::EventBatch, index: usize) -> Vec<u8> {
    use prost::Message;
    batch.events[index].message = "MARK".into();
    let mut encoded = batch.encode_to_vec();
    let at = encoded.windows(4).position(|w| w == b"MARK").unwrap();
    encoded[at] = 0xff;
    encoded
}

pub async fn raw_ingest(
    collector: &aires_collector::RunningCollector,
    body: Bytes,
) -> Result<proto::IngestResponse, Status> {
    raw_client(collector)
        .await
        .unary(
            tonic::Request::new(body),
            http::uri::PathAndQuery::from_static("/aires.v1.Collector/Ingest"),
            RawCodec::<proto::IngestResponse>::default(),
        )
        .await
        .map(|r| r.into_inner())
}
