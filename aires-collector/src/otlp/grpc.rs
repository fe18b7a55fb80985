//! `opentelemetry.proto.collector.logs.v1.LogsService/Export` over gRPC,
//! served on the collector's gRPC listener (see [`crate::start`], which
//! puts it behind the same API keys, limits and refusal counting as
//! `aires.v1.Collector`).

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::LogsService;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use tonic::{Request, Response, Status};

pub use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::LogsServiceServer;

use super::LogsIngest;

/// The OTLP logs service over a [`LogsIngest`].
#[derive(Clone, Debug)]
pub struct OtlpLogsService(pub LogsIngest);

#[tonic::async_trait]
impl LogsService for OtlpLogsService {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let scope = crate::server::scope_of(&request);
        self.0
            .export(request.into_inner(), scope)
            .await
            .map(Response::new)
    }
}
