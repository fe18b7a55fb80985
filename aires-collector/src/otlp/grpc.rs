//! `opentelemetry.proto.collector.logs.v1.LogsService/Export` over gRPC,
//! served on the collector's gRPC listener (see [`crate::start`], which
//! puts it behind the same API keys, limits and refusal counting as
//! `aires.v1.Collector`). The request is taken still encoded and read in
//! one pass by [`super::transcode`].

// The generated server (module `logs_service_server`), see `build.rs`.
include!(concat!(
    env!("OUT_DIR"),
    "/opentelemetry.proto.collector.logs.v1.LogsService.rs"
));

use std::marker::PhantomData;

use aires_proto::codec::ProstEncoder;
use bytes::{Buf, Bytes};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use tonic::codec::{Codec, DecodeBuf, Decoder};
use tonic::{Request, Response, Status};

pub use logs_service_server::LogsServiceServer;

use super::LogsIngest;

/// The OTLP logs service over a [`LogsIngest`].
#[derive(Clone, Debug)]
pub struct OtlpLogsService(pub LogsIngest);

#[tonic::async_trait]
impl logs_service_server::LogsService for OtlpLogsService {
    async fn export(
        &self,
        request: Request<Bytes>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let scope = crate::server::scope_of(&request);
        self.0
            .export(request.get_ref(), scope)
            .await
            .map(Response::new)
    }
}

/// Takes an `Export` request as its bytes (one message per call; a second
/// is refused) and encodes the answer with prost.
#[derive(Debug)]
pub struct ExportCodec<E>(PhantomData<fn(E)>);

impl<E> Default for ExportCodec<E> {
    fn default() -> Self {
        ExportCodec(PhantomData)
    }
}

impl<E: prost::Message + Send + 'static> Codec for ExportCodec<E> {
    type Encode = E;
    type Decode = Bytes;
    type Encoder = ProstEncoder<E>;
    type Decoder = RequestBytes;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        RequestBytes { seen: false }
    }
}

/// A unary request's message as one `Bytes` (no copy).
#[derive(Debug)]
pub struct RequestBytes {
    seen: bool,
}

impl Decoder for RequestBytes {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        if std::mem::replace(&mut self.seen, true) {
            return Err(Status::invalid_argument(
                "an Export call carries exactly one ExportLogsServiceRequest",
            ));
        }
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
