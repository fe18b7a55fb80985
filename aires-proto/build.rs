//! Compiles `proto/aires/v1/*.proto` with protox (pure Rust), so building
//! needs no system `protoc`. With the `grpc` feature the tonic client of
//! the Collector service is generated too (the collector generates its own
//! server, which takes requests still encoded).

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../proto");
    let files = [
        root.join("aires/v1/event.proto"),
        root.join("aires/v1/collector.proto"),
    ];
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let descriptors = protox::compile(&files, [&root])?;
    let mut config = prost_build::Config::new();
    config.bytes(["."]);
    // Most events have neither; inline, they would make every decoded
    // `Event` (and every move of one) a few hundred bytes larger.
    config.boxed(".aires.v1.Event.http");
    config.boxed(".aires.v1.Event.error");
    if std::env::var_os("CARGO_FEATURE_GRPC").is_some() {
        tonic_prost_build::configure()
            .build_client(true)
            .build_server(false)
            .codec_path("crate::codec::ProstCodec")
            .compile_fds_with_config(descriptors, config)?;
    } else {
        config.compile_fds(descriptors)?;
    }
    Ok(())
}
