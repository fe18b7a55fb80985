//! Generates the server side of `aires.v1.Collector` with the collector's
//! own request type: a batch arrives still encoded (`decode::EncodedBatch`)
//! and the pipeline's processors decode it straight into rows.

use tonic_build::manual::{Builder, Method, Service};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let method = |name: &str, route: &str, output: &str, codec: &str| {
        Method::builder()
            .name(name)
            .route_name(route)
            .input_type("crate::decode::EncodedBatch")
            .output_type(output)
            .codec_path(codec)
    };
    let service = Service::builder()
        .name("Collector")
        .package("aires.v1")
        .method(
            method(
                "ingest",
                "Ingest",
                "aires_proto::v1::IngestResponse",
                "crate::server::codec::UnaryBatchCodec",
            )
            .comment("Stores one batch. Answered once its accepted events are stored.")
            .build(),
        )
        .method(
            method(
                "ingest_stream",
                "IngestStream",
                "aires_proto::v1::IngestAck",
                "crate::server::codec::BatchCodec",
            )
            .comment("Stores a stream of batches, one ack per batch once it is stored.")
            .client_streaming()
            .server_streaming()
            .build(),
        )
        .build();
    // OTLP's LogsService, likewise taking a request still encoded: the
    // collector reads it in one pass (`otlp::transcode`) rather than
    // through prost's structs. Messages and paths as opentelemetry-proto's.
    let logs = Service::builder()
        .name("LogsService")
        .package("opentelemetry.proto.collector.logs.v1")
        .method(
            Method::builder()
                .name("export")
                .route_name("Export")
                .input_type("bytes::Bytes")
                .output_type(
                    "opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse",
                )
                .codec_path("crate::otlp::grpc::ExportCodec")
                .comment("Stores the log records of one request, answered once they are stored.")
                .build(),
        )
        .build();
    Builder::new()
        .build_client(false)
        .build_server(true)
        .compile(&[service, logs]);
}
