//! The console over real HTTP: the page and its assets, the API behind an
//! API key or basic auth, and requests too large for any handler.

mod common;

use std::time::Duration;

use aires_console::client::Client;
use aires_console::server::{self, Auth};
use aires_console::store::Store;
use common::{Stack, EVENTS};

async fn serve(stack: &Stack, auth: Auth) -> String {
    let listener = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = server::app(
        Store::new(&stack.store_config()),
        auth,
        server::Hosts::for_listener(addr),
    );
    tokio::spawn(server::serve(listener, app, std::future::pending()));
    format!("http://{addr}")
}

fn remote(base: &str, key: Option<&str>) -> Client {
    Client::Remote {
        http: reqwest::Client::new(),
        base: base.to_owned(),
        api_key: key.map(str::to_owned),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_its_assets_are_served_small_and_with_their_types() {
    let stack = Stack::start().await;
    let base = serve(&stack, Auth::Open).await;
    let http = reqwest::Client::new();
    let page = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert!(page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'self'"));
    let html = page.text().await.unwrap();
    let mut total = html.len();
    for (asset, kind) in [
        ("app.js", "text/javascript"),
        ("charts.js", "text/javascript"),
        ("style.css", "text/css"),
        ("uPlot.iife.min.js", "text/javascript"),
        ("uPlot.min.css", "text/css"),
    ] {
        assert!(
            html.contains(asset) || asset == "charts.js",
            "{asset} linked"
        );
        let response = http
            .get(format!("{base}/assets/{asset}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(kind));
        total += response.bytes().await.unwrap().len();
    }
    assert_eq!(total, aires_console::first_load_bytes());
    assert!(total < 200 * 1024, "first load {total} bytes");
    let missing = http
        .get(format!("{base}/assets/../Cargo.toml"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_loopback_only_requests_for_localhost_are_answered() {
    let stack = Stack::start().await;
    let base = serve(&stack, Auth::Open).await;
    let port = base.rsplit(':').next().unwrap();
    // What a page whose name was rebound to 127.0.0.1 would send.
    let status = raw_status(
        &base,
        &format!("GET /api/search HTTP/1.1\r\nHost: attacker.example:{port}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(status, 421);
    let status = raw_status(
        &base,
        &format!("GET /api/search HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_key_guards_the_api_and_not_the_page() {
    let stack = Stack::start().await;
    let base = serve(&stack, Auth::ApiKeys(vec!["k1".into(), "k2".into()])).await;
    let none = remote(&base, None)
        .get("/api/search", &[])
        .await
        .unwrap_err();
    assert_eq!(none.status(), Some(401));
    let wrong = remote(&base, Some("k3"))
        .get("/api/search", &[])
        .await
        .unwrap_err();
    assert_eq!(wrong.status(), Some(403));
    let page = remote(&base, Some("k2"))
        .get("/api/search", &[("limit", "500".into())])
        .await
        .unwrap();
    assert_eq!(page["events"].as_array().unwrap().len(), EVENTS);
    let html = reqwest::get(format!("{base}/")).await.unwrap();
    assert_eq!(html.status(), 200, "the page holds no data");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_guards_everything() {
    let stack = Stack::start().await;
    let base = serve(
        &stack,
        Auth::Basic {
            user: "ops".into(),
            password: "s3cret".into(),
        },
    )
    .await;
    let http = reqwest::Client::new();
    for path in ["/", "/assets/app.js", "/api/search"] {
        let response = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 401, "{path}");
        assert!(response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic"));
    }
    let wrong = http
        .get(format!("{base}/api/search"))
        .basic_auth("ops", Some("guess"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let right = http
        .get(format!("{base}/api/search"))
        .basic_auth("ops", Some("s3cret"))
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_or_hostile_requests_get_a_4xx_and_the_server_keeps_serving() {
    let stack = Stack::start().await;
    let base = serve(&stack, Auth::Open).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let long = "x".repeat(100 * 1024);
    // A 100 KB URI, as a browser would send it (HTTP clients here refuse
    // to build one).
    let status = raw_status(
        &base,
        &format!("GET /api/search?q={long} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(
        (400..500).contains(&status),
        "a 100 KB query string: {status}"
    );
    let response = http
        .post(format!("{base}/api/search"))
        .header("content-type", "application/json")
        .body(format!("{{\"q\": \"{long}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("at most 4096"));
    let response = http
        .post(format!("{base}/api/search"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // Still serving, and the table is whole.
    let page = remote(&base, None)
        .get("/api/search", &[("limit", "500".into())])
        .await
        .unwrap();
    assert_eq!(page["events"].as_array().unwrap().len(), EVENTS);
}

/// Sends `request` as is; the answer's status code.
async fn raw_status(base: &str, request: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}
