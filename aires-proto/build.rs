//! Compiles `proto/aires/v1/*.proto` with protox (pure Rust), so building
//! needs no system `protoc`. With the `grpc` feature the tonic client of
//! the Collector service is generated too (the collector generates its own
//! server, which takes requests still encoded). With the `wide` feature it
//! also generates `aires.v1.wide` (see [`widen`]).

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
    if std::env::var_os("CARGO_FEATURE_WIDE").is_some() {
        let mut config = prost_build::Config::new();
        config.bytes(["."]);
        config.compile_fds(widen(descriptors.clone()))?;
    }
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

/// `event.proto` as the package `aires.v1.wide`, for reference decoders in
/// tests: every `uint32` and enum field becomes a `uint64`, so a value that
/// does not fit its declared type is seen whole instead of cut to its low
/// bits, and `EventBatch.events` stays encoded (`bytes`, the same wire
/// type), so each event can be decoded, and fail, on its own.
fn widen(mut set: prost_types::FileDescriptorSet) -> prost_types::FileDescriptorSet {
    use prost_types::field_descriptor_proto::Type;
    set.file
        .retain(|file| file.name() == "aires/v1/event.proto");
    for file in &mut set.file {
        file.package = Some("aires.v1.wide".into());
        for message in &mut file.message_type {
            let batch = message.name() == "EventBatch";
            for field in &mut message.field {
                match field.r#type() {
                    Type::Uint32 | Type::Enum => {
                        field.set_type(Type::Uint64);
                        field.type_name = None;
                    }
                    Type::Message if batch && field.name() == "events" => {
                        field.set_type(Type::Bytes);
                        field.type_name = None;
                    }
                    _ => {}
                }
                if let Some(name) = &mut field.type_name {
                    *name = name.replace(".aires.v1.", ".aires.v1.wide.");
                }
            }
        }
    }
    set
}
