//! API keys and TLS, with the real transport.

mod common;

use std::sync::Arc;

use aires_core::transport::Transport;
use aires_transport_grpc::{GrpcConfig, GrpcTransport};
use common::*;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_need_a_valid_api_key_when_keys_are_set() {
    let sink = Arc::new(MemorySink::default());
    let collector = collector(sink.clone(), |c| {
        c.api_keys = vec!["k-1".into(), "k-2".into()]
    })
    .await;

    let missing = client(&collector).await.ingest(batch(1)).await.unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated);
    assert!(
        missing.message().contains("missing API key"),
        "{}",
        missing.message()
    );

    let wrong = GrpcTransport::new(GrpcConfig::new(endpoint(&collector)).api_key("nope")).unwrap();
    let error = wrong.send(encoded(batch(1))).await.unwrap_err();
    assert!(!error.is_retryable(), "a wrong key is permanent: {error}");
    assert!(error.to_string().contains("invalid API key"), "{error}");

    let sdk = sdk(GrpcConfig::new(endpoint(&collector)).api_key("k-2"), |c| c);
    emit(&sdk, 10);
    flush(&sdk).await;
    assert_eq!(sink.row_count(), 10);
    shutdown_sdk(sdk).await;
    collector.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_custom_ca() {
    let pki = TestPki::new();
    let dir = std::env::temp_dir().join(format!("aires-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_path, key_path) = (dir.join("server.pem"), dir.join("server.key"));
    std::fs::write(&cert_path, &pki.server_cert_pem).unwrap();
    std::fs::write(&key_path, &pki.server_key_pem).unwrap();

    let sink = Arc::new(MemorySink::default());
    let collector = collector(sink.clone(), |c| {
        c.tls_cert = Some(cert_path.clone());
        c.tls_key = Some(key_path.clone());
    })
    .await;
    let https = format!("https://127.0.0.1:{}", collector.grpc_addr().port());

    // Trusting the test CA: delivered.
    let sdk = sdk(
        GrpcConfig::new(&https)
            .tls_ca_pem(pki.ca_cert_pem.clone())
            .tls_domain("localhost"),
        |c| c,
    );
    emit(&sdk, 25);
    flush(&sdk).await;
    assert_eq!(sink.row_count(), 25);
    shutdown_sdk(sdk).await;

    // Without the CA the certificate is not trusted and nothing is stored.
    let untrusting = GrpcTransport::new(GrpcConfig::new(&https).tls_domain("localhost")).unwrap();
    let error = untrusting.send(encoded(batch(1))).await.unwrap_err();
    let chain = error_chain(&error);
    assert!(
        chain.contains("certificate") || chain.contains("UnknownIssuer"),
        "{chain}"
    );
    // Plain text against a TLS port fails too.
    let plain = GrpcTransport::new(GrpcConfig::new(endpoint(&collector))).unwrap();
    assert!(plain.send(encoded(batch(1))).await.is_err());
    assert_eq!(sink.row_count(), 25);

    collector.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

fn encoded(batch: aires_proto::v1::EventBatch) -> aires_core::transport::EncodedBatch {
    use prost::Message;
    aires_core::transport::EncodedBatch::new(
        aires_core::Uuid7::from_bytes(batch.batch_id.as_ref().try_into().unwrap()),
        batch.encode_to_vec(),
        batch.events.len(),
    )
}

/// A CA and a server certificate for `localhost` signed by it, made fresh
/// for the test.
struct TestPki {
    ca_cert_pem: String,
    server_cert_pem: String,
    server_key_pem: String,
}

impl TestPki {
    fn new() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Aires test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate().unwrap();
        let server_params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();
        TestPki {
            ca_cert_pem: ca_cert.pem(),
            server_cert_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
        }
    }
}

/// An error and all its sources, as one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
