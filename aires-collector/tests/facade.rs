//! An application using only the `aires` facade reaches a collector named
//! by `AIRES_ENDPOINT`, through the default gRPC transport.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aires_endpoint_selects_the_grpc_transport() {
    let sink = Arc::new(MemorySink::default());
    let collector = collector(sink.clone(), |_| {}).await;
    // The only test in this binary, so nothing else reads the variable.
    std::env::set_var("AIRES_ENDPOINT", endpoint(&collector));
    std::env::set_var("AIRES_COMPRESSION", "zstd");
    let guard = tokio::task::spawn_blocking(|| aires::init(aires::Config::new("facade-app")))
        .await
        .unwrap()
        .expect("init with AIRES_ENDPOINT");
    std::env::remove_var("AIRES_ENDPOINT");
    std::env::remove_var("AIRES_COMPRESSION");
    for i in 0..20 {
        aires::info!("through the facade", i = i);
    }
    tokio::task::spawn_blocking(move || guard.shutdown(Duration::from_secs(20)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(indexes(&sink.rows()), (0..20).collect::<Vec<_>>());
    assert!(sink.rows().iter().all(|r| &*r.service == "facade-app"));
    collector.shutdown().await.unwrap();
}
